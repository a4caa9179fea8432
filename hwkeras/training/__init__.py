"""Per-backend gradient mechanics of ``train_step``; the losses themselves live in keras.ops.

Each backend module exposes ``train_step(model, data) -> dict of metric results``; the model
supplies ``model.compute_terms(x, training=True)`` (per-example loss terms) and
``model.update_trackers(terms)``.
"""

import keras


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
