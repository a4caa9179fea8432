"""What a sweep will be: its options checked, its sweep.json (the spec) and every trial's fit options.

``spec_from_options(options)`` turns a new sweep's options (``hwkeras sweep``'s, or ``hwkeras.run_sweep``'s
by name) into its spec; ``plan_sweep(spec, sweep_dir)`` checks every configuration as ``hwkeras fit``
would (``check_fit`` before Keras, then ``plan_fit`` on the CPU) before anything is written or Ray
started. Bad input raises ``UserError`` (one line naming the fix). The grid's keys and their types come
from the registries (``hwkeras.models``) and ``SHARED_GRID_KEYS``, not from the command line.
"""

import contextlib
import datetime
import os
from dataclasses import dataclass

from hwkeras.errors import UserError
from hwkeras.files import one_line

#: Fit options that may vary across trials besides the models' own (nu, beta, gamma, ...), with their
#: types: not the dataset or image size, since UDR and the held-out NLL compare trials on the same images.
SHARED_GRID_KEYS = {"preset": str, "architecture": str, "latent_dim": int, "batch_size": int, "steps": int,
                    "learning_rate": float, "hidden_units": int}
#: The sweep's own options (the rest of a new sweep's options are the trials' fit options).
SWEEP_OPTIONS = ("models", "grid", "grid_pairs", "seeds", "evaluate", "evaluate_params", "nll_images", "udr_images",
                 "max_concurrent", "gpus_per_trial", "cpus_per_trial", "address", "time_budget", "output_dir",
                 "tradeoff_metric", "study", "model_num", "with_methods")
#: Fit options a sweep sets itself, per trial or never (fit's --resume: the sweep's resume resumes its trials).
PER_TRIAL = ("model", "seed", "output_dir", "run_name", "export_dir", "no_export", "resume")
#: How the trials were run: kept in sweep.json, so that a resumed sweep runs them the same way unless told.
REMEMBERED = ("max_concurrent", "gpus_per_trial", "cpus_per_trial")
#: A new sweep's options and their defaults (``hwkeras sweep``'s click options take these).
SWEEP_DEFAULTS = {"models": (), "grid": None, "grid_pairs": (), "seeds": 3, "evaluate": "factor_vae,mig",
                  "evaluate_params": (), "nll_images": 1000, "udr_images": 1000, "max_concurrent": None,
                  "gpus_per_trial": None, "cpus_per_trial": 1.0, "address": None, "time_budget": None,
                  "output_dir": None, "tradeoff_metric": None, "study": None, "model_num": None, "with_methods": ()}


@dataclass
class SweepPlan:
    """What ``plan_sweep`` validated: the trials and the fit options of each."""

    sweep_dir: str
    spec: dict  # sweep.json
    trials: list
    options: dict  # trial name -> hwkeras fit's option dict


def grid_keys():
    """{key: type} of every option a sweep's grid may vary: the models' own and ``SHARED_GRID_KEYS``."""
    from hwkeras.models import cli_options, option_type

    return {**{key: option_type(key) for key in cli_options()}, **SHARED_GRID_KEYS}


def convert_grid_value(key, value):
    """A grid value (a command line's text or a script's number) as the option's type; ValueError names the key."""
    from hwkeras.presets import PRESETS

    keys = grid_keys()
    if key not in keys:
        raise ValueError(f"--grid {key}: not an option a sweep can vary; grid keys are {', '.join(sorted(keys))}")
    kind = keys[key]
    if kind is str:
        converted = str(value)
        if key == "preset" and converted not in PRESETS:
            raise ValueError(f"--grid preset={converted}: not a preset; presets are {', '.join(PRESETS)}")
        if key == "architecture":
            from hwkeras.architectures import check_architecture

            check_architecture(converted)
        return converted
    try:
        converted = kind(value)
        if kind is int and isinstance(value, float) and converted != value:
            raise ValueError
    except (TypeError, ValueError):
        kind_name = {int: "integer", float: "float"}[kind]  # click's names, as fit's options say them
        raise ValueError(f"--grid {key}={value}: {value!r} is not a valid {kind_name}") from None
    return converted


def parse_grid(options):
    """The grid of a new sweep: ``grid`` ({key: [values]}, from a script) or ``grid_pairs`` (KEY=V1,V2 texts)."""
    from hwkeras.sweep import grid

    given = options.get("grid")
    if given and options.get("grid_pairs"):
        raise ValueError("give the grid once: grid={...} or grid_pairs=('KEY=V1,V2', ...), not both")
    if given:
        if not isinstance(given, dict):
            raise ValueError(f"grid must be a dict of option name -> list of values, e.g. {{'beta': [1, 4]}}; "
                             f"got {type(given).__name__}")
        pairs = [f"{key}={','.join(str(v) for v in (values if isinstance(values, (list, tuple)) else [values]))}"
                 for key, values in given.items()]
        return grid.parse_grid(pairs, convert_grid_value)
    return grid.parse_grid(options.get("grid_pairs") or (), convert_grid_value)


