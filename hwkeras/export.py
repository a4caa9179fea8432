"""SavedModel export for serving with TensorFlow alone (TF Serving, ``tf.saved_model.load``).

Signatures (batch size dynamic; images float32 in [0, 1], shape (None, H, W, C)):
- ``encode`` / ``serving_default``: images -> ``mean`` (None, p) and ``scale_tril`` (None, p, p)
  for CHyVAE (``log_variance`` for the diagonal baselines);
- ``decode``: ``z`` (None, p) -> ``images`` (pixel probabilities);
- ``reconstruct``: images -> ``images`` = decode(encode(images).mean);
- ``sample``: ``num_samples`` (int32 scalar) -> ``images`` and ``z``, new draws on each call.

The directory is written next to its target and renamed into place, so an interrupted export
never leaves a half-written model at the target path.
"""

import os
import shutil
import tempfile

import keras


def _endpoints(model):
    import tensorflow as tf

    h, w, c = model.image_shape
    p = model.latent_dim
    images_spec = tf.TensorSpec((None, h, w, c), tf.float32, name="images")
    z_spec = tf.TensorSpec((None, p), tf.float32, name="z")
    count_spec = tf.TensorSpec((), tf.int32, name="num_samples")
    second = "scale_tril" if getattr(model, "nu", None) is not None else "log_variance"

    def encode(images):
        mean, other = model.encode(images)
        return {"mean": mean, second: other}

    def decode(z):
        return {"images": model.decode(z)}

    def reconstruct(images):
        return {"images": model(images)}

    def sample(num_samples):
        z = model.sample_latents(num_samples) if hasattr(model, "sample_latents") else (
            keras.random.normal((num_samples, p), seed=model.seed_generator)
        )
        return {"images": model.decode(z), "z": z}

    return {
        "serving_default": (encode, [images_spec]),
        "encode": (encode, [images_spec]),
        "decode": (decode, [z_spec]),
        "reconstruct": (reconstruct, [images_spec]),
        "sample": (sample, [count_spec]),
    }


def export_saved_model(model, path, overwrite=False):
    """Writes ``model`` as a SavedModel directory at ``path`` atomically; returns the path."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) or choose another path")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".partial-", dir=parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, (fn, spec) in _endpoints(model).items():
            archive.add_endpoint(name, fn, input_signature=spec)
        archive.write_out(staging, verbose=False)
        _replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _replace_dir(new, target):
    """Moves directory ``new`` to ``target``; an existing target is swapped out, then removed."""
    if os.path.exists(target):
        old = target + ".old-" + os.path.basename(new)
        os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, target)
