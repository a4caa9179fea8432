"""SavedModel export for serving with TensorFlow alone (TF Serving, ``tf.saved_model.load``).

Images are float32 in [0, 1] with shape (batch, H, W, C); the batch size is dynamic.

Signatures (name: inputs -> outputs):

* ``serving_default``, ``encode``: ``images`` -> ``mean`` (batch, p) and ``scale_tril``
  (batch, p, p) for CHyVAE, ``log_variance`` (batch, p) for the diagonal baselines;
* ``decode``: ``z`` (batch, p) -> ``images``: pixel probabilities;
* ``reconstruct``: ``images`` -> ``images`` = decode(encode(images).mean);
* ``sample``: ``num_samples`` (int32 scalar) -> ``images``, ``z``: new draws on each call;
* ``sample_seeded``: ``num_samples``, ``seed`` (int32 scalars), and for CHyVAE ``nu`` (float32
  scalar, <= 0 for the model's) -> ``images``, ``z``: the same seed gives the same draws;
* ``traverse``: ``image`` (H, W, C) -> ``images`` (p, steps, H, W, C): latent d swept over
  ``values`` (-3..3) in row d; ``values``.

Inputs of the wrong size, channel count or range, or with NaN or inf pixels, fail with an
InvalidArgumentError that says what was expected; a wrong dtype fails TensorFlow's own signature
check. The directory gets ordinary permissions (0755 and 0644 under the usual umask 022).

The directory (with ``model.json``, the model card) is written next to its target and renamed into
place, so an interrupted export never leaves a half-written model at the target path.
"""

import json
import os
import shutil
import sys
import tempfile

import keras

from hwkeras import priors
from hwkeras.files import EXPORT_CARD
from hwkeras.resources import default_dir_mode
from hwkeras.viz import TRAVERSAL_RANGE, TRAVERSAL_STEPS, traversal_latents


