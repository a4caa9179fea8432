"""Baselines sharing HyperpriorVAE's encoder and decoder, with a diagonal Gaussian posterior.

``MODELS`` maps the names ``hwkeras fit --model`` accepts to classes; ``build_model`` builds one.
"""

import inspect

from hwkeras.base import LatentVariableModel
from hwkeras.baselines.bayes_factor_vae import BFVAE0, BFVAE1, BFVAE2
from hwkeras.baselines.beta_tcvae import BetaTCVAE
from hwkeras.baselines.factor_vae import FactorVAE
from hwkeras.baselines.vae import VAE, BetaVAE
from hwkeras.model import HyperpriorVAE

MODELS = {
    "chyvae": HyperpriorVAE,
    "vae": VAE,
    "beta-vae": BetaVAE,
    "factor-vae": FactorVAE,
    "beta-tcvae": BetaTCVAE,
    "bf-vae-0": BFVAE0,
    "bf-vae-1": BFVAE1,
    "bf-vae-2": BFVAE2,
}

_SHARED = ("self", "latent_dim", "image_shape", "hidden_units", "seed", "kwargs")


def model_options(name):
    """The constructor options of model ``name`` besides the shared ones, with their defaults."""
    cls = _model_class(name)
    options = {}
    # Subclasses forward **kwargs to their parents, so the options are the union along the MRO
    # (the most derived default wins), up to the shared base.
    for klass in cls.__mro__[: cls.__mro__.index(LatentVariableModel)]:
        if "__init__" in vars(klass):
            for param in inspect.signature(klass.__init__).parameters.values():
                if param.name not in _SHARED and param.kind is param.POSITIONAL_OR_KEYWORD:
                    options.setdefault(param.name, param.default)
    return options


def build_model(name, latent_dim, image_shape, hidden_units, seed=None, **model_options_):
    """Model ``name`` of ``MODELS``; options left at None take the model's default.

    Raises a one-line ValueError for an unknown name or an option the model does not take.
    """
    cls = _model_class(name)
    given = {k: v for k, v in model_options_.items() if v is not None}
    known = model_options(name)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"model {name!r} takes no option {', '.join(unknown)}; "
                         f"its options are: {', '.join(sorted(known)) or 'none'}")
    return cls(latent_dim=latent_dim, image_shape=image_shape, hidden_units=hidden_units, seed=seed, **given)


def _model_class(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


__all__ = ["BFVAE0", "BFVAE1", "BFVAE2", "BetaTCVAE", "BetaVAE", "FactorVAE", "MODELS", "VAE",
           "build_model", "model_options"]
