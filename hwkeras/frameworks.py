"""Keras and TensorFlow, started quietly and only when a command needs them.

TensorFlow's C++ logs (absl, oneDNN, CUDA probing) are written before TF_CPP_MIN_LOG_LEVEL takes
effect, so file descriptor 2 is muted while they load; the library's own lines and one-line errors
stay readable. Nothing here imports Keras or TensorFlow at import time.
"""

import contextlib
import json
import os
import sys

from hwkeras.errors import UserError


@contextlib.contextmanager
def muted_native_stderr():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_tensorflow():
    """Imports TensorFlow quietly (for the commands that use it without Keras); returns it."""
    require_tensorflow("Running a SavedModel")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    return tf


#: What a process without TensorFlow needs for a SavedModel (pyproject.toml's range).
TENSORFLOW_INSTALL = "pip install 'tensorflow>=2.18,<2.22'"


def tensorflow_installed():
    """Whether TensorFlow can be imported here, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def require_tensorflow(what):
    """One line, before any work, for a command that cannot run without TensorFlow (``what`` needs it)."""
    if not tensorflow_installed():
        raise UserError(f"{what} needs TensorFlow, which is not installed here: {TENSORFLOW_INSTALL}")


def keras_backend_to_load():
    """The backend Keras will load: $KERAS_BACKEND, else keras.json's (Keras's own order), else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def start_keras():
    """Imports Keras (and TensorFlow under its backend, probing CUDA now) quietly; returns keras."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    if keras_backend_to_load() == "tensorflow" and not tensorflow_installed():  # else Keras's import traceback
        raise UserError(f"Keras's backend here is TensorFlow, which is not installed: pass --backend jax or "
                         f"--backend torch (or set KERAS_BACKEND), or {TENSORFLOW_INSTALL}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # probes CUDA now, quietly, rather than mid-run
        import hwkeras

        hwkeras.register_keras_classes()
    return keras


def set_random_seed(seed):
    """``keras.utils.set_random_seed``, quietly: on every backend it imports TensorFlow when that is
    installed (to seed tf.random too), and TensorFlow's C++ start-up lines would reach the terminal."""
    keras = start_keras()
    with muted_native_stderr():
        keras.utils.set_random_seed(seed)
