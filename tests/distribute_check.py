"""One training step on two devices against the same step on one device, on the same global batch.

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax python tests/distribute_check.py OUT.npz
    KERAS_BACKEND=tensorflow python tests/distribute_check.py OUT.npz    # two logical CPUs

Driven by tests/test_distribute.py (a process can split its CPU into devices only before it
first uses them, hence a subprocess). Writes, per model, the weights before and after one SGD
step (the discriminator's too) of ``model.fit`` on one device and on two, and the
step's logged loss terms.

The step's randomness is made deterministic *per example*, so that cutting the batch in two
cannot change it: ``Deterministic`` models draw their reparameterisation noise as a fixed
function of each image (instead of from the seed stream: on TensorFlow each replica would draw
from the same seed, so a replica's share would not get the noise the single device gives those
examples), and FactorVAE's permutation of the codes across the batch is replaced by a per-example
reordering of each code's dimensions (on TensorFlow it would permute within each replica's
share). JAX's data-parallel step is one program over the global batch, so there the real random
step is compared too (``random/chyvae``). BF-VAE-1 covers the "vae-first" order (two optimizers,
the second step on codes from the updated encoder); on TensorFlow its one-device reference gets
the batch reordered as the replicas split it (``as_two_replicas_see_it``).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
from keras import ops  # noqa: E402

from hwkeras.baselines import discriminator as adversary  # noqa: E402
from hwkeras.baselines.bayes_factor_vae import BFVAE1  # noqa: E402
from hwkeras.baselines.factor_vae import FactorVAE  # noqa: E402
from hwkeras.model import HyperpriorVAE  # noqa: E402
from hwkeras.training import distribute  # noqa: E402

P, SIDE, BATCH = 3, 16, 8  # bf-vae-1 ("vae-first") takes 4 images for the VAE, 4 for D
LEARNING_RATE = 0.01


class DeterministicNoise:
    """Noise (B, k) = tanh(x W) for a fixed W: the same for an image wherever it sits in a batch."""

    def fixed_noise(self, x, k):
        w = np.random.RandomState(7).normal(size=(SIDE * SIDE, k)).astype("float32") / 4.0
        return ops.tanh(ops.matmul(ops.reshape(ops.convert_to_tensor(x), (-1, SIDE * SIDE)), w)) * 2.0


class DeterministicCHyVAE(DeterministicNoise, HyperpriorVAE):
    def compute_terms(self, x, training=False, noise=None):
        both = self.fixed_noise(x, 2 * P)
        return super().compute_terms(x, training=training, noise=(both[:, :P], both[:, P:]))


class DeterministicFactorVAE(DeterministicNoise, FactorVAE):
    def compute_terms(self, x, training=False, noise=None):
        return super().compute_terms(x, training=training, noise=self.fixed_noise(x, P))


class DeterministicBFVAE1(DeterministicNoise, BFVAE1):
    """Trained in the "vae-first" order: the VAE step on the first half of the batch, then D's."""

    def compute_terms(self, x, training=False, noise=None):
        return super().compute_terms(x, training=training, noise=self.fixed_noise(x, P))

    def discriminator_codes(self, x, training=False, noise=None):
        return super().discriminator_codes(x, training=training, noise=self.fixed_noise(x, P))


def per_example_permutation(z, seed=None):
    return ops.flip(z, axis=1)


MODELS = {
    "chyvae": lambda: DeterministicCHyVAE(latent_dim=P, nu=10.0, image_shape=(SIDE, SIDE, 1), hidden_units=16, seed=0),
    "factor-vae": lambda: DeterministicFactorVAE(latent_dim=P, image_shape=(SIDE, SIDE, 1), hidden_units=16, seed=0,
                                                 discriminator_units=16, discriminator_layers=2,
                                                 discriminator_learning_rate=1e-3),
    "bf-vae-1": lambda: DeterministicBFVAE1(latent_dim=P, image_shape=(SIDE, SIDE, 1), hidden_units=16, seed=0,
                                            discriminator_units=16, discriminator_layers=2,
                                            discriminator_learning_rate=1e-3, dataset_size=64),
}
if BACKEND == "jax":
    MODELS["random/chyvae"] = lambda: HyperpriorVAE(latent_dim=P, nu=10.0, image_shape=(SIDE, SIDE, 1),
                                                    hidden_units=16, seed=0)


