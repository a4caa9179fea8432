"""The models: the registry (``registry.py``: names, classes, options, memory traits) and building
and loading them.

``from hwkeras.models import build_model, MODEL_NAMES, ...`` works as when this was one module.
Importing this package loads no Keras: the classes are imported on first use (``MODELS[name]``,
``model_class``, ``build_model``). ``MODEL_NAMES`` is read afresh at each access, so it includes the
models added with ``register``.
"""

from hwkeras.models.registry import (
    MODELS,
    Memory,
    ModelEntry,
    Option,
    check_model_name,
    check_options,
    cli_options,
    describe,
    memory_traits,
    model_class,
    model_names,
    model_options,
    option_help,
    option_type,
    register,
)

__all__ = ["MODELS", "MODEL_NAMES", "Memory", "ModelEntry", "Option", "build_model", "check_model_name",
           "check_options", "cli_options", "describe", "load_model", "memory_traits", "model_class", "model_names",
           "model_options", "option_help", "option_type", "register"]


def __getattr__(name):
    if name == "MODEL_NAMES":  # the registered names now, registrations included
        return model_names()
    raise AttributeError(f"module 'hwkeras.models' has no attribute {name!r}")


def build_model(name, latent_dim=None, image_shape=None, hidden_units=None, seed=None, dtype=None, architecture=None,
                **options):
    """Model ``name`` with ``options``; anything left at None takes the model's default (latent_dim
    10, 64x64x1 images, 128 hidden units, the "chyvae" architecture: the models' own signatures), e.g.
    ``build_model("factor-vae", latent_dim=10, gamma=35)``.

    ``dtype``: the Keras dtype policy, "float32" or "mixed_bfloat16" (None: the global policy).
    Raises a one-line ValueError for an unknown name or an option the model does not take.
    """
    cls = model_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    check_options(name, given, latent_dim or 10)
    shared = {"latent_dim": latent_dim, "image_shape": image_shape, "hidden_units": hidden_units, "dtype": dtype,
              "architecture": architecture}
    given.update({k: v for k, v in shared.items() if v is not None})
    return cls(seed=seed, **given)


def load_model(path):
    """A ``.keras`` file saved by hwkeras, with its classes registered (``keras.saving.load_model``),
    those of models added with ``register`` included."""
    import importlib

    import keras

    import hwkeras
    from hwkeras.models.registry import _ENTRIES

    hwkeras.register_keras_classes()
    for module in dict.fromkeys(e.module for e in _ENTRIES.values()):
        importlib.import_module(module)
    return keras.saving.load_model(path)
