"""Per-backend gradient mechanics of ``train_step``; the losses themselves live in keras.ops.

Each backend module exposes ``train_step(model, data) -> dict of metric results``; the model
supplies ``model.compute_terms(x, training=True)`` (per-example loss terms) and
``model.update_trackers(terms)``.

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


def train_step(model, data):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from hwkeras.training import tensorflow as impl
    else:
        raise NotImplementedError(
            f"hwkeras trains on the TensorFlow backend for now (KERAS_BACKEND={backend!r}); "
            "set KERAS_BACKEND=tensorflow"
        )
    return impl.train_step(model, data)
