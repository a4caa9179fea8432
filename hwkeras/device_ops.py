"""The few places where the plain keras.ops form stalls an accelerator, and what hwkeras uses instead.

On the PyTorch backend every eager step runs op by op from Python, and three innocent-looking
things make the host wait for the GPU to drain its queue (a stream synchronisation), so that the
host's Python work and the GPU's kernels no longer overlap:

- a numpy constant turned into a tensor (``ops.convert_to_tensor(np_array)``): a blocking copy
  from pageable host memory, which PyTorch follows with a stream synchronisation;
- ``torch.linalg.cholesky`` (``ops.cholesky``) and ``torch.linalg.inv``: they read an error flag
  back from the GPU to raise on a matrix that is not positive definite;
- a draw from a ``keras.random.SeedGenerator``: the generator's state lives on the GPU, and each
  draw copies the increment [0, 1] to it and reads the seed back as a Python int.

``constant``, ``cholesky`` and ``seed_generator`` give the same numbers without those waits:
constants are converted once per device and reused, the factorisation is
``torch.linalg.cholesky_ex`` (a NaN factor then shows up in the loss, as on JAX and under XLA,
instead of an exception), and the seed state lives on the CPU (the draws themselves stay on the
GPU, from the same seeds). Under TensorFlow and JAX the step is compiled, constants are folded
into it and nothing waits, so these are the plain keras.ops calls there.
"""

import keras
import numpy as np
from keras import ops

_CONSTANTS = {}


def _torch():
    return keras.backend.backend() == "torch"


def constant(value, dtype):
    """``ops.convert_to_tensor(value, dtype)`` for a numpy constant, converted once per device on torch."""
    if not _torch():
        return ops.convert_to_tensor(value, dtype=dtype)
    import torch
    from keras.src.backend.torch.core import get_device

    if torch.compiler.is_compiling():  # torch.compile folds the constant into its graph itself
        return ops.convert_to_tensor(value, dtype=dtype)
    value = np.asarray(value)
    key = (value.tobytes(), value.shape, value.dtype.str, str(dtype), str(get_device()))
    tensor = _CONSTANTS.get(key)
    if tensor is None:
        tensor = _CONSTANTS[key] = ops.convert_to_tensor(value, dtype=dtype)
    return tensor


def cholesky(x):
    """The lower Cholesky factor of a batch of positive-definite matrices (no host wait on torch)."""
    if _torch():
        import torch

        return torch.linalg.cholesky_ex(ops.convert_to_tensor(x))[0]
    return ops.cholesky(x)


class HostSeedGenerator(keras.random.SeedGenerator):
    """A SeedGenerator whose state lives on the CPU (PyTorch): same seeds, no GPU round trip."""

    def __init__(self, seed=None, name=None, **kwargs):
        with keras.device("cpu"):
            super().__init__(seed, name=name, **kwargs)

    def next(self, ordered=True):
        with keras.device("cpu"):
            return super().next(ordered=ordered)


def seed_generator(seed=None, name=None):
    """A ``keras.random.SeedGenerator`` for the model's noise; its state on the CPU under torch."""
    return HostSeedGenerator(seed, name=name) if _torch() else keras.random.SeedGenerator(seed, name=name)


def unrolled_cholesky(s):
    """cholesky(s) for a batch (B, p, p) written as p column steps of elementwise ops and small
    products, which XLA fuses, instead of one library call per factorisation and two triangular
    solves for its gradient (cuSOLVER/cuBLAS batched kernels that are slow for 10 x 10 matrices).

    Not used by default: a candidate that ``benchmarks/bench_gpu.py`` times against
    ``ops.cholesky`` in the JAX CHyVAE step (tests/test_device_ops.py checks its values and
    gradients). Cholesky-Banachiewicz: column j is v / sqrt(v_j), v = s[:, j] - L[:, :j] L[j, :j]^T.
    """
    p = s.shape[-1]
    rows = np.arange(p)
    columns = []
    for j in range(p):
        v = s[:, :, j]
        if j:
            previous = ops.stack(columns, axis=-1)  # (B, p, j)
            v = v - ops.einsum("bik,bk->bi", previous, previous[:, j, :])
        d = ops.sqrt(v[:, j:j + 1])
        below = constant((rows > j).astype("float32"), v.dtype)
        at = constant((rows == j).astype("float32"), v.dtype)
        columns.append(v / d * below + d * at)
    return ops.stack(columns, axis=-1)
