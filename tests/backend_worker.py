"""The backend-parity computations, run under one Keras backend; driven by tests/test_backends.py.

    KERAS_BACKEND=jax python tests/backend_worker.py WORKDIR

writes WORKDIR/<backend>.npz. ``KERAS_BACKEND=tensorflow python tests/backend_worker.py WORKDIR --load``
loads the .keras files the other backends saved there and writes WORKDIR/tensorflow_loaded.npz.
The TensorFlow role runs first: it saves every model's initial weights (``<model>.weights.h5``)
and a ``.keras`` file per round-trip model, which the other backends load, so all backends
start from the same weights. Inputs, noise and the
discriminator's permutation are fixed numpy arrays rebuilt identically in every role.
Models trained in the "vae-first" order (BF-VAE) get a second batch for their discriminator step,
with its own fixed noise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import hwkeras  # noqa: E402, F401
from hwkeras.baselines import discriminator as adversary  # noqa: E402
from hwkeras.layers import InverseWishartSampler  # noqa: E402
from hwkeras.layers.inverse_wishart import bartlett_inverse_wishart  # noqa: E402
from hwkeras.models import MODELS, build_model  # noqa: E402
from hwkeras.special import digamma, lgamma  # noqa: E402
from tests import precision_check  # noqa: E402

P, SIDE, BATCH = 3, 16, 8
SHAPE = (SIDE, SIDE, 1)
LEARNING_RATE = 0.01  # SGD for the model's one-step check
ROUND_TRIP = ("chyvae", "factor-vae")
FIT = ("chyvae", "factor-vae", "bf-vae-1", "annealed-vae")  # annealed-vae: its step counter in JAX's state
PROBE = ("bf-vae-2",)  # the "vae-first" step: relevance r (BF-VAE-2) is a VAE weight D's codes use
SAMPLER_PSI = np.array([[6.0, 1.0, 0.0], [1.0, 5.0, -1.0], [0.0, -1.0, 4.0]])
SAMPLER_NU = 10.0
SAMPLER_DRAWS = 4000
# z ~ N(0, Sigma), Sigma ~ IW(Psi, nu): the prior of the parity CHyVAE (p = 3, nu = 10, Psi = 6 I),
# drawn by each backend's sampler (TFP on TensorFlow, the Bartlett decomposition elsewhere), at the
# model's nu and at nu = 5 (Psi rescaled by 1/6, Student t with 3 degrees of freedom).
LATENT_DRAWS = SAMPLER_DRAWS
LATENT_NU = 5.0
SPECIAL_POINTS = np.array([0.3, 1.0, 2.5, 17.0, 250.0], "float32")


def tiny(name, seed=0):
    options = {}
    if name == "chyvae":
        options["nu"] = 10.0
    if name in ("factor-vae",) or name.startswith("bf-vae"):
        options.update(discriminator_units=16, discriminator_layers=2, discriminator_learning_rate=1e-3)
    if name in ("bf-vae-1", "bf-vae-2"):
        options["dataset_size"] = 64
    if name == "annealed-vae":  # C moves within a few steps; a small gamma and c_max keep SGD's step small
        options.update(gamma=10.0, c_max=0.5, iteration_threshold=10)
    return build_model(name, latent_dim=P, image_shape=SHAPE, hidden_units=16, seed=seed, **options)


def inputs():
    """Images, per-model noise and the discriminator's permutation, the same in every role."""
    rng = np.random.RandomState(0)
    # Blurry random blobs in [0, 1]: enough structure for a nonzero gradient everywhere.
    x = rng.uniform(size=(BATCH, SIDE, SIDE, 1)).astype("float32") ** 3
    eps, eps_tilde = (rng.normal(size=(BATCH, P)).astype("float32") for _ in range(2))
    order = np.argsort(rng.uniform(size=(BATCH, P)), axis=0).astype("int32")
    return x, eps, eps_tilde, order


def discriminator_inputs():
    """The second batch and its noise for the discriminator step of the "vae-first" order."""
    rng = np.random.RandomState(1)
    x = rng.uniform(size=(BATCH, SIDE, SIDE, 1)).astype("float32") ** 3
    return x, rng.normal(size=(BATCH, P)).astype("float32")


def fix_noise(model, noise, discriminator_noise=None, record=None):
    """The step's draws replaced by fixed noise; ``record`` (a list) gets the codes D trains on."""
    compute_terms, discriminator_codes = model.compute_terms, getattr(model, "discriminator_codes", None)
    fixed = noise

    def terms(x, training=False, noise=None):
        return compute_terms(x, training=training, noise=fixed)

    model.compute_terms = terms
    if discriminator_codes is not None:
        def codes(x, training=False, noise=None):
            value = discriminator_codes(x, training=training, noise=discriminator_noise)
            if record is not None:
                record.append(ops.convert_to_numpy(value))
            return value

        model.discriminator_codes = codes


