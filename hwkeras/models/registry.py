"""The model registry: every name ``hwkeras fit --model`` takes, its class, options and memory traits.

This is the one place that knows the models. The CLI's ``--model`` choices, its model options
(``--nu``, ``--beta``, ...: generated from the entries' ``Option``s, help and defaults included),
``hwkeras sweep --grid``'s keys, the memory check (``hwkeras.resources``), the tests and the docs
read it. A new model is one module and one ``ModelEntry``: in ``_ENTRIES`` below, or from outside
the package with ``register(name, entry)`` before the command line is imported (docs/BASELINES.md,
"Adding a model"). Classes are imported on first use, so that listing the names, the options and
their checks (``hwkeras --help``, a refused option) does not load Keras or TensorFlow: this module
imports no more than ``hwkeras.hyperparameters``.
"""

import importlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

from hwkeras import hyperparameters
from hwkeras.hyperparameters import DEFAULT_NU, SIMULTANEOUS, VAE_FIRST

#: The constructor arguments every model takes (``build_model``'s own parameters); no model option
#: may take these names, nor those of ``hwkeras fit``'s shared options.
SHARED_ARGUMENTS = ("latent_dim", "image_shape", "hidden_units", "architecture", "seed", "dtype", "name")
#: ``hwkeras fit`` options a model option must not shadow (they configure the run, not the model).
RESERVED = SHARED_ARGUMENTS + ("model", "dataset", "data_dir", "preset", "batch_size", "steps", "learning_rate",
                               "precision", "distribute", "image_size", "output_dir", "run_name", "export_dir",
                               "no_export", "no_report", "summary_every", "log_every", "eval_every", "eval_metrics",
                               "eval_params", "checkpoint_every", "keep_checkpoints", "resume", "backend")
#: The value types an option may have: what the command line and ``--grid`` parse a value as.
OPTION_TYPES = (float, int, str)


@dataclass(frozen=True)
class Option:
    """One constructor option of a model, as the command line shows it.

    ``type``: float, int or str, what ``hwkeras fit --NAME`` and ``--grid NAME=...`` parse a value
    as; ``default``: the constructor's (tests/test_architecture.py holds them equal); ``help``: what
    the option is *to this model* ("KL weight"), without the model's name or the default, which
    ``option_help`` adds; ``cli_default``: the default in words where ``hwkeras fit`` fills in
    something other than ``default`` or the value alone says little (psi's None); ``cli``: False for
    a library-only option (``build_model`` takes it, the command line does not); ``check``: a
    Keras-free check of one value, raising a one-line ValueError (the built-in models' checks are in
    ``hwkeras.hyperparameters`` and need none here).
    """

    name: str
    type: type
    default: Any
    help: str
    cli_default: Optional[str] = None
    cli: bool = True
    check: Optional[Callable[[Any], Any]] = None


@dataclass(frozen=True)
class Memory:
    """What a training step of the model holds beyond the shared encoder and decoder, for the memory
    check before anything is allocated (``hwkeras.resources.training_bytes``).

    ``full_covariance``: the posterior is a full covariance (the head outputs p + p(p+1)/2 numbers
    and a p x p factor per image) rather than a diagonal (2p); ``pairwise``: the loss compares every
    pair of codes of a batch (B x B x p: a minibatch total-correlation estimate). A discriminator
    (the options ``discriminator_units``/``discriminator_layers``) and a second batch per step
    (``update_order``) are counted from the model's options. ``extra(options, latent_dim,
    batch_images)``: any further bytes, as {"--option": bytes} under the option that drives them
    (``options``: the model's options, defaults filled in), so the refusal names that option.
    """

    full_covariance: bool = False
    pairwise: bool = False
    extra: Optional[Callable[[dict, int, int], dict]] = None


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: ``module``.``class_name`` (imported on first use), a one-line description,
    its own constructor ``options`` (``Option``s; the shared ones, latent_dim, image_shape,
    hidden_units, seed and dtype, are every model's) and its ``memory`` traits (no default: a model
    states what it holds)."""

    module: str
    class_name: str
    description: str
    options: tuple
    memory: Memory


# --------------------------------------------------------------------------------------------
# The built-in models.
# --------------------------------------------------------------------------------------------

_TC_WEIGHT = "total-correlation weight"
_UPDATE_ORDER = ("'simultaneous' (disentanglement_lib: both updates from one batch) or 'vae-first' (BF-VAE's "
                 "authors: the discriminator then trains on a second batch; --batch-size stays the VAE's)")


def _adversarial(gamma, layers, update_order):
    """The options of the models with a total-correlation discriminator (FactorVAE, BF-VAE)."""
    return (Option("gamma", float, gamma, _TC_WEIGHT),
            Option("discriminator_units", int, 1000, "width of the discriminator's hidden layers", cli=False),
            Option("discriminator_learning_rate", float, 1e-4, "the discriminator's Adam learning rate", cli=False),
            Option("discriminator_layers", int, layers, "hidden layers of the discriminator", cli=False),
            Option("update_order", str, update_order, _UPDATE_ORDER))


def _dip(lambda_d_factor):
    """DIP-VAE's options; lambda_d_factor's default is dlib's study value (10 for DIP-VAE-I, 1 for II)."""
    return (Option("lambda_od", float, 10.0, "weight of the off-diagonal covariance penalty",
                   check=partial(hyperparameters.check_nonnegative, "lambda_od")),
            Option("lambda_d_factor", float, lambda_d_factor, "diagonal penalty weight lambda_d, in units of lambda_od",
                   check=partial(hyperparameters.check_nonnegative, "lambda_d_factor")))