def _checked_images(images, image_shape):
    """Asserts (inside the graph) that a batch has the model's size, channels and value range."""
    import tensorflow as tf

    h, w, c = image_shape
    expected = f"float32 images of shape (batch, {h}, {w}, {c}) with values in [0, 1]"
    # NaN fails every comparison, so the finite check runs first: NaN pixels are not "below 0".
    finite = tf.debugging.assert_equal(tf.reduce_all(tf.math.is_finite(images)), True,
                                       message=f"pixel values are NaN or inf: expected {expected}")
    with tf.control_dependencies([finite]):
        checks = [
            tf.debugging.assert_equal(tf.shape(images)[1:3], tf.constant([h, w]),
                                      message=f"wrong image size: expected {expected}"),
            tf.debugging.assert_equal(tf.shape(images)[3], tf.constant(c),
                                      message=f"wrong channel count: expected {expected}"),
            tf.debugging.assert_greater_equal(tf.reduce_min(images), 0.0,
                                              message=f"pixel values below 0: expected {expected} "
                                                      "(divide uint8 pixels by 255)"),
            tf.debugging.assert_less_equal(tf.reduce_max(images), 1.0,
                                           message=f"pixel values above 1: expected {expected} "
                                                   "(divide uint8 pixels by 255)"),
        ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def _endpoints(model):
    import tensorflow as tf

    h, w, c = model.image_shape
    p = model.latent_dim
    hyperprior = getattr(model, "nu", None) is not None
    images_spec = tf.TensorSpec((None, h, w, c), tf.float32, name="images")
    image_spec = tf.TensorSpec((h, w, c), tf.float32, name="image")
    z_spec = tf.TensorSpec((None, p), tf.float32, name="z")
    count_spec = tf.TensorSpec((), tf.int32, name="num_samples")
    seed_spec = tf.TensorSpec((), tf.int32, name="seed")
    nu_spec = tf.TensorSpec((), tf.float32, name="nu")
    second = "scale_tril" if hyperprior else "log_variance"

    def encode(images):
        mean, other = model.encode(_checked_images(images, model.image_shape))
        return {"mean": mean, second: other}

    def decode(z):
        return {"images": model.decode(z)}

    def reconstruct(images):
        return {"images": model(_checked_images(images, model.image_shape))}

    def sample(num_samples):
        z = model.sample_latents(num_samples)
        return {"images": model.decode(z), "z": z}

    def seeded_latents(num_samples, seed, **prior_options):
        tf.debugging.assert_non_negative(num_samples, message="num_samples must be >= 0")
        noise_seed, prior_seed = tf.unstack(tf.random.experimental.stateless_split(tf.stack([seed, 0]), 2))
        eps = tf.random.stateless_normal((num_samples, p), seed=noise_seed)
        return model.sample_latents(num_samples, noise=eps, seed=prior_seed, **prior_options)

    def sample_seeded_hyperprior(num_samples, seed, nu):
        tf.debugging.assert_greater(
            tf.where(nu > 0, nu, float(p)), float(p - 1),
            message=f"{priors.nu_rule(p)} (or be <= 0 for the model's nu)",
        )
        z = seeded_latents(num_samples, seed, nu=tf.where(nu > 0, nu, model.nu))
        return {"images": model.decode(z), "z": z}

    def sample_seeded(num_samples, seed):
        z = seeded_latents(num_samples, seed)
        return {"images": model.decode(z), "z": z}

    def traverse(image):
        mean = model.encode(_checked_images(image[None], model.image_shape))[0][0]
        values = tf.linspace(*TRAVERSAL_RANGE, TRAVERSAL_STEPS)
        z = tf.reshape(traversal_latents(mean, values), (p * TRAVERSAL_STEPS, p))
        images = tf.reshape(model.decode(z), (p, TRAVERSAL_STEPS, h, w, c))
        return {"images": images, "values": values}

    endpoints = {
        "serving_default": (encode, [images_spec]),
        "encode": (encode, [images_spec]),
        "decode": (decode, [z_spec]),
        "reconstruct": (reconstruct, [images_spec]),
        "sample": (sample, [count_spec]),
        "traverse": (traverse, [image_spec]),
    }
    if hyperprior:
        endpoints["sample_seeded"] = (sample_seeded_hyperprior, [count_spec, seed_spec, nu_spec])
    else:
        endpoints["sample_seeded"] = (sample_seeded, [count_spec, seed_spec])
    return endpoints


def model_card(model, **extra):
    """What a client needs to know about an export, written as ``model.json`` beside it."""
    from importlib.metadata import version

    card = {
        "model": type(model).__name__,
        "latent_dim": model.latent_dim,
        "image_shape": list(model.image_shape),
        "input": "float32 images in [0, 1], shape (batch, height, width, channels)",
        "signatures": sorted(_signature_names(model)),
        # Each signature's inputs, {name: [shape, None for the batch]}: a client (hwkeras predict)
        # checks its request against them without loading TensorFlow.
        "signature_inputs": {name: {spec.name: spec.shape.as_list() for spec in specs}
                             for name, (fn, specs) in _endpoints(model).items()},
        "config": model.get_config(),
        "versions": {name: version(name) for name in ("hwkeras", "keras", "tensorflow")},
    }
    if getattr(model, "nu", None) is not None:
        card.update(nu=model.nu, psi=model.psi.tolist())
    card.update({k: v for k, v in extra.items() if v is not None})
    return card


def _signature_names(model):
    return ["serving_default", "encode", "decode", "reconstruct", "sample", "sample_seeded", "traverse"]


def export_saved_model(model, path, overwrite=False, card=None):
    """Writes ``model`` as a SavedModel directory at ``path`` atomically; returns the path.

    ``card``: extra entries for ``model.json`` (dataset, training steps, metrics, ...).
    """
    def write(staging):
        archive = keras.export.ExportArchive()
        archive.track(model)
        for name, (fn, spec) in _endpoints(model).items():
            archive.add_endpoint(name, fn, input_signature=spec)
        archive.write_out(staging, verbose=False)
        with open(os.path.join(staging, EXPORT_CARD), "w") as f:
            json.dump(model_card(model, **(card or {})), f, indent=2)

    return write_directory_atomically(path, write, overwrite=overwrite)


def write_directory_atomically(path, write, overwrite=False):
    """Calls ``write(staging)`` on a new directory next to ``path``, then renames it to ``path``; returns
    the absolute path. A failed or killed export leaves nothing at ``path`` (SavedModel and ONNX alike)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) or choose another path")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".partial-", dir=parent)
    try:
        # mkdtemp makes a private (0700) directory; a server running as another user must read the export.
        os.chmod(staging, default_dir_mode())
        write(staging)
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


def export_in_tensorflow(target, output, overwrite=False, export_format="savedmodel"):
    """``hwkeras export TARGET --output OUTPUT [--format onnx]`` in a TensorFlow process; returns what it printed.

    SavedModels come from the TensorFlow backend (a JAX export writes, but its linear algebra fails
    when served), so a JAX or PyTorch process hands its .keras file to one; ONNX graphs too (tf2onnx).
    """
    import subprocess

    from hwkeras.errors import Failed, UserError
    from hwkeras.frameworks import require_tensorflow

    require_tensorflow("A SavedModel")
    command = [sys.executable, "-m", "hwkeras.cli.main", "export", target, "--output", output,
               "--format", export_format]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(command + (["--overwrite"] if overwrite else []), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1].removeprefix("Error: ")
        # Bad input keeps its exit code 2 (UserError); anything else is a failed export.
        raise (UserError if done.returncode == 2 else Failed)(last)
    return done.stdout.rstrip()  # the export's own line: the caller says it, once