def step_images(model, x, x_discriminator):
    """The batch one step consumes: the VAE's, then D's when the model trains in two phases."""
    return np.concatenate([x, x_discriminator]) if getattr(model, "images_per_step", 1) == 2 else x


def noise_for(name, eps, eps_tilde):
    return (eps, eps_tilde) if name == "chyvae" else eps


def fix_permutation(order):
    """Replaces the discriminator's random permutation by ``order``: the backends' RNGs differ."""
    fixed = ops.convert_to_tensor(order)
    adversary.permute_dims = lambda z, seed=None: ops.take_along_axis(z, fixed, axis=0)


def parity(name, backend, workdir, x, noise, out):
    model = tiny(name)
    weights_path = os.path.join(workdir, f"{name}.weights.h5")
    if backend == "tensorflow":
        # A fresh head gives codes near 0, where kl and tc are tiny differences of O(1) numbers and
        # float32 cancellation swamps a 1e-4 comparison; a larger head makes every term O(1).
        kernel = model.head.dense.kernel
        kernel.assign(kernel * 20.0)
        if name == "annealed-vae":  # C(3) = 0.15, not 0: the capacity term is compared too
            model.annealing_step.assign(3)
        model.save_weights(weights_path)
    model.load_weights(weights_path)
    out[f"{name}/initial"] = _stack(model.weights)
    for key, value in model.compute_terms(x, noise=noise).items():
        out[f"{name}/terms/{key}"] = ops.convert_to_numpy(value)
    x_discriminator, discriminator_noise = discriminator_inputs()
    # The step draws no noise of its own: train_step calls compute_terms without noise.
    fix_noise(model, noise, discriminator_noise)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    model.train_on_batch(step_images(model, x, x_discriminator))
    out[f"{name}/after_step"] = _stack(model.weights)


def vae_first_probe(name, workdir, x, noise, out):
    """The codes D trains on in one eager "vae-first" step, next to the codes from the encoder
    after the step of D's images (what they must be), of the same images before the step (what a
    stale step would give) and of the VAE's images (what a one-batch step would give).

    Both phases get the same noise, so only the images and the weights tell the codes apart.
    """
    model = tiny(name)
    model.load_weights(os.path.join(workdir, f"{name}.weights.h5"))
    x_discriminator, _ = discriminator_inputs()
    out[f"probe/{name}/before"] = ops.convert_to_numpy(model.discriminator_codes(x_discriminator, noise=noise))
    recorded = []
    fix_noise(model, noise, noise, record=recorded)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), run_eagerly=True)  # codes readable
    model.train_on_batch(step_images(model, x, x_discriminator))
    (out[f"probe/{name}/codes"],) = recorded
    for key, images in (("after", x_discriminator), ("vae_batch", x)):
        out[f"probe/{name}/{key}"] = ops.convert_to_numpy(model.discriminator_codes(images, noise=noise))


def round_trip(name, backend, workdir, x, out):
    """Loads the other backends' .keras files, then trains one step and saves its own."""
    for source in ("tensorflow", "jax", "torch"):
        path = os.path.join(workdir, f"{source}_{name}.keras")
        if source != backend and os.path.isfile(path):
            _record(keras.saving.load_model(path), x, f"{name}/from_{source}", out)
    if backend == "tensorflow":
        model = tiny(name)
        model.load_weights(os.path.join(workdir, f"{name}.weights.h5"))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    else:
        model = keras.saving.load_model(os.path.join(workdir, f"tensorflow_{name}.keras"))
    model.train_on_batch(x)
    model.save(os.path.join(workdir, f"{backend}_{name}.keras"))
    _record(model, x, f"{name}/own", out)


def _record(model, x, prefix, out):
    for i, value in enumerate(model.encode(x)):
        out[f"{prefix}/encode_{i}"] = ops.convert_to_numpy(value)
    out[f"{prefix}/call"] = ops.convert_to_numpy(model(x))
    out[f"{prefix}/iterations"] = np.asarray(int(model.optimizer.iterations))
    out[f"{prefix}/sample_shape"] = np.asarray(ops.shape(model.sample(2)))


