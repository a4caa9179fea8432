"""Per-backend gradient mechanics of ``train_step``; the losses themselves live in keras.ops.

Each backend module exposes ``train_step(model, data) -> dict of metric results``; the model
supplies ``model.compute_terms(x, training=True)`` (per-example loss terms) and
``model.update_trackers(terms)``. JAX is the exception: Keras's JAX trainer is stateless and
calls ``train_step(state, data)`` / ``test_step(state, data)``, expecting ``(logs, new_state)``,
so ``hwkeras.training.jax`` takes and returns the state (see there).

Adversarial models (FactorVAE, BF-VAE) also have a ``discriminator`` (a Keras layer) and a
``discriminator_optimizer``, and their terms include a per-example ``discriminator_loss``.
One forward pass then drives two simultaneous updates, as in disentanglement_lib: the mean
``loss`` over every trainable weight except the discriminator's (model.optimizer), and the mean
``discriminator_loss`` over the discriminator's weights only (model.discriminator_optimizer).
"""

import keras


def has_discriminator(model):
    return getattr(model, "discriminator", None) is not None


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
