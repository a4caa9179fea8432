"""Put this folder first on PYTHONPATH to run a process in which ``import tensorflow`` fails,
as on a GPU machine that has JAX or PyTorch but no TensorFlow."""

import sys


class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow.") or name.startswith("tensorflow_probability"):
            raise ImportError(f"No module named {name!r} (blocked by tests/without_tensorflow)")
        return None


sys.meta_path.insert(0, _NoTensorFlow())