def sampler(backend, out):
    model = tiny("chyvae", seed=7)
    out["latents/psi"] = model.psi
    out["latents/nu"] = np.asarray(model.nu)
    out["latents/z"] = ops.convert_to_numpy(model.sample_latents(LATENT_DRAWS)).astype("float64")
    out["latents/z_nu"] = ops.convert_to_numpy(model.sample_latents(LATENT_DRAWS, nu=LATENT_NU)).astype("float64")
    draws = {"sampler": InverseWishartSampler(SAMPLER_PSI, SAMPLER_NU, seed=5).sample(SAMPLER_DRAWS)}
    if backend == "tensorflow":  # the keras.ops path under TF too, next to TFP's
        draws["bartlett"] = bartlett_inverse_wishart(SAMPLER_DRAWS, SAMPLER_PSI, SAMPLER_NU, seed=6)
    for key, sigma in draws.items():
        sigma = ops.convert_to_numpy(sigma).astype("float64")
        out[f"{key}/sigma"] = sigma


def short_fit(name, out):
    keras.utils.set_random_seed(0)
    model = tiny(name)
    rng = np.random.RandomState(1)
    x = (rng.uniform(size=(32, SIDE, SIDE, 1)) > 0.7).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    adversarial = getattr(model, "discriminator", None) is not None
    d_before = _stack(model.discriminator.weights) if adversarial else np.zeros(1)
    seed_before = np.asarray(model.seed_generator.state).copy()
    out[f"fit/{name}/before"] = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)["loss"]
    model.fit(x, batch_size=16, epochs=6, verbose=0)
    out[f"fit/{name}/after"] = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)["loss"]
    out[f"fit/{name}/iterations"] = int(model.optimizer.iterations)
    out[f"fit/{name}/seed_moved"] = bool(np.any(np.asarray(model.seed_generator.state) != seed_before))
    if hasattr(model, "annealing_step"):  # one count per training step, kept through JAX's state sync
        out[f"fit/{name}/annealing_step"] = int(ops.convert_to_numpy(model.annealing_step))
    if adversarial:
        out[f"fit/{name}/d_iterations"] = int(model.discriminator_optimizer.iterations)
        out[f"fit/{name}/d_change"] = float(np.abs(_stack(model.discriminator.weights) - d_before).max())


def _stack(variables):
    return np.concatenate([ops.convert_to_numpy(v).astype("float64").ravel() for v in variables])


def load_under_tensorflow(workdir):
    """The .keras files the other backends saved, loaded here (TensorFlow) and recorded, and the
    SavedModel of WORKDIR/export (written by ``hwkeras export`` under another backend) run on x."""
    x = inputs()[0]
    out = {}
    for name in ROUND_TRIP:
        for source in ("jax", "torch"):
            path = os.path.join(workdir, f"{source}_{name}.keras")
            if os.path.isfile(path):
                _record(keras.saving.load_model(path), x, f"{name}/from_{source}", out)
    export = os.path.join(workdir, "export")
    if os.path.isdir(export):
        import tensorflow as tf

        served = tf.saved_model.load(export).signatures
        for key, value in served["encode"](images=tf.constant(x)).items():
            out[f"export/encode/{key}"] = value.numpy()
        out["export/reconstruct"] = served["reconstruct"](images=tf.constant(x))["images"].numpy()
    np.savez(os.path.join(workdir, "tensorflow_loaded.npz"), **out)
    return out


def run(workdir):
    backend = keras.backend.backend()
    x, eps, eps_tilde, order = inputs()
    out = {}
    saved_permute = adversary.permute_dims
    fix_permutation(order)
    try:
        for name in MODELS:
            parity(name, backend, workdir, x, noise_for(name, eps, eps_tilde), out)
        for name in PROBE:
            vae_first_probe(name, workdir, x, eps, out)
    finally:
        adversary.permute_dims = saved_permute
    for name in ROUND_TRIP:
        round_trip(name, backend, workdir, x, out)
    sampler(backend, out)
    out["special/lgamma"] = ops.convert_to_numpy(lgamma(SPECIAL_POINTS))
    out["special/digamma"] = ops.convert_to_numpy(digamma(SPECIAL_POINTS))
    if backend != "tensorflow":  # TF's fits are covered by test_model.py and test_baselines.py
        for name in FIT:
            short_fit(name, out)
        out.update(precision_check.run(workdir))  # TF's: tests/test_precision.py
    np.savez(os.path.join(workdir, f"{backend}.npz"), **out)
    return out


if __name__ == "__main__":
    if sys.argv[2:] == ["--load"]:
        load_under_tensorflow(sys.argv[1])
    else:
        run(sys.argv[1])
