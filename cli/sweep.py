"""``hwkeras sweep``: models x grid x seeds, each trial an ``hwkeras fit`` run, on Ray Tune; then
the metrics, the tables, UDR and the unsupervised choice.

    hwkeras sweep --model chyvae --grid nu=20,200 --model beta-vae --grid beta=1,4 --seeds 3 \\
        --steps 5000 --evaluate factor_vae,mig --output-dir sweeps/nu-beta
    hwkeras sweep --resume sweeps/nu-beta      # finishes a killed sweep; finished trials are kept
    hwkeras sweep sweeps/nu-beta --select      # the trial UDR chooses, and how the metrics rank it

Every ``hwkeras fit`` option is accepted (``fit_command``'s own option objects, validated by its
``plan_fit``) except those a sweep sets per trial: --model (repeatable here), --seed (--seeds),
--output-dir (the sweep's), --run-name, and the export (``hwkeras export DIR/trials/<trial>``
exports a trial). docs/SWEEPS.md explains the directory, the GPU sharing and the selection.
"""

import contextlib
import datetime
import importlib.util
import os
from dataclasses import dataclass

import click

from hwkeras.cli.common import Command, InputError, examples, one_line, parse_metric_params
from hwkeras.cli.fit import fit_command
from hwkeras.models import cli_options
from hwkeras.sweep.results import UDR_COLUMNS

#: ``hwkeras fit`` options a sweep sets itself, per trial or never.
#: Per-trial fit options (the sweep sets them), and fit's --resume (the sweep's --resume resumes its trials).
PER_TRIAL = ("model", "seed", "output_dir", "run_name", "export_dir", "no_export", "resume")
FIT_PARAMS = [p for p in fit_command.params if p.name not in PER_TRIAL]
#: Fit options that may vary across trials besides the models' own (nu, beta, gamma, ...): not the
#: dataset or image size, since UDR and the held-out NLL compare trials on the same images.
SHARED_GRID_KEYS = ("preset", "architecture", "latent_dim", "batch_size", "steps", "learning_rate", "hidden_units")
#: How the trials were run: kept in sweep.json, so that --resume runs them the same way unless told.
REMEMBERED = ("max_concurrent", "gpus_per_trial", "cpus_per_trial")
#: Options that say how to run, not what: the only ones --resume and --select accept.
EXECUTION = ("max_concurrent", "gpus_per_trial", "cpus_per_trial", "address", "time_budget", "backend",
             "no_report", "tradeoff_metric", "select_by", "sweep_dir", "resume", "select")


@click.command("sweep", cls=Command, epilog=examples(
    'hwkeras sweep --model chyvae --grid nu=20,200 --model beta-vae --grid beta=1,4 --seeds 3 --steps 5000',
    'hwkeras sweep --resume sweeps/nu-beta       # finishes a stopped sweep; finished trials are kept',
    'hwkeras sweep sweeps/nu-beta --select       # the trial UDR chooses, and how the metrics rank it',
))
@click.argument("sweep_dir", required=False, type=click.Path(file_okay=False))
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model to train (repeatable).  [chyvae]")
@click.option("--grid", "grid_pairs", multiple=True, metavar="KEY=V1,V2,...",
              help=f"Values of a fit option to try (repeatable), e.g. nu=20,200; a model's own option "
                   f"({', '.join(cli_options())}) applies to the models that take it; "
                   f"{', '.join(SHARED_GRID_KEYS)} to every model.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per configuration (0 .. N-1).")
@click.option("--evaluate", "evaluate", default="factor_vae,mig", show_default=True,
              help="Metrics after training: names (under every protocol where they differ: factor_vae under "
                   "dlib and chyvae), PROTOCOL.NAME (chyvae.factor_vae, dlib.mig), 'all' or 'none'.")
@click.option("--evaluate-param", "evaluate_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller metric samples for a quick look, e.g. factor_vae.num_train=500 (repeatable).")
@click.option("--nll-images", type=int, default=1000, show_default=True,
              help="Held-out images for the reconstruction NLL (a fixed sample, the same for every trial).")
@click.option("--udr-images", type=int, default=1000, show_default=True,
              help="Images UDR compares the trials' codes on (disentanglement_lib's 1000; a multiple of 10).")
@click.option("--max-concurrent", type=int, help="Trials at once.  [as many as the CPUs and GPUs allow]")
@click.option("--gpus-per-trial", type=float,
              help="GPU share of a trial, e.g. 0.25 for 4 trials per GPU.  [the GPUs divided among "
                   "--max-concurrent trials; 0 without GPUs]")
