"""hwkeras: unsupervised disentanglement with a hierarchical hyperprior (CHyVAE) in Keras 3.

The package imports Keras only when a model, layer or ``load_model`` is first used, so that
``hwkeras.metrics``, ``hwkeras.data`` and the command line's ``--help`` start without Keras or
TensorFlow. When Keras is already loaded, the model classes are registered at once, so that
``keras.saving.load_model`` finds them after ``import hwkeras`` as before.
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "HyperpriorVAE": "hwkeras.model",
    "VAE": "hwkeras.baselines",
    "BetaVAE": "hwkeras.baselines",
    "FactorVAE": "hwkeras.baselines",
    "BetaTCVAE": "hwkeras.baselines",
    "BFVAE0": "hwkeras.baselines",
    "BFVAE1": "hwkeras.baselines",
    "BFVAE2": "hwkeras.baselines",
    "DIPVAEI": "hwkeras.baselines",
    "DIPVAEII": "hwkeras.baselines",
    "AnnealedVAE": "hwkeras.baselines",
    "build_model": "hwkeras.models",
    "load_model": "hwkeras.models",
    "fit": "hwkeras.runs.run",
    "resume": "hwkeras.runs.run",
    "Run": "hwkeras.runs.run",
    "evaluate": "hwkeras.runs.evaluate",
    "run_sweep": "hwkeras.sweeps",
    "resume_sweep": "hwkeras.sweeps",
    "select": "hwkeras.sweeps",
    "Sweep": "hwkeras.sweeps",
}

__all__ = sorted(_EXPORTS) + ["layers", "__version__"]


def register_keras_classes():
    """Imports every model and layer class, which registers them for ``.keras`` loading."""
    for module in ("hwkeras.layers", "hwkeras.model", "hwkeras.baselines"):
        importlib.import_module(module)


def __getattr__(name):
    if name == "layers":
        return importlib.import_module("hwkeras.layers")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hwkeras' has no attribute {name!r}")


def __dir__():
    return __all__


if "keras" in sys.modules:
    register_keras_classes()
