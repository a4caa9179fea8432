"""``hwkeras predict``: run one signature of a SavedModel on files, as a serving client would.

Only ``tf.saved_model.load`` is used: neither the model's classes nor Keras are needed.
"""

import os

import click
import numpy as np

from hwkeras.cli.common import InputError, start_tensorflow

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_images(path, height, width, channels):
    """A .npy array or a folder of image files -> float32 (n, H, W, C) in [0, 1]."""
    if os.path.isdir(path):
        from PIL import Image

        names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_SUFFIXES))
        if not names:
            raise InputError(f"{path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        arrays = []
        for name in names:
            try:
                with Image.open(os.path.join(path, name)) as img:
                    img = img.convert("L" if channels == 1 else "RGB")
                    if img.size != (width, height):
                        raise InputError(f"{name} is {img.size[0]}x{img.size[1]}, the model expects {width}x{height}")
                    arrays.append(np.asarray(img, np.float32).reshape(height, width, channels) / 255.0)
            except OSError as exc:
                raise InputError(f"{name} is not a readable image ({exc.__class__.__name__})") from None
        return np.stack(arrays)
    return load_npy(path)


def load_npy(path):
    try:
        array = np.load(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is neither a folder of images nor a readable .npy file ({exc.__class__.__name__})") from None
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return array


def write_outputs(outputs, path):
    """FILE.npy: the main output; FILE.npz: every output; DIR: PNGs of the images (and outputs.npz)."""
    main = outputs.get("images", outputs.get("mean", next(iter(outputs.values()))))
    if path.endswith(".npy"):
        np.save(path, main)
    elif path.endswith(".npz"):
        np.savez(path, **outputs)
    else:
        from PIL import Image

        from hwkeras.viz import image_grid

        os.makedirs(path, exist_ok=True)
        np.savez(os.path.join(path, "outputs.npz"), **outputs)
        if "images" in outputs:
            images = outputs["images"]
            if images.ndim == 5:  # traverse: (latents, steps, H, W, C) as one grid
                rows, cols = images.shape[:2]
                Image.fromarray(image_grid(images.reshape((-1,) + images.shape[2:]), rows, cols)).save(
                    os.path.join(path, "traversal.png"))
            else:
                for i, image in enumerate(images):
                    Image.fromarray(image_grid(image[None], 1, 1, pad=0)).save(os.path.join(path, f"{i:05d}.png"))


@click.command("predict")
@click.argument("saved_model", type=click.Path(exists=True, file_okay=False))
@click.option("--signature", default="serving_default", show_default=True,
              help="encode, decode, reconstruct, sample, sample_seeded, traverse or serving_default.")
@click.option("--input", "input_path", type=click.Path(exists=True),
              help="FILE.npy or IMAGE_DIR for images/image/z inputs (uint8 arrays are scaled by 1/255).")
@click.option("--output", "output_path", required=True,
              help="FILE.npy (main output), FILE.npz (all outputs) or DIR (PNG images + outputs.npz).")
@click.option("--num-samples", type=int, default=16, show_default=True, help="For sample/sample_seeded.")
@click.option("--seed", type=int, default=0, show_default=True, help="For sample_seeded.")
@click.option("--nu", type=float, default=0.0, show_default=True,
              help="For CHyVAE's sample_seeded: degrees of freedom, <= 0 for the model's own.")
def predict_command(saved_model, signature, input_path, output_path, num_samples, seed, nu):
    """Run SIGNATURE of SAVED_MODEL on --input and write --output."""
    tf = start_tensorflow()

    try:
        loaded = tf.saved_model.load(saved_model)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{saved_model} is not a loadable SavedModel ({exc.__class__.__name__})") from None
    if signature not in loaded.signatures:
        raise InputError(f"no signature {signature!r}; this SavedModel has: {', '.join(sorted(loaded.signatures))}")
    fn = loaded.signatures[signature]
    specs = fn.structured_input_signature[1]
    feeds = {}
    for name, spec in specs.items():
        if name in ("images", "image", "z"):
            if not input_path:
                raise InputError(f"signature {signature!r} needs --input (a .npy file or a folder of images)")
            if name == "z":
                if os.path.isdir(input_path):
                    raise InputError("decode needs --input FILE.npy of latent codes (n, latent_dim)")
                array = load_npy(input_path)
            else:
                array = read_images(input_path, *spec.shape.as_list()[-3:])
                if name == "image" and array.ndim == 4:
                    array = array[0]  # traverse takes one image: the first
            feeds[name] = tf.constant(np.asarray(array, np.float32))
        elif name == "num_samples":
            feeds[name] = tf.constant(num_samples, tf.int32)
        elif name == "seed":
            feeds[name] = tf.constant(seed, tf.int32)
        elif name == "nu":
            feeds[name] = tf.constant(nu, tf.float32)
        else:
            raise InputError(f"signature {signature!r} has an input {name!r} this command cannot feed")
    try:
        outputs = {k: v.numpy() for k, v in fn(**feeds).items()}
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise InputError(_first_line(exc)) from None
    write_outputs(outputs, output_path)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(outputs.items()))
    click.echo(f"{signature}: {shapes} -> {output_path}")


def _first_line(exc):
    """The informative line of a TensorFlow error (an assertion's message when there is one)."""
    text = getattr(exc, "message", None) or str(exc)
    if "assertion failed: [" in text:
        return text.split("assertion failed: [", 1)[1].split("] [", 1)[0]
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else exc.__class__.__name__