@click.option("--cpus-per-trial", type=float, default=1.0, show_default=True, help="CPUs Ray reserves per trial.")
@click.option("--address", help="Join this Ray cluster (e.g. auto or HOST:6379).  [a local Ray of this sweep's own]")
@click.option("--time-budget", type=float, metavar="SECONDS",
              help="Stop the trials still running after this long; --resume runs them again.")
@click.option("--output-dir", type=click.Path(file_okay=False),
              help="The new sweep's directory.  [sweeps/DATASET-TIMESTAMP]")
@click.option("--tradeoff-metric", help="tradeoff.png's disentanglement axis, e.g. chyvae.factor_vae.  "
                                        "[the first headline metric]")
@click.option("--resume", is_flag=True, help="Finish the sweep in SWEEP_DIR: run its unfinished trials.")
@click.option("--select", is_flag=True, help="Print the trial SWEEP_DIR's UDR chooses (writes selection.json).")
@click.option("--select-by", type=click.Choice(UDR_COLUMNS), default="udr_lasso", show_default=True,
              help="The UDR column that chooses.")
@click.pass_context
def sweep_command(ctx, sweep_dir, resume, select, select_by, **options):
    """Train many models (models x grid x seeds) on Ray Tune, measure them, and choose one by UDR."""
    given = [p for p in ctx.command.params
             if ctx.get_parameter_source(p.name) in (click.core.ParameterSource.COMMANDLINE,
                                                     click.core.ParameterSource.ENVIRONMENT)]
    if resume or select:
        mode = "--resume" if resume else "--select"
        if resume and select:
            raise InputError("--resume and --select are separate steps; a finished --resume also selects")
        if sweep_dir is None:
            raise InputError(f"{mode} needs the sweep's directory: hwkeras sweep {mode} SWEEP_DIR")
        extra = [p.opts[0] for p in given if p.name not in EXECUTION]
        if extra:
            raise InputError(f"{mode} takes the sweep's settings from {sweep_dir}/sweep.json; drop {', '.join(extra)}")
        if select:
            return select_only(sweep_dir, select_by)
    elif sweep_dir is not None:
        raise InputError(f"a new sweep's directory is --output-dir {sweep_dir}; SWEEP_DIR alone is for "
                         f"--resume and --select")
    check_ray_installed()
    from hwkeras.sweep import directory

    if resume:
        try:
            spec = directory.read_spec(sweep_dir)
        except ValueError as exc:
            raise InputError(one_line(exc)) from None
        if ctx.get_parameter_source("backend") != click.core.ParameterSource.COMMANDLINE and spec.get("backend"):
            os.environ["KERAS_BACKEND"] = spec["backend"]  # the sweep's own, unless --backend says otherwise
        for name, value in spec.get("execution", {}).items():  # --max-concurrent etc.: as before, unless given
            if name in REMEMBERED and all(p.name != name for p in given):
                options[name] = value
    else:
        sweep_dir = options["output_dir"] or default_output_dir(options)
        if os.path.exists(sweep_dir) and (not os.path.isdir(sweep_dir) or os.listdir(sweep_dir)):
            if os.path.isfile(os.path.join(sweep_dir, directory.SWEEP_JSON)):
                raise InputError(f"{sweep_dir} already exists; hwkeras sweep --resume {sweep_dir} finishes that "
                                 f"sweep, or choose another --output-dir")
            from hwkeras.outputs import what_is_at

            # Not "--resume it": that would only answer that it is not a sweep directory.
            raise InputError(f"--output-dir {sweep_dir} is {what_is_at(sweep_dir)}, not a sweep; a new sweep needs "
                             f"a new or empty --output-dir")
        spec = spec_from_options(options)
    plan = plan_sweep(spec, sweep_dir)
    check_ray_tune()
    from hwkeras.cli.sweep_run import run_sweep

    run_sweep(plan, options, select_by, new=not resume)


for _param in FIT_PARAMS:
    sweep_command.params.append(_param)


def check_ray_installed():
    """At once: Ray is there, or one line saying what to install (importing it takes a second or two)."""
    if importlib.util.find_spec("ray") is None:
        raise InputError("hwkeras sweep runs on Ray Tune, which is not installed: pip install 'hwkeras[sweep]'")


def check_ray_tune():
    """Ray Tune and what it needs (pandas, pyarrow, ...) import, or one line saying what to install."""
    check_ray_installed()
    from hwkeras.sweep.runner import _quiet_ray

    _quiet_ray()
    try:
        importlib.import_module("ray.tune")
    except ImportError as exc:
        raise InputError(f"Ray Tune does not import ({one_line(exc)}): pip install 'hwkeras[sweep]'") from None


