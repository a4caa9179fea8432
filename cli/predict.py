"""``hwkeras predict``: run one signature of a SavedModel on files, as a serving client would.

Only ``tf.saved_model.load`` is used: neither the model's classes nor Keras are needed.
"""

import json
import math
import os
import re

import click
import numpy as np

from hwkeras.cli.common import Command, InputError, check_creatable_dir, check_output_file, examples, start_tensorflow
from hwkeras.files import EXPORT_CARD

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
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path} is neither a folder of images nor a readable .npy file "
                         f"({exc.__class__.__name__})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path} is an .npz archive; --input takes one .npy array")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{path} holds {array.dtype} values; --input takes a numeric array")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    return array


#: What predict writes into an output folder: with --overwrite these (and only these) are replaced.
OUTPUT_FILES = re.compile(r"^(outputs\.npz|traversal\.png|\d{5}\.png)$")
#: Inputs fed from options, and the option that feeds each.
OPTION_INPUTS = {"num_samples": "--num-samples", "seed": "--seed", "nu": "--nu"}
IMAGE_INPUTS = ("images", "image", "z")


def is_file_output(path):
    return path.endswith((".npy", ".npz"))


def check_output(path, overwrite):
    """Before any work: FILE.npy/.npz or a folder that is new, empty, or (--overwrite) holds predict's outputs."""
    if is_file_output(path):
        check_output_file(path, "--output")
        if os.path.exists(path) and not overwrite:
            raise InputError(f"--output {path} already exists; pass --overwrite or choose another file")
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"--output {path}: exists and is a file; end it in .npy or .npz, or name a folder")
    suffix = os.path.splitext(os.path.basename(os.path.normpath(path)))[1]
    if suffix and not os.path.exists(path):  # x.txt was made a folder of that name
        raise InputError(f"--output {path}: predict writes FILE.npy, FILE.npz or a folder, not a {suffix} file; "
                         f"end it in .npy or .npz, or name a folder without a suffix")
    check_creatable_dir(path, "--output")
    if os.path.isdir(path) and os.listdir(path):
        if not overwrite:
            raise InputError(f"--output {path} is not empty; pass --overwrite (to replace predict's earlier "
                             f"outputs there) or choose a new folder")
        others = sorted(n for n in os.listdir(path) if not OUTPUT_FILES.match(n))
        if others:
            raise InputError(f"--output {path} holds files predict did not write ({', '.join(others[:3])}); "
                             f"choose an empty or new folder")


def check_applicable(signature, specs, given):
    """Options that feed no input of this signature are refused, as fit refuses another model's options."""
    inputs = ", ".join(sorted(specs)) or "none"
    for name, option in OPTION_INPUTS.items():
        if option in given and name not in specs:
            raise InputError(f"{option} does not apply to signature {signature!r} (its inputs: {inputs})")
    if "--input" in given and not any(name in specs for name in IMAGE_INPUTS):
        raise InputError(f"--input does not apply to signature {signature!r} (its inputs: {inputs})")


def check_array(array, name, expected, signature):
    """The host-side checks of an input array: rank, shape (``expected``, None for any size), finite
    values, pixel range."""
    shown = "(" + ", ".join("n" if d is None else str(d) for d in expected) + ")"
    if array.ndim != len(expected) or any(d is not None and d != a for d, a in zip(expected, array.shape)):
        what = "latent codes" if name == "z" else "images" if name == "images" else "an image"
        if name != "z" and array.ndim == len(expected) and array.shape[-1] == expected[-1]:
            problem = "wrong image size"
        elif name != "z" and array.ndim == len(expected):
            problem = "wrong channel count"
        else:
            problem = "wrong shape"
        raise InputError(f"{problem}: --input holds an array of shape {tuple(array.shape)}; signature "
                         f"{signature!r} takes {what} of shape {shown}")
    if not np.all(np.isfinite(array)):
        what = "latent codes" if name == "z" else "pixel values"
        raise InputError(f"--input holds NaN or inf {what}; signature {signature!r} needs finite numbers")
    if name != "z" and array.size and (array.min() < 0.0 or array.max() > 1.0):
        side = "below 0" if array.min() < 0.0 else "above 1"
        raise InputError(f"pixel values {side}: signature {signature!r} takes values in [0, 1] "
                         f"(divide uint8 pixels by 255)")


def read_input(input_path, name, shape, signature):
    """--input as the float32 array input ``name`` of ``signature`` takes (``shape``), checked."""
    if name == "z":
        if os.path.isdir(input_path):
            raise InputError("decode needs --input FILE.npy of latent codes (n, latent_dim)")
        array = load_npy(input_path)
    else:
        array = read_images(input_path, *shape[-3:])
        if name == "image" and array.ndim == 4:
            array = array[0]  # traverse takes one image: the first
    array = np.asarray(array, np.float32)
    check_array(array, name, shape, signature)
    return array


