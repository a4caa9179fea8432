"""Which images make up training batch ``i``: a pure numpy function of ``(seed, i)``.

Every dataset answers ``batch(batch_size, seed, index)`` with float32 images ``(batch, H, W, C)``
in [0, 1], and nothing else decides what a batch holds: the pipelines (``hwkeras.data.pipeline``,
tf.data or keras.utils.PyDataset) only call it in parallel, in order. So both pipelines yield the
same batches, and a run resumed at step k (``start=k``) sees exactly the batches an uninterrupted
run would have seen from step k on.

- Procedural datasets draw batch ``i`` from ``np.random.RandomState([seed, i])``.
- Indexed datasets (arrays on disk, decoded caches, image files) visit every item once an epoch in
  the order ``epoch_permutation(num_items, seed, epoch)``; batches run across epoch boundaries, so
  none is short. ``RandomState`` is used because numpy keeps its streams fixed across versions.
"""

import functools
import threading

import numpy as np

_MASK = 0xFFFFFFFF
_STATES = threading.local()


def batch_random_state(seed, index):
    """The random state that draws procedural batch ``index``: ``RandomState([seed, index])``.

    Reseeding one state per thread gives the same stream as constructing a new one and costs a
    tenth as much (26 vs 300 us, a third of a 64-image batch's work), so use it before calling
    this again on the same thread.
    """
    state = getattr(_STATES, "state", None)
    if state is None:
        state = _STATES.state = np.random.RandomState()
    state.seed([int(seed) & _MASK, int(index) & _MASK])
    return state


@functools.lru_cache(maxsize=4)
def epoch_permutation(num_items, seed, epoch):
    """Items 0..num_items-1 in the order of epoch ``epoch`` (read-only; cached: workers share it)."""
    order = np.random.RandomState([int(seed) & _MASK, int(epoch) & _MASK, 1]).permutation(num_items)
    order.setflags(write=False)
    return order


def batch_positions(num_items, batch_size, index):
    """``(epoch, offset)`` arrays: where each image of batch ``index`` sits in the epoch sequence."""
    flat = np.arange(index * batch_size, (index + 1) * batch_size, dtype=np.int64)
    return flat // num_items, flat % num_items


def batch_items(num_items, batch_size, seed, index):
    """Item numbers of batch ``index``: positions ``index * batch_size ...`` of the epoch orders."""
    if num_items < 1:
        raise ValueError("the dataset has no images")
    epochs, offsets = batch_positions(num_items, batch_size, index)
    items = np.empty(batch_size, np.int64)
    for epoch in np.unique(epochs):
        chosen = epochs == epoch
        items[chosen] = epoch_permutation(num_items, seed, int(epoch))[offsets[chosen]]
    return items


class Batched:
    """``batches()`` for every dataset: the training stream over ``self.batch``."""

    def batch(self, batch_size, seed, index):
        """Float32 images of training batch ``index`` for ``seed``, shape (batch_size, H, W, C)."""
        raise NotImplementedError

    def prepare(self, accelerated=False):
        """Builds what ``batch`` reads (an on-disk cache) before streaming starts; no-op by default.

        ``accelerated``: the consumer is a GPU, so a dataset may build a cache it would skip for a CPU.
        """

    def batches(self, batch_size, seed=0, start=0, pipeline="auto", workers=None):
        """An endless stream of training batches ``start, start + 1, ...`` for ``model.fit``.

        ``pipeline``: ``"py"`` (a keras.utils.PyDataset with worker threads, any backend, no
        TensorFlow needed), ``"tf"`` (a tf.data.Dataset) or ``"auto"`` (see
        ``hwkeras.data.pipeline.AUTO``). Both yield the same batches: batch i is
        ``self.batch(batch_size, seed, i)``. ``workers``: threads (default: the CPU count, at most 16).
        """
        from hwkeras.data.pipeline import stream

        batch_size, seed, start = int(batch_size), int(seed), int(start)
        if batch_size < 1 or start < 0:
            raise ValueError(f"batch_size must be >= 1 and start >= 0, got {batch_size} and {start}")
        self.prepare()
        shape = (batch_size,) + tuple(self.observation_shape)
        return stream(lambda index: self.batch(batch_size, seed, index), shape, start=start, pipeline=pipeline,
                      workers=workers)


class Indexed(Batched):
    """Datasets whose training epochs are permutations of ``num_rows`` items read by ``images_at``."""

    @property
    def num_rows(self):
        return len(self)

    def images_at(self, indices):
        raise NotImplementedError

    def batch(self, batch_size, seed, index):
        return np.asarray(self.images_at(batch_items(self.num_rows, batch_size, seed, index)), np.float32)