_BF_VAE = _adversarial(35.0, 5, VAE_FIRST)
_DATASET_SIZE = Option("dataset_size", int, 737280, "N in the 1/N Gamma KL", cli_default="the dataset's size")

_ENTRIES = {
    "chyvae": ModelEntry(
        "hwkeras.model", "HyperpriorVAE",
        "CHyVAE: inverse-Wishart hyperprior, full-covariance posterior (Ansari & Soh 2019)",
        (Option("nu", float, DEFAULT_NU, "inverse-Wishart degrees of freedom (> latent_dim - 1)"),
         Option("psi", str, None, "inverse-Wishart scale, a number c for c*I or a .npy (p, p) file",
                cli_default="the multiple of I that makes E[Sigma] = I")),
        Memory(full_covariance=True)),
    "vae": ModelEntry("hwkeras.baselines.vae", "VAE", "VAE with a diagonal posterior (Kingma & Welling)",
                      (Option("beta", float, 1.0, "KL weight"),), Memory()),
    "beta-vae": ModelEntry("hwkeras.baselines.vae", "BetaVAE", "beta-VAE (Higgins et al. 2017)",
                           (Option("beta", float, 4.0, "KL weight"),), Memory()),
    "factor-vae": ModelEntry("hwkeras.baselines.factor_vae", "FactorVAE", "FactorVAE (Kim & Mnih 2018)",
                             _adversarial(10.0, 6, SIMULTANEOUS), Memory()),
    "beta-tcvae": ModelEntry("hwkeras.baselines.beta_tcvae", "BetaTCVAE", "beta-TCVAE (Chen et al. 2018)",
                             (Option("beta", float, 6.0, "TC weight"),), Memory(pairwise=True)),
    "bf-vae-0": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE0", "BF-VAE-0: learned prior variances",
                           _BF_VAE + (Option("eta", float, 0.05, "weight of sum (v_j - 1)^2"),), Memory()),
    "bf-vae-1": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE1", "BF-VAE-1: Gamma hyperprior on precisions",
                           _BF_VAE + (_DATASET_SIZE,), Memory()),
    "bf-vae-2": ModelEntry("hwkeras.baselines.bayes_factor_vae", "BFVAE2", "BF-VAE-2: Gamma hyperprior with relevance",
                           _BF_VAE + (_DATASET_SIZE, Option("eta_s", float, 0.1, "weight of ||r||_1"),
                                      Option("eta_h", float, 0.1, "weight of the relevance entropy"),
                                      Option("eps", float, 1e-3, "floor of the relevance in a = (1 + 2 eps)/(r + eps)",
                                             cli=False)),
                           Memory()),
    "dip-vae-i": ModelEntry("hwkeras.baselines.dip_vae", "DIPVAEI",
                            "DIP-VAE-I: covariance of the encoder means towards I (Kumar et al. 2018)",
                            _dip(10.0), Memory()),
    "dip-vae-ii": ModelEntry("hwkeras.baselines.dip_vae", "DIPVAEII",
                             "DIP-VAE-II: covariance of the aggregate posterior towards I (Kumar et al. 2018)",
                             _dip(1.0), Memory()),
    "annealed-vae": ModelEntry(
        "hwkeras.baselines.annealed_vae", "AnnealedVAE",
        "AnnealedVAE: KL pulled towards a rising capacity (Burgess et al. 2018)",
        (Option("gamma", float, 1000.0, "weight of |KL - C|",
                check=partial(hyperparameters.check_nonnegative, "gamma")),
         Option("c_max", float, 25.0, "capacity C in nats reached at iteration_threshold",
                check=partial(hyperparameters.check_nonnegative, "c_max")),
         Option("iteration_threshold", int, 100000, "training steps over which C rises linearly from 0 to c_max",
                check=partial(hyperparameters.check_positive_int, "iteration_threshold"))),
        Memory()),
}


# --------------------------------------------------------------------------------------------
# Registration.
# --------------------------------------------------------------------------------------------