def spec_from_options(options):
    """A new sweep's sweep.json from its options (checked further by ``plan_sweep``); UserError for bad input."""
    from hwkeras.devices import select_backend
    from hwkeras.metrics.evaluate import parse_metric_params
    from hwkeras.sweep import grid, measure

    study_seeds = options.get("seeds")  # a study's default is all its seeds, not SWEEP_DEFAULTS'
    options = {**SWEEP_DEFAULTS, **options}
    try:
        if options["study"] is not None:
            chosen, models, values, seeds = study_selection(options, study_seeds)
        elif options["model_num"] is not None or options["with_methods"]:
            raise ValueError("--model-num and --with belong to --study unsupervised_study_v1; other sweeps take "
                             "--model and --grid")
        else:
            chosen, models, seeds = None, list(options["models"]) or ["chyvae"], options["seeds"]
            repeated = sorted({m for m in models if models.count(m) > 1})
            if repeated:
                raise ValueError(f"--model {', '.join(repeated)} is given more than once")
            grid.check_seeds(seeds)
            values = parse_grid(options)
        columns = measure.metric_columns(options["evaluate"])
        params = parse_metric_params(options["evaluate_params"], "--evaluate-param")
        measure.check_metric_params(columns, params)
        if options["nll_images"] < 1:
            raise ValueError(f"--nll-images must be a positive number of images, got {options['nll_images']}")
        udr = dict(measure.UDR_SETTINGS, num_data_points=options["udr_images"])
        if udr["num_data_points"] < udr["batch_size"] or udr["num_data_points"] % udr["batch_size"]:
            raise ValueError(f"--udr-images must be a positive multiple of {udr['batch_size']} (UDR encodes batches "
                             f"of {udr['batch_size']}), got {options['udr_images']}")
        if options["max_concurrent"] is not None and options["max_concurrent"] < 1:
            raise ValueError(f"--max-concurrent must be at least 1, got {options['max_concurrent']}")
        if options["time_budget"] is not None and options["time_budget"] <= 0:
            raise ValueError(f"--time-budget must be a positive number of seconds, got {options['time_budget']:g}")
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    fit_options = {k: v for k, v in options.items()
                   if k not in SWEEP_OPTIONS and v is not None and v is not False and v != ()}
    fit_options = {k: list(v) if isinstance(v, tuple) else v for k, v in absolute_paths(fit_options).items()}
    return {"models": models, "grid": values, "seeds": seeds, **({"study": chosen} if chosen else {}),
            "fit_options": fit_options,
            "evaluate": list(dict.fromkeys(m for _, m in columns)),
            "protocols": list(dict.fromkeys(p for p, _ in columns)),
            "metric_columns": [measure.column(p, m) for p, m in columns], "evaluate_params": params,
            "nll_images": options["nll_images"], "udr": udr,
            "backend": select_backend(None), "execution": {name: options[name] for name in REMEMBERED}}


def study_selection(options, seeds):
    """A study sweep (``study``: its name; ``dataset``, ``model_num``, ``models``, ``seeds``, ``with_methods``
    choose its models, ``hwkeras.sweep.study.selection``): (sweep.json's study, models, grid, number of
    seeds). Sets ``options``' dataset, preset and architecture to the study's; the study's own choices
    (models' options, grid, another preset or architecture) are refused in one line."""
    from hwkeras.models import cli_options
    from hwkeras.sweep import study

    if options["grid"] or options["grid_pairs"]:
        raise ValueError("--study chooses the hyperparameters; drop --grid (--models and --seeds choose among "
                         "the study's)")
    own = [k for k in cli_options() if options.get(k) is not None]
    if own:
        raise ValueError(f"--study sets the models' options; drop {', '.join('--' + k.replace('_', '-') for k in own)}")
    for key, value, what in (("preset", study.PRESET, "training"),
                             ("architecture", study.ARCHITECTURE, "architecture")):
        if options.get(key) not in (None, value):
            raise ValueError(f"--study trains disentanglement_lib's {what} (--{key} {value}); drop --{key} "
                             f"{options[key]}")
    chosen = study.selection(options["study"], options.get("dataset"), options["model_num"],
                             list(options["models"]) or None, seeds, tuple(options["with_methods"] or ()))
    configurations = study.configurations_of(chosen)
    options.update(dataset=chosen["dataset"], preset=study.PRESET, architecture=study.ARCHITECTURE)
    return (chosen, list(dict.fromkeys(c["model"] for c in configurations)), study.grid_of(configurations),
            len({c["seed"] for c in configurations}))


def check_fit_options(fit_options):
    """A script's fit options for every trial: ``hwkeras fit``'s names, none of those a sweep sets itself."""
    from hwkeras.runs.plan import DEFAULTS

    unknown = sorted(set(fit_options) - set(DEFAULTS) - set(SWEEP_OPTIONS))
    if unknown:
        raise UserError(f"a sweep takes no option {', '.join(unknown)}; its options are its own "
                        f"({', '.join(SWEEP_OPTIONS)}) and hwkeras fit's")
    per_trial = sorted(set(fit_options) & set(PER_TRIAL) - {"output_dir"})
    if per_trial:
        raise UserError(f"a sweep sets {', '.join(per_trial)} per trial itself; drop "
                        f"{'it' if len(per_trial) == 1 else 'them'} (models=..., seeds=N for the seeds)")


