"""The two pipelines that stream ``batch_at(i)`` for ``i = start, start + 1, ...`` to ``model.fit``.

- ``"py"``: a ``keras.utils.PyDataset`` whose ``__getitem__(i)`` is ``batch_at(start + i)``, run
  by Keras' ordered enqueuer on worker *threads* (the numpy and Pillow work inside a batch
  releases the GIL). It works on every backend and never imports TensorFlow.
- ``"tf"``: a ``tf.data.Dataset`` of the same calls (``numpy_function`` in a parallel, ordered
  ``map``); TensorFlow backend only.

``"auto"`` is ``AUTO[backend]``; docs/DATASETS.md gives the measurements behind the choice.
Neither wrapper decides anything about the contents: the same ``batch_at`` gives the same batches.
"""

import itertools
import os

import numpy as np

PIPELINES = ("auto", "py", "tf")
#: What "auto" picks per Keras backend. On TensorFlow, tf.data delivered 1.0-2.2x the batches/s
#: of the PyDataset (which Keras wraps in tf.data.Dataset.from_generator there); see
#: docs/BENCHMARKS.md. Elsewhere the PyDataset is the only one that needs no TensorFlow.
AUTO = {"tensorflow": "tf", "jax": "py", "torch": "py", "numpy": "py"}
MAX_WORKERS = 16


def default_workers():
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def resolve(pipeline):
    """``"py"`` or ``"tf"`` for a requested pipeline name; ValueError (one line) otherwise."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}; got {pipeline!r}")
    if pipeline != "auto":
        return pipeline
    from keras import backend

    return AUTO.get(backend.backend(), "py")


def stream(batch_at, batch_shape, start=0, pipeline="auto", workers=None):
    """An endless stream of ``batch_at(start), batch_at(start + 1), ...`` (float32, ``batch_shape``)."""
    workers = default_workers() if workers is None else max(1, int(workers))
    if resolve(pipeline) == "tf":
        return _tf_stream(batch_at, batch_shape, start)
    return _py_dataset_class()(batch_at, start, workers)


def take(batches, num):
    """The first ``num`` batches of a stream (either pipeline) as numpy arrays."""
    return [np.asarray(batch) for batch in itertools.islice(iter(batches), num)]


def _tf_stream(batch_at, batch_shape, start):
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError("pipeline='tf' needs TensorFlow, which is not installed; use pipeline='py'") from None

    def load(index):
        images = tf.numpy_function(lambda i: np.asarray(batch_at(int(i)), np.float32), [index], tf.float32,
                                   stateful=False)
        return tf.ensure_shape(images, batch_shape)

    return (
        tf.data.Dataset.counter(start)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


_PY_DATASET = None


def _py_dataset_class():
    """``BatchSequence``, defined on first use: keras is imported only when a stream is built."""
    global _PY_DATASET
    if _PY_DATASET is None:
        import keras

        class BatchSequence(keras.utils.PyDataset):
            """Endless batches ``batch_at(start + i)``; iterate it directly or pass it to ``model.fit``."""

            def __init__(self, batch_at, start, workers):
                super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=2 * workers)
                self.batch_at, self.start = batch_at, start

            @property
            def num_batches(self):
                return None  # endless: fit's steps_per_epoch decides where an epoch ends

            def __getitem__(self, index):
                return self.batch_at(self.start + index)

        _PY_DATASET = BatchSequence
    return _PY_DATASET