def check_with_card(saved_model, signature, input_path, given):
    """What the export's card (model.json) settles before TensorFlow loads, in a fraction of a second:
    the signature exists, the options apply to it, --input has the shape it takes. An export without
    the card's ``signature_inputs`` (older hwkeras) is checked the same way after loading. Returns
    the input arrays it read and checked, by input name (none without the card)."""
    try:
        with open(os.path.join(saved_model, EXPORT_CARD)) as f:
            card = json.load(f)
        inputs = card["signature_inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if signature not in inputs:
        raise InputError(f"no signature {signature!r}; this SavedModel has: {', '.join(sorted(inputs))}")
    check_applicable(signature, inputs[signature], given)
    return {name: read_input(input_path, name, shape, signature)
            for name, shape in inputs[signature].items() if name in IMAGE_INPUTS and input_path}


def check_sample_memory(fn, num_samples):
    """``--num-samples`` whose outputs cannot fit in memory is refused before the signature runs."""
    from hwkeras.resources import FLOAT, check_fits

    per_sample = 0
    for spec in fn.structured_outputs.values():
        dims = spec.shape.as_list()[1:]
        if all(d is not None for d in dims):
            per_sample += int(np.prod(dims))
    # The outputs once in TensorFlow and once as numpy arrays.
    try:
        check_fits({"--num-samples": 2 * FLOAT * per_sample * num_samples}, "the outputs",
                   values={"--num-samples": num_samples})
    except ValueError as exc:
        raise InputError(str(exc)) from None


def clear_earlier_outputs(path):
    if os.path.isdir(path):
        for name in os.listdir(path):
            if OUTPUT_FILES.match(name):
                os.remove(os.path.join(path, name))


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


@click.command("predict", cls=Command, epilog=examples(
    'hwkeras predict saved_models/RUN --signature encode --input images.npy --output codes.npz',
    'hwkeras predict saved_models/RUN --signature sample --num-samples 16 --output samples/',
    'hwkeras predict saved_models/RUN --signature traverse --input faces/ --output traversal/',
))
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
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --output file, or predict's earlier outputs in the --output folder.")
def predict_command(saved_model, signature, input_path, output_path, num_samples, seed, nu, overwrite):
    """Run SIGNATURE of SAVED_MODEL on --input and write --output."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    given = {"--" + name.replace("_path", "").replace("_", "-") for name in ctx.params
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    check_output(output_path, overwrite)
    if num_samples < 1:  # 0 wrote an empty array
        raise InputError(f"--num-samples must be a positive integer, got {num_samples}")
    if not math.isfinite(nu):
        raise InputError(f"--nu must be a finite number (<= 0 for the model's own nu), got {nu}")
    from hwkeras.files import is_saved_model
    from hwkeras.outputs import what_is_at

    if not is_saved_model(saved_model):  # said before TensorFlow loads
        raise InputError(f"{saved_model} is {what_is_at(saved_model)}, not a SavedModel: write one with "
                         f"hwkeras export RUN_DIR --output DIR, then predict DIR")
    arrays = check_with_card(saved_model, signature, input_path, given)  # --input is read once, here or below
    tf = start_tensorflow()

    try:
        loaded = tf.saved_model.load(saved_model)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{saved_model} is not a loadable SavedModel ({exc.__class__.__name__})") from None
    if signature not in loaded.signatures:
        raise InputError(f"no signature {signature!r}; this SavedModel has: {', '.join(sorted(loaded.signatures))}")
    fn = loaded.signatures[signature]
    specs = fn.structured_input_signature[1]
    check_applicable(signature, specs, given)
    feeds = {}
    for name, spec in specs.items():
        if name in IMAGE_INPUTS:
            if not input_path:
                raise InputError(f"signature {signature!r} needs --input (a .npy file or a folder of images)")
            array = arrays[name] if name in arrays else read_input(input_path, name, spec.shape.as_list(), signature)
            feeds[name] = tf.constant(array)
        elif name == "num_samples":
            check_sample_memory(fn, num_samples)
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
    if overwrite:
        clear_earlier_outputs(output_path)
    write_outputs(outputs, output_path)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in sorted(outputs.items()))
    click.echo(f"{signature}: {shapes} -> {output_path}")


def _first_line(exc):
    """The informative line of a TensorFlow error (an assertion's message when there is one)."""
    text = getattr(exc, "message", None) or str(exc)
    if "assertion failed: [" in text:
        return text.split("assertion failed: [", 1)[1].split("] [", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else exc.__class__.__name__
