"""A sweep's trials: each selected model with every combination of the grid values it takes, per seed.

A grid key is an option of ``hwkeras fit``. A model's own option (``nu``, ``beta``, ``gamma``, ...:
a constructor argument in ``hwkeras.models.model_options``) applies to the selected models that
take it, e.g. ``nu`` to chyvae and ``beta`` to vae, beta-vae and beta-tcvae; any other option
(``learning_rate``, ``latent_dim``, ...) applies to every model. Trial names are the sweep
directory's contract (docs/REPORTS.md): ``<model>[-<key>=<value>...]-seed<seed>``, keys sorted,
and a configuration is a trial name without its ``-seed<seed>``.
"""

import itertools
import re
from dataclasses import dataclass, field
from typing import Optional

#: Values must make plain directory names.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class Trial:
    name: str
    configuration: str
    model: str
    seed: int
    values: dict = field(default_factory=dict)  # grid key -> value, only the keys this model takes
    #: Model options every trial of the configuration has but its name leaves out (a study's fixed ones).
    fixed: dict = field(default_factory=dict)
    #: A study's trial: which model of the study it is (``hwkeras.sweep.study.trials``); None otherwise.
    study: Optional[dict] = None


def normalise_key(key):
    """``eta-s`` and ``--eta-s`` -> ``eta_s`` (options are written both ways)."""
    return key.strip().lstrip("-").replace("-", "_")


def format_value(value):
    """A grid value as trial names spell it: ``200.0`` -> ``200``, ``1e-4`` -> ``0.0001``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_grid(pairs, convert):
    """``("nu=20,200", "beta=1,4")`` -> ``{"nu": [20.0, 200.0], "beta": [1.0, 4.0]}``.

    ``convert(key, text)`` returns a value of the option's type or raises ValueError (the
    unknown keys too). Raises a one-line ValueError for anything malformed.
    """
    grid = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = normalise_key(key)
        if not sep or not key:
            raise ValueError(f"--grid {pair!r} is not KEY=V1,V2,...; e.g. --grid nu=20,200")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice; list all its values once, e.g. {key}=1,2,3")
        texts = [text.strip() for text in values.split(",") if text.strip()]
        if not texts:
            raise ValueError(f"--grid {key}= has no values; give at least one, e.g. --grid {key}=1,2")
        parsed = [convert(key, text) for text in texts]
        names = [format_value(v) for v in parsed]
        for value, name in zip(texts, names):
            if not _SAFE_VALUE.match(name):
                raise ValueError(f"--grid {key}: value {value!r} cannot be part of a directory name; "
                                 f"use letters, digits and . _ + - only")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"--grid {key} lists {', '.join(repeated)} more than once (values are "
                             f"compared as trial names write them, e.g. 200.0 = 200)")
        grid[key] = parsed
    return grid


def check_applies(grid, fixed, models, takes, model_keys):
    """Each model option, in the grid or fixed (given once for all trials), applies to a selected model.

    ``takes(model, key)``: whether ``model`` has the constructor option ``key``; ``model_keys``:
    every model option of the registry (the keys that apply per model).
    """
    for key in list(grid) + list(fixed):
        where = "--grid " + key if key in grid else "--" + key.replace("_", "-")
        if key in grid and key in fixed:
            raise ValueError(f"--{key.replace('_', '-')} and --grid {key} are both given; keep one")
        if key in model_keys and not any(takes(model, key) for model in models):
            raise ValueError(f"{where}: none of the selected models ({', '.join(models)}) takes {key}; "
                             f"add a --model that does, or drop it")


def expand(models, grid, seeds, takes, model_keys):
    """Every trial, models in the given order, then the grid's combinations, then the seeds."""
    trials = []
    for model in models:
        keys = sorted(k for k in grid if k not in model_keys or takes(model, k))
        for combination in itertools.product(*(grid[k] for k in keys)):
            values = dict(zip(keys, combination))
            configuration = model + "".join(f"-{k}={format_value(v)}" for k, v in values.items())
            for seed in seeds:
                trials.append(Trial(f"{configuration}-seed{seed}", configuration, model, seed, values))
    return trials


def check_seeds(seeds):
    """``--seeds N``: seeds 0 .. N-1."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"--seeds must be a positive number of seeds per configuration (seeds 0 .. N-1), "
                         f"got {seeds!r}")
    return list(range(seeds))
