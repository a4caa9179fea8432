"""The model registry: every name ``hwkeras fit --model`` takes, its class, options and defaults.

This is the one place that knows the models. The CLI's ``--model`` choices, ``hwkeras sweep``,
the tests and the docs read it; a new model is one line in ``_ENTRIES`` (see
docs/ARCHITECTURE.md). Classes are imported on first use, so that listing the names (``hwkeras
--help``) does not load Keras or TensorFlow.
"""

import importlib
import inspect
from collections.abc import Mapping
from typing import NamedTuple


class ModelEntry(NamedTuple):
    module: str
    class_name: str
    description: str


_ENTRIES = {
    "chyvae": ModelEntry("hwkeras.model", "HyperpriorVAE",
                         "CHyVAE: inverse-Wishart hyperprior, full-covariance posterior (Ansari & Soh 2019)"),
    "vae": ModelEntry("hwkeras.baselines.vae", "VAE", "VAE with a diagonal posterior (Kingma & Welling)"),
    "beta-vae": ModelEntry("hwkeras.baselines.vae", "BetaVAE", "beta-VAE (Higgins et al. 2017)"),
    "factor-vae": ModelEntry("hwkeras.baselines.factor_vae", "FactorVAE", "FactorVAE (Kim & Mnih 2018)"),
    "beta-tcvae": ModelEntry("hwkeras.baselines.beta_tcvae", "BetaTCVAE", "beta-TCVAE (Chen et al. 2018)"),
    "bf-vae-0": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE0", "BF-VAE-0: learned prior variances"),
    "bf-vae-1": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE1", "BF-VAE-1: Gamma hyperprior on precisions"),
    "bf-vae-2": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE2", "BF-VAE-2: Gamma hyperprior with relevance"),
}

#: Constructor arguments every model shares; the rest are the model's own options.
SHARED_ARGUMENTS = ("latent_dim", "image_shape", "hidden_units", "seed")


class _Registry(Mapping):
    """name -> model class, importing the class's module on first access."""

    def __getitem__(self, name):
        entry = _ENTRIES[name]
        return getattr(importlib.import_module(entry.module), entry.class_name)

    def __iter__(self):
        return iter(_ENTRIES)

    def __len__(self):
        return len(_ENTRIES)


MODELS = _Registry()
MODEL_NAMES = tuple(_ENTRIES)


def check_model_name(name):
    """``name`` if it is registered, else a one-line ValueError listing the names (no import)."""
    if name not in _ENTRIES:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(_ENTRIES)}")
    return name


def describe(name):
    return _ENTRIES[check_model_name(name)].description


def model_class(name):
    return MODELS[check_model_name(name)]


def model_options(name):
    """The constructor options of model ``name`` besides the shared ones, with their defaults."""
    from hwkeras.base import LatentVariableModel

    cls = model_class(name)
    options = {}
    # Subclasses forward **kwargs to their parents, so the options are the union along the MRO
    # (the most derived default wins), up to the shared base.
    for klass in cls.__mro__[: cls.__mro__.index(LatentVariableModel)]:
        if "__init__" in vars(klass):
            for param in inspect.signature(klass.__init__).parameters.values():
                if param.name not in SHARED_ARGUMENTS and param.name != "self" and param.kind is param.POSITIONAL_OR_KEYWORD:
                    options.setdefault(param.name, param.default)
    return options


def build_model(name, latent_dim=None, image_shape=None, hidden_units=None, seed=None, dtype=None, **options):
    """Model ``name`` with ``options``; anything left at None takes the model's default (latent_dim
    10, 64x64x1 images, 128 hidden units: the models' own signatures), e.g.
    ``build_model("factor-vae", latent_dim=10, gamma=35)``.

    ``dtype``: the Keras dtype policy, "float32" or "mixed_bfloat16" (None: the global policy).
    Raises a one-line ValueError for an unknown name or an option the model does not take.
    """
    cls = model_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    known = model_options(name)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"model {name!r} takes no option {', '.join(unknown)}; "
                         f"its options are: {', '.join(sorted(known)) or 'none'}")
    shared = {"latent_dim": latent_dim, "image_shape": image_shape, "hidden_units": hidden_units, "dtype": dtype}
    given.update({k: v for k, v in shared.items() if v is not None})
    return cls(seed=seed, **given)



def load_model(path):
    """A ``.keras`` file saved by hwkeras, with its classes registered (``keras.saving.load_model``)."""
    import keras

    import hwkeras

    hwkeras.register_keras_classes()
    return keras.saving.load_model(path)
