"""The model registry: every name ``hwkeras fit --model`` takes, its class, options and defaults.

This is the one place that knows the models. The CLI's ``--model`` choices, ``hwkeras sweep``,
the tests and the docs read it; a new model is one line in ``_ENTRIES`` (see
docs/ARCHITECTURE.md). Classes are imported on first use, so that listing the names (``hwkeras
--help``) does not load Keras or TensorFlow.
"""

import importlib
from collections.abc import Mapping
from typing import NamedTuple

from hwkeras import hyperparameters
from hwkeras.hyperparameters import DEFAULT_NU, SIMULTANEOUS, VAE_FIRST


class ModelEntry(NamedTuple):
    module: str
    class_name: str
    description: str
    #: The model's own constructor options and their defaults, declared here so that they are known
    #: (and checked, ``check_options``) without importing the class, i.e. before Keras loads.
    #: tests/test_architecture.py holds them equal to the constructors' signatures.
    options: dict


_DISCRIMINATOR = {"discriminator_units": 1000, "discriminator_learning_rate": 1e-4}
_FACTOR_VAE = {"gamma": 10.0, **_DISCRIMINATOR, "discriminator_layers": 6, "update_order": SIMULTANEOUS}
_BF_VAE = {"gamma": 35.0, **_DISCRIMINATOR, "discriminator_layers": 5, "update_order": VAE_FIRST}
_GAMMA_HYPERPRIOR = {**_BF_VAE, "dataset_size": 737280}

_ENTRIES = {
    "chyvae": ModelEntry("hwkeras.model", "HyperpriorVAE",
                         "CHyVAE: inverse-Wishart hyperprior, full-covariance posterior (Ansari & Soh 2019)",
                         {"nu": DEFAULT_NU, "psi": None}),
    "vae": ModelEntry("hwkeras.baselines.vae", "VAE", "VAE with a diagonal posterior (Kingma & Welling)",
                      {"beta": 1.0}),
    "beta-vae": ModelEntry("hwkeras.baselines.vae", "BetaVAE", "beta-VAE (Higgins et al. 2017)", {"beta": 4.0}),
    "factor-vae": ModelEntry("hwkeras.baselines.factor_vae", "FactorVAE", "FactorVAE (Kim & Mnih 2018)", _FACTOR_VAE),
    "beta-tcvae": ModelEntry("hwkeras.baselines.beta_tcvae", "BetaTCVAE", "beta-TCVAE (Chen et al. 2018)",
                             {"beta": 6.0}),
    "bf-vae-0": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE0", "BF-VAE-0: learned prior variances",
                           {**_BF_VAE, "eta": 0.05}),
    "bf-vae-1": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE1", "BF-VAE-1: Gamma hyperprior on precisions",
                           _GAMMA_HYPERPRIOR),
    "bf-vae-2": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE2", "BF-VAE-2: Gamma hyperprior with relevance",
                           {**_GAMMA_HYPERPRIOR, "eta_s": 0.1, "eta_h": 0.1, "eps": 1e-3}),
}

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
    """The constructor options of model ``name`` besides the shared ones, with their defaults (no import)."""
    return dict(_ENTRIES[check_model_name(name)].options)


def check_options(name, options, latent_dim=10):
    """The user's ``options`` for model ``name``, checked without importing the model (or Keras):
    a one-line ValueError for an option the model does not take or a value it would refuse."""
    known = model_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"model {name!r} takes no option {', '.join(unknown)}; "
                         f"its options are: {', '.join(sorted(known)) or 'none'}")
    hyperparameters.check(latent_dim, options)


def build_model(name, latent_dim=None, image_shape=None, hidden_units=None, seed=None, dtype=None, **options):
    """Model ``name`` with ``options``; anything left at None takes the model's default (latent_dim
    10, 64x64x1 images, 128 hidden units: the models' own signatures), e.g.
    ``build_model("factor-vae", latent_dim=10, gamma=35)``.

    ``dtype``: the Keras dtype policy, "float32" or "mixed_bfloat16" (None: the global policy).
    Raises a one-line ValueError for an unknown name or an option the model does not take.
    """
    cls = model_class(name)
    given = {k: v for k, v in options.items() if v is not None}
    check_options(name, given, latent_dim or 10)
    shared = {"latent_dim": latent_dim, "image_shape": image_shape, "hidden_units": hidden_units, "dtype": dtype}
    given.update({k: v for k, v in shared.items() if v is not None})
    return cls(seed=seed, **given)



def load_model(path):
    """A ``.keras`` file saved by hwkeras, with its classes registered (``keras.saving.load_model``)."""
    import keras

    import hwkeras

    hwkeras.register_keras_classes()
    return keras.saving.load_model(path)