def select_only(sweep_dir, select_by):
    from hwkeras.sweep import directory, selection

    try:
        spec = directory.read_spec(sweep_dir)
        rows, summary_rows = directory.read_tables(sweep_dir)
        chosen = selection.select(rows, summary_rows, select_by, spec["metric_columns"])
    except ValueError as exc:
        raise InputError(one_line(exc)) from None
    path = directory.write_selection(sweep_dir, chosen)
    for line in selection.describe(chosen):
        click.echo(line)
    click.echo(f"Wrote {path}")


# --------------------------------------------------------------------------------------------
# Validation: the sweep's options -> the trials' fit option dicts.
# --------------------------------------------------------------------------------------------

SWEEP_OPTIONS = ("models", "grid_pairs", "seeds", "evaluate", "evaluate_params", "nll_images", "udr_images",
                 "max_concurrent",
                 "gpus_per_trial", "cpus_per_trial", "address", "time_budget", "output_dir", "tradeoff_metric")


@dataclass
class SweepPlan:
    """What ``plan_sweep`` validated: the trials and the fit options of each."""

    sweep_dir: str
    spec: dict  # sweep.json
    trials: list
    options: dict  # trial name -> hwkeras fit's option dict


def spec_from_options(options):
    """A new sweep's sweep.json from the command line (checked further by ``plan_sweep``)."""
    from hwkeras.devices import select_backend
    from hwkeras.sweep import grid, measure

    try:
        models = list(options["models"]) or ["chyvae"]
        repeated = sorted({m for m in models if models.count(m) > 1})
        if repeated:
            raise ValueError(f"--model {', '.join(repeated)} is given more than once")
        grid.check_seeds(options["seeds"])
        from hwkeras.sweep.directory import model_keys

        keys = model_keys()
        values = grid.parse_grid(options["grid_pairs"], lambda key, text: convert_grid_value(key, text, keys))
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
        raise InputError(one_line(exc)) from None
    fit_options = {k: v for k, v in options.items()
                   if k not in SWEEP_OPTIONS and v is not None and v is not False and v != ()}
    fit_options = {k: list(v) if isinstance(v, tuple) else v for k, v in absolute_paths(fit_options).items()}
    return {"models": models, "grid": values, "seeds": options["seeds"], "fit_options": fit_options,
            "evaluate": list(dict.fromkeys(m for _, m in columns)),
            "protocols": list(dict.fromkeys(p for p, _ in columns)),
            "metric_columns": [measure.column(p, m) for p, m in columns], "evaluate_params": params,
            "nll_images": options["nll_images"], "udr": udr,
            "backend": select_backend(None), "execution": {name: options[name] for name in REMEMBERED}}


def plan_sweep(spec, sweep_dir):
    """Checks every configuration as ``hwkeras fit`` would (its ``plan_fit``, models built on the CPU)
    before anything is written or Ray started; InputError (one line) for bad input."""
    from hwkeras.cli.common import start_keras
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
        raise InputError(one_line(exc)) from None
    return SweepPlan(sweep_dir, spec, trials, options)


def fit_param(key):
    return next((p for p in FIT_PARAMS if p.name == key), None)


def convert_grid_value(key, text, model_keys):
    param = fit_param(key)
    if param is None or (key not in model_keys and key not in SHARED_GRID_KEYS):
        keys = sorted(k for k in model_keys | set(SHARED_GRID_KEYS) if fit_param(k) is not None)
        raise ValueError(f"--grid {key}: not an option a sweep can vary; grid keys are {', '.join(keys)}")
    try:
        return param.type.convert(text, param, None)
    except click.BadParameter as exc:
        raise ValueError(f"--grid {key}={text}: {one_line(exc.message)}") from None


def fit_defaults():
    """Every fit option at its default, as ``hwkeras fit`` would start from."""
    from hwkeras.runs.plan import DEFAULTS

    return dict(DEFAULTS)


def trial_options(fit_options, trial, sweep_dir, model_keys):
    """The option dict ``hwkeras fit`` would get for this trial (``plan_fit``'s input)."""
    from hwkeras.sweep.directory import takes
    from hwkeras.sweep.results import TRIALS

    options = {**fit_defaults(), **fit_options}
    for key in model_keys:
        if key in options and not takes(trial.model, key):
            options[key] = None  # a fixed model option applies to the models that take it
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
    from hwkeras.cli.sweep_trial import compilation_cache_environment

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
