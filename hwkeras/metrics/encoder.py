"""The encoder mean of a model as a representation function, compiled for evaluation.

The dlib protocol encodes about 3 million images for the six metrics, 64 at a time: called
eagerly, ``model.encode`` spends most of that time dispatching ops one by one. A Keras model's
encoder is therefore compiled once per backend (``tf.function`` on TensorFlow, ``jax.jit`` of a
stateless encode on JAX, ``torch.no_grad`` on torch) for a fixed batch of ``batch_size`` images;
the last short batch of a call is padded to that size so that exactly one shape is ever compiled.
Each image's code does not depend on the others in its batch, so padding changes no number.

Nothing here imports Keras: a model is compiled only if it is a ``keras.Model`` of an already
imported Keras; any other object with ``encode(x) -> (mean, ...)`` is called as it is.
"""

import sys

import numpy as np

#: Images per encoder call; the metrics hand over up to ``utils.ENCODE_CHUNK`` images at once.
ENCODE_BATCH_SIZE = 64


def representation_from_model(model, batch_size=ENCODE_BATCH_SIZE, compiled=True):
    """``observations -> encoder mean`` as a numpy array, ``batch_size`` images per encoder call.

    ``compiled=False`` calls ``model.encode`` eagerly (the reference the benchmark compares with).
    """
    encode = _compiled_mean(model) if compiled else None
    pad = encode is not None
    if encode is None:
        def encode(x):
            return to_numpy(model.encode(x)[0])

    def representation_function(observations):
        observations = np.asarray(observations, dtype=np.float32)
        means = []
        for start in range(0, len(observations), batch_size):
            batch = observations[start:start + batch_size]
            size = len(batch)
            if pad and size < batch_size:
                filler = np.zeros((batch_size - size,) + batch.shape[1:], batch.dtype)
                batch = np.concatenate([batch, filler])
            means.append(np.asarray(encode(batch))[:size])
        return np.concatenate(means, axis=0)

    return representation_function


def to_numpy(tensor):
    """A backend tensor (on any device) or array as a numpy array."""
    keras = sys.modules.get("keras")
    if keras is None or isinstance(tensor, np.ndarray):
        return np.asarray(tensor)
    return keras.ops.convert_to_numpy(tensor)


def _compiled_mean(model):
    """``x -> encoder mean`` compiled for the model's backend, or None for a non-Keras model."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(model, keras.Model):
        return None
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # XLA (jit_compile=True) was slower on the CPU (docs/METRICS.md section 5).
        mean = tf.function(lambda x: model.encode(x, training=False)[0], jit_compile=False)
        return lambda x: mean(x).numpy()
    if backend == "jax":
        import jax

        def stateless_mean(trainable, non_trainable, x):
            mapping = list(zip(model.trainable_variables, trainable))
            mapping += list(zip(model.non_trainable_variables, non_trainable))
            with keras.StatelessScope(state_mapping=mapping):
                return model.encode(x, training=False)[0]

        mean = jax.jit(stateless_mean)
        # The current values at every call: a callback evaluates a model that is still training.
        return lambda x: np.asarray(mean([v.value for v in model.trainable_variables],
                                         [v.value for v in model.non_trainable_variables], x))
    if backend == "torch":
        import torch

        # torch.compile recompiled on every call here (Keras names layers inside the call),
        # so only the autograd bookkeeping is switched off.
        def mean(x):
            with torch.no_grad():
                return keras.ops.convert_to_numpy(model.encode(x, training=False)[0])

        return mean
    return None
