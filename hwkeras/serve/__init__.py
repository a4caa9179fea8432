"""``hwkeras serve``'s library: runtimes behind one interface (``servable.py``), the REST app and
the Ray Serve deployment (``app.py``), and the latent explorer (``static/``). See docs/SERVING.md."""

import importlib

#: Runtime name -> the module whose ``load(path, name=None)`` returns its Servable.
RUNTIMES = {
    "tensorflow": "hwkeras.serve.saved_model",
    "keras": "hwkeras.serve.keras_model",
    "onnx": "hwkeras.serve.onnx",
}


def load_servable(path, runtime="tensorflow", name=None):
    """The model at ``path`` as a :class:`~hwkeras.serve.servable.Servable` run by ``runtime``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return importlib.import_module(RUNTIMES[runtime]).load(path, name=name)