def check_new_sweep_dir(sweep_dir):
    """A new sweep's directory: new or empty; UserError otherwise (an existing sweep is resumed instead)."""
    from hwkeras.sweep.directory import SWEEP_JSON

    if os.path.exists(sweep_dir) and (not os.path.isdir(sweep_dir) or os.listdir(sweep_dir)):
        if os.path.isfile(os.path.join(sweep_dir, SWEEP_JSON)):
            raise UserError(f"{sweep_dir} already exists; hwkeras sweep --resume {sweep_dir} finishes that "
                            f"sweep, or choose another --output-dir")
        from hwkeras.outputs import what_is_at

        # Not "--resume it": that would only answer that it is not a sweep directory.
        raise UserError(f"--output-dir {sweep_dir} is {what_is_at(sweep_dir)}, not a sweep; a new sweep needs "
                        f"a new or empty --output-dir")


def plan_sweep(spec, sweep_dir):
    """Checks every configuration as ``hwkeras fit`` would (its ``plan_fit``, models built on the CPU)
    before anything is written or Ray started; UserError (one line) for bad input."""
    from hwkeras.frameworks import start_keras
    from hwkeras.models import check_model_name
    from hwkeras.runs.plan import check_fit, plan_fit
    from hwkeras.sweep import directory, grid

    try:
        for model in spec["models"]:
            check_model_name(model)
        keys = directory.model_keys()
        fixed = {k: v for k, v in spec["fit_options"].items() if k in keys}
        grid.check_applies(spec["grid"], fixed, spec["models"], directory.takes, keys)
        trials = directory.trials_of(spec)
        options = {t.name: trial_options(spec["fit_options"], t, sweep_dir, keys) for t in trials}
        # plan_fit only checks that the run directory does not exist yet: point it where none is.
        nowhere = os.path.join(os.path.abspath(sweep_dir), ".not-a-directory")
        configurations = [{**options[t.name], "output_dir": nowhere}
                          for t in {t.configuration: t for t in reversed(trials)}.values()]
        checked = [check_fit(fit_options) for fit_options in configurations]  # before Keras loads: at once
        if spec["metric_columns"]:
            from hwkeras.metrics.utils import check_ground_truth_data

            try:
                check_ground_truth_data(checked[0].dataset)
            except ValueError as exc:
                raise ValueError(f"--evaluate: {one_line(exc)}; pass --evaluate none (UDR needs no factors)") from None
        with accelerators_hidden():
            start_keras()
            for fit_options, checks in zip(configurations, checked):
                plan_fit(fit_options, checks)  # what only building the model can find
    except (ValueError, FileExistsError) as exc:
        raise UserError(one_line(exc)) from None
    return SweepPlan(sweep_dir, spec, trials, options)


def trial_options(fit_options, trial, sweep_dir, model_keys):
    """The option dict ``hwkeras fit`` would get for this trial (``plan_fit``'s input)."""
    from hwkeras.runs.plan import DEFAULTS
    from hwkeras.sweep.directory import takes
    from hwkeras.sweep.results import TRIALS

    options = {**DEFAULTS, **fit_options}
    for key in model_keys:
        if key in options and not takes(trial.model, key):
            options[key] = None  # a fixed model option applies to the models that take it
    options.update(trial.fixed)
    options.update(trial.values)
    options.update(model=trial.model, seed=trial.seed, run_name=trial.name,
                   output_dir=os.path.join(os.path.abspath(sweep_dir), TRIALS), no_export=True, export_dir=None,
                   no_report=True)  # the trial writes its page after the metrics
    return options


@contextlib.contextmanager
def accelerators_hidden():
    """The driver checks the trials' options by building their models on the CPU: the GPUs are the trials'.

    Set only while Keras first loads; Ray is started afterwards, from the restored environment.
    """
    from hwkeras.sweep.trial import compilation_cache_environment

    saved = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS")}
    os.environ.update(CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    for key, value in compilation_cache_environment().items():
        os.environ.setdefault(key, value)  # the checks build every configuration's model: the cache serves them
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def absolute_paths(fit_options):
    """Trials run in Ray's workers, whose working directory is not this one."""
    out = dict(fit_options)
    if out.get("data_dir"):
        out["data_dir"] = os.path.abspath(os.path.expanduser(out["data_dir"]))
    if out.get("psi") and os.path.isfile(str(out["psi"])):
        out["psi"] = os.path.abspath(out["psi"])
    return out


def default_output_dir(fit_options):
    return os.path.join("sweeps", "{}-{}".format(fit_options.get("dataset") or "sweep",
                                                 datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