def register(name, entry, replace=False):
    """Adds model ``name`` (``ModelEntry``) to the registry, e.g. from a plugin or a test.

    Its options become ``hwkeras fit`` options and ``hwkeras sweep --grid`` keys, so register before
    ``hwkeras.cli`` is imported (the command line builds its options at import). A one-line
    ValueError for a name that is taken (unless ``replace``), an entry that is not well formed, or an
    option that clashes with a shared one or with another model's option of the same name but
    another type.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name):
        raise ValueError(f"a model name is lowercase words joined by '-' (e.g. 'dip-vae'), got {name!r}")
    if name in _ENTRIES and not replace:
        raise ValueError(f"model {name!r} is registered already; pass replace=True to replace it")
    if not isinstance(entry, ModelEntry):
        raise ValueError(f"register({name!r}, entry): entry must be a hwkeras.models.ModelEntry, "
                         f"got {type(entry).__name__}")
    if not isinstance(entry.memory, Memory):
        raise ValueError(f"model {name!r}: memory must be a hwkeras.models.Memory (Memory() for a diagonal "
                         f"posterior and nothing else), got {type(entry.memory).__name__}")
    others = {}  # option name -> (the first model that declares it, its Option)
    for model, e in _ENTRIES.items():
        for other in e.options:
            if model != name:
                others.setdefault(other.name, (model, other))
    seen = set()
    for option in entry.options:
        if not isinstance(option, Option):
            raise ValueError(f"model {name!r}: each option must be a hwkeras.models.Option, got {option!r}")
        if not option.name.isidentifier() or option.name in RESERVED or option.name in seen:
            what = "repeated" if option.name in seen else "a shared option" if option.name in RESERVED \
                else "not a Python identifier"
            raise ValueError(f"model {name!r}: option {option.name!r} is {what}; choose another name")
        seen.add(option.name)
        if option.type not in OPTION_TYPES:
            raise ValueError(f"model {name!r}: option {option.name!r} has type {option.type!r}; "
                             f"use float, int or str")
        if option.name in others and others[option.name][1].type is not option.type:
            model, other = others[option.name]
            raise ValueError(f"model {name!r}: option {option.name!r} has type {option.type.__name__} but "
                             f"{other.type.__name__} for model {model!r}; one command-line option has one type")
    _ENTRIES[name] = entry
    return entry


# --------------------------------------------------------------------------------------------
# Looking models up (no import of the classes).
# --------------------------------------------------------------------------------------------

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


def model_names():
    """The registered names, in the order ``--model``'s help lists them."""
    return tuple(_ENTRIES)


def check_model_name(name):
    """``name`` if it is registered, else a one-line ValueError listing the names (no import)."""
    if name not in _ENTRIES:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(_ENTRIES)}")
    return name


def entry(name):
    return _ENTRIES[check_model_name(name)]


def describe(name):
    return entry(name).description


def model_class(name):
    return MODELS[check_model_name(name)]


def model_options(name):
    """The constructor options of model ``name`` besides the shared ones, with their defaults (no import)."""
    return {option.name: option.default for option in entry(name).options}


def memory_traits(name):
    return entry(name).memory


def check_options(name, options, latent_dim=10):
    """The user's ``options`` for model ``name``, checked without importing the model (or Keras):
    a one-line ValueError for an option the model does not take or a value it would refuse."""
    known = {option.name: option for option in entry(name).options}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"model {name!r} takes no option {', '.join(unknown)}; "
                         f"its options are: {', '.join(sorted(known)) or 'none'}")
    hyperparameters.check(latent_dim, options)
    for key, value in options.items():
        if known[key].check is not None and value is not None:
            known[key].check(value)


# --------------------------------------------------------------------------------------------
# What the command line shows: its model options, generated from the entries.
# --------------------------------------------------------------------------------------------

def cli_options():
    """{option name: [(model, Option), ...]} of every command-line option of a registered model, in
    the order the models and their options are declared (``hwkeras fit``'s model options, the
    per-model ``--grid`` keys)."""
    found = {}
    for model, e in _ENTRIES.items():
        for option in e.options:
            if option.cli:
                found.setdefault(option.name, []).append((model, option))
    return found


def option_type(name):
    """float, int or str: how the command line parses option ``name``."""
    return cli_options()[name][0][1].type


def _models_text(models):
    """'vae/beta-vae'; a whole family of names (bf-vae-0, bf-vae-1, bf-vae-2) as 'bf-vae-*'."""
    names, shown = list(models), []
    for model in names:
        if "-" in model:
            stem = model.rsplit("-", 1)[0] + "-"
            family = [n for n in _ENTRIES if n.startswith(stem) and n.count("-") == model.count("-")]
            if len(family) > 1 and set(family) <= set(names):
                if stem + "*" not in shown:
                    shown.append(stem + "*")
                continue
        shown.append(model)
    return "/".join(shown)


def _value_text(value):
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return str(value)


def _grouped(pairs):
    """[(key, [model, ...]), ...] in first-seen order of the keys."""
    groups = {}
    for model, key in pairs:
        groups.setdefault(key, []).append(model)
    return list(groups.items())


def option_help(name):
    """The help of command-line option ``name``: which models take it and what it is to each, then
    its default, e.g. ``vae/beta-vae: KL weight; beta-tcvae: TC weight.  [vae 1, beta-vae 4, beta-tcvae 6]``."""
    takers = cli_options()[name]
    what = "; ".join(f"{_models_text(models)}: {text}" for text, models in
                     _grouped((model, option.help) for model, option in takers))
    defaults = _grouped((model, option.cli_default or _value_text(option.default)) for model, option in takers)
    if len(defaults) == 1:
        default = defaults[0][0]
    else:
        default = ", ".join(f"{_models_text(models)} {value}" for value, models in defaults)
    return f"{what}.  [{default}]"
