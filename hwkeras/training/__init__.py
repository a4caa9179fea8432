"""Per-backend gradient mechanics of ``train_step``; the losses themselves live in keras.ops.

Each backend module exposes ``train_step(model, data) -> dict of metric results``; the model
supplies ``model.compute_terms(x, training=True)`` (per-example loss terms) and
``model.update_trackers(terms)``. JAX is the exception: Keras's JAX trainer is stateless and
calls ``train_step(state, data)`` / ``test_step(state, data)``, expecting ``(logs, new_state)``,
so ``hwkeras.training.jax`` takes and returns the state (see there).

Adversarial models (FactorVAE, BF-VAE) also have a ``discriminator`` (a Keras layer) and a
``discriminator_optimizer``, and their terms include a per-example ``discriminator_loss``.
Two updates follow: the mean ``loss`` over every trainable weight except the discriminator's
(model.optimizer), and the mean ``discriminator_loss`` over the discriminator's weights only
(model.discriminator_optimizer). ``model.update_order`` says in which order:

- ``"simultaneous"`` (disentanglement_lib): one forward pass on the batch gives both gradients,
  both taken at the weights before the step.
- ``"vae-first"`` (the BF-VAE authors' code): the batch is split in two halves (``split_batch``).
  The VAE step runs on the first half; then the second half is encoded by the *updated* encoder
  (``model.discriminator_codes``) and D takes its step on those codes. The tracked
  ``discriminator_loss`` and ``discriminator_accuracy`` are then the second phase's.
"""

import keras
from keras import ops

from hwkeras.hyperparameters import SIMULTANEOUS, UPDATE_ORDERS, VAE_FIRST, images_per_step  # noqa: F401

#: The terms of the discriminator step that replace the VAE pass's in the "vae-first" order.
DISCRIMINATOR_TERMS = ("discriminator_loss", "discriminator_accuracy")


def has_discriminator(model):
    return getattr(model, "discriminator", None) is not None


def vae_first(model):
    return has_discriminator(model) and getattr(model, "update_order", SIMULTANEOUS) == VAE_FIRST


def split_batch(model, x):
    """(images of the VAE step, images of the discriminator step, or None when simultaneous).

    The halves of a batch of n images are x[:ceil(n/2)] and x[n - ceil(n/2):]: disjoint for even n
    (``hwkeras fit`` always sends 2 x --batch-size); an odd n (the last, partial batch of
    ``model.fit`` on arrays) shares its middle image, so that even one image trains both players.
    """
    if not vae_first(model):
        return x, None
    n = ops.shape(x)[0]
    half = (n + 1) // 2
    return x[:half], x[n - half:]


def with_discriminator_terms(terms, discriminator_terms):
    """The VAE pass's terms with D's own loss and accuracy from the discriminator step."""
    return {**terms, **{name: discriminator_terms[name] for name in DISCRIMINATOR_TERMS}}


def split_trainable_weights(model):
    """(weights the model's loss trains, weights the discriminator loss trains)."""
    if not has_discriminator(model):
        return list(model.trainable_weights), []
    adversary = model.discriminator.trainable_weights
    ids = {id(w) for w in adversary}
    return [w for w in model.trainable_weights if id(w) not in ids], list(adversary)


def build_optimizers(model):
    """Builds the model's optimizer over *all* trainable weights before the first update.

    An adversarial model never updates the discriminator's weights with it, but keras rebuilds
    the optimizer over all trainable weights when it loads a .keras file, so building it the
    same way keeps the saved slots matching (the discriminator's slots just stay unused).
    """
    if has_discriminator(model) and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _backend_module():
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from hwkeras.training import tensorflow as impl
    elif backend == "jax":
        from hwkeras.training import jax as impl
    elif backend == "torch":
        from hwkeras.training import torch as impl
    else:
        raise NotImplementedError(
            f"hwkeras trains on the tensorflow, jax and torch backends, not KERAS_BACKEND={backend!r}"
        )
    return impl


def train_step(model, *args):
    """``(data)`` on TensorFlow and torch, ``(state, data)`` on JAX; see the module docstring."""
    return _backend_module().train_step(model, *args)


def test_step(model, *args):
    if keras.backend.backend() == "jax":
        from hwkeras.training import jax as impl

        return impl.test_step(model, *args)
    (data,) = args
    return model.update_trackers(model.compute_terms(model.images_from_batch(data), training=False))