def images():
    return np.random.RandomState(0).uniform(size=(BATCH, SIDE, SIDE, 1)).astype("float32") ** 3


def as_two_replicas_see_it(x):
    """The "vae-first" order under MirroredStrategy splits each replica's share in two: on
    [a b c d | e f g h] the VAE steps on {a b, e f} and D on {c d, g h}. One device on
    [a b e f c d g h] takes exactly those halves, so that is its reference batch."""
    quarters = np.split(x, 4)
    return np.concatenate([quarters[0], quarters[2], quarters[1], quarters[3]])


def _stack(variables):
    return np.concatenate([ops.convert_to_numpy(v).astype("float64").ravel() for v in variables])


def weights(model):
    """(the weights model.optimizer trains, the discriminator's or an empty array)."""
    adversary_weights = getattr(model, "discriminator", None)
    adversary_weights = adversary_weights.trainable_weights if adversary_weights is not None else []
    ids = {id(v) for v in adversary_weights}
    own = [v for v in model.trainable_weights if id(v) not in ids]
    return _stack(own), (_stack(adversary_weights) if adversary_weights else np.zeros(0))


def one_step(name, initial_path, out, tag, x):
    model = MODELS[name]()
    if os.path.isfile(initial_path):
        model.load_weights(initial_path)
    else:
        kernel = model.head.dense.kernel  # every term O(1), as in tests/backend_worker.py
        kernel.assign(kernel * 20.0)
        model.save_weights(initial_path)
    if getattr(model, "discriminator", None) is not None:
        # SGD for D too: Adam's first step, lr * g / (|g| + 1e-8), turns float32 rounding of a
        # near-zero gradient into a visible change, which says nothing about distribution.
        model.discriminator_optimizer = keras.optimizers.SGD(LEARNING_RATE, name="discriminator_optimizer")
        model.discriminator_optimizer.build(model.discriminator.trainable_variables)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    out[f"{name}/{tag}/before"], out[f"{name}/{tag}/discriminator_before"] = weights(model)
    history = model.fit(x, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    out[f"{name}/{tag}/after"], out[f"{name}/{tag}/discriminator_after"] = weights(model)
    for key, values in history.history.items():
        out[f"{name}/{tag}/log/{key}"] = np.asarray(values[-1])
    out[f"{name}/{tag}/replicas"] = np.asarray(distribute.replicas())


def main(path):
    out = {}
    # The layers' initializers draw from Keras's global seed (as in ``hwkeras fit --seed``): fixed,
    # so that every run of the check starts from the same weights and a failure reproduces.
    keras.utils.set_random_seed(0)
    workdir = os.path.dirname(os.path.abspath(path))
    adversary.permute_dims = per_example_permutation
    for name in MODELS:  # one device first: no distribution is set yet
        x = as_two_replicas_see_it(images()) if BACKEND == "tensorflow" and name == "bf-vae-1" else images()
        one_step(name, os.path.join(workdir, f"{name.replace('/', '_')}.weights.h5"), out, "one", x)
    if BACKEND == "jax":
        import jax

        assert len(jax.devices()) == 2, jax.devices()
        distribute.start("data-parallel", batch_size=BATCH)
        for name in MODELS:
            one_step(name, os.path.join(workdir, f"{name.replace('/', '_')}.weights.h5"), out, "two", images())
    else:
        # One strategy for the process, as in ``hwkeras fit``: two MirroredStrategy objects in one
        # process would number their collective ops alike and clash.
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        with distribute.start("mirrored", batch_size=BATCH, devices=devices):
            for name in MODELS:
                one_step(name, os.path.join(workdir, f"{name}.weights.h5"), out, "two", images())
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
