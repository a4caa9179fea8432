"""``hwkeras fit``: options, validation, training, artefacts, export.

Everything the user gave is validated (``plan_fit``) before anything is written or trained; past
validation a failure is a bug and keeps its traceback. The run directory holds config.json,
model.keras, history.csv, TensorBoard logs and pictures; the SavedModel goes to EXPORT_DIR.
"""

import datetime
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import click

from hwkeras.cli.common import (InputError, backend_option, check_creatable_dir, check_plain_name, examples,
                                one_line, parse_metric_params)
from hwkeras.devices import DISTRIBUTIONS, PRECISIONS, check_distribution
from hwkeras.models import MODEL_NAMES, cli_options, option_help, option_type
from hwkeras.presets import PRESETS
from hwkeras.runs import layout

STEPS_PER_EPOCH_MAX = 1000
#: --checkpoint-every's default: with the checkpoint at each epoch's end (<= 1000 steps) it costs
#: under 1% of training throughput on a CPU (docs/BENCHMARKS.md; the GPU figure is still to measure).
DEFAULT_CHECKPOINT_EVERY = 1000
#: Images the run's pictures start from (traversals from the first, reconstructions of the first 8).
PREVIEW_IMAGES = 64

#: Options of ``hwkeras fit`` that are constructor arguments of some models (``model_options``): the
#: registered models' command-line options (``hwkeras.models.cli_options``) but psi, which fit parses
#: itself (a number or a .npy file) and config.json keeps apart ("psi").
MODEL_OPTIONS = tuple(name for name in cli_options() if name != "psi")


def model_click_options(command):
    """``hwkeras fit``'s model options (--nu, --psi, --beta, ...), one per command-line option of the
    registered models, typed and described by their entries (which models take it, the defaults)."""
    for name in reversed(tuple(cli_options())):
        command = click.option(f"--{name.replace('_', '-')}", type=option_type(name), help=option_help(name))(command)
    return command


@dataclass
class FitPlan:
    """What ``plan_fit`` validated and built: everything ``train`` needs."""

    options: dict
    config: dict  # what goes to config.json
    dataset: Any
    model: Any
    evaluation: Optional[Any]  # the --eval-every callback
    run_dir: str
    export_path: Optional[str]  # None with --no-export
    epochs: int = 0
    steps_per_epoch: int = 0
    start_step: int = 0  # > 0: a resumed run (--resume) continues from ``checkpoint``
    checkpoint: Optional[Any] = None
    replace_export: bool = False  # --resume --steps extends a finished run: its export is renewed

    @property
    def total_steps(self):
        """The step training ends at: --steps exactly (the last epoch is cut short when it must be)."""
        return int(self.config["steps"])


# --------------------------------------------------------------------------------------------
# Validation: options -> FitPlan.
# --------------------------------------------------------------------------------------------

def parse_psi(value, latent_dim):
    """--psi: a number c (c * I) or a .npy file holding a (p, p) matrix; None for the default."""
    import numpy as np

    if value is None:
        return None
    try:
        return float(value) * np.eye(latent_dim)
    except ValueError:
        pass
    if not os.path.isfile(value):
        raise InputError(f"--psi {value!r} is neither a number (a multiple of I) nor an existing .npy file")
    try:
        return np.load(value)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise InputError(f"--psi {value!r} could not be read as a .npy array ({exc.__class__.__name__})") from None


def resolve_options(options):
    """Fills options left unset from the preset and the dataset; returns the run's config dict."""
    from hwkeras.data.registry import DATASETS

    config = dict(PRESETS[options["preset"]])
    for key in ("latent_dim", "batch_size", "steps", "learning_rate"):
        if options.get(key) is not None:
            config[key] = options[key]
    for key in ("model", "dataset", "data_dir", "preset", "image_size", "seed", "psi", "hidden_units",
                "precision", "distribute"):
        config[key] = options.get(key)
    if config["hidden_units"] is None and config["dataset"] in DATASETS:
        config["hidden_units"] = DATASETS[config["dataset"]].hidden_units
    for key in ("batch_size", "steps", "latent_dim", "hidden_units"):
        if config[key] is not None and config[key] < 1:  # hidden_units None: a dataset without a default
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer, got {config[key]}")
    if not math.isfinite(config["learning_rate"]) or config["learning_rate"] <= 0:
        raise ValueError(f"--learning-rate must be a finite positive number, got {config['learning_rate']}")
    if os.environ.get("KERAS_BACKEND"):  # else Keras may read ~/.keras/keras.json: checked once it runs
        check_distribution(config["distribute"], os.environ["KERAS_BACKEND"])
    # The model's own options: only those the user gave; the rest take the model's defaults.
    config["model_options"] = {k: options[k] for k in MODEL_OPTIONS if options.get(k) is not None}
    for key, value in config["model_options"].items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{key.replace('_', '-')} must be a finite number, got {value}")
    return config


def build_run_model(config, dataset, psi):
    """The model named in ``config`` with the user's options; warnings shown as one line each."""
    from hwkeras.models import build_model, model_options

    model_kwargs = dict(config["model_options"])
    if psi is not None:
        model_kwargs["psi"] = psi
    if "dataset_size" in model_options(config["model"]) and "dataset_size" not in model_kwargs \
            and hasattr(dataset, "__len__"):
        model_kwargs["dataset_size"] = len(dataset)  # N of BF-VAE's 1/N KL(q(alpha) || p(alpha))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(config["model"], latent_dim=config["latent_dim"],
                            image_shape=dataset.observation_shape, hidden_units=config["hidden_units"],
                            seed=config["seed"], dtype=config.get("precision"), **model_kwargs)
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    return model


def check_evaluation(options, dataset):
    """--eval-every's metrics and parameters, checked before Keras loads: (names, params) or None."""
    if options.get("eval_every") is None:
        return None
    if options["eval_every"] < 1:
        raise ValueError("--eval-every must be a positive number of steps")
    from hwkeras.metrics.evaluate import metric_parameters, parse_metric_names
    from hwkeras.metrics.utils import check_ground_truth_data

    check_ground_truth_data(dataset)
    names = parse_metric_names(options["eval_metrics"])
    params = parse_metric_params(options.get("eval_params") or (), "--eval-param")
    for metric, overrides in params.items():
        if metric not in names:
            raise ValueError(f"--eval-param names metric {metric!r}, which --eval-metrics does not compute")
        metric_parameters(metric, "dlib", overrides)
    return names, params


def evaluation_callback(options, dataset, evaluation):
    """The --eval-every callback (None without the option); ``evaluation`` from ``check_evaluation``."""
    if evaluation is None:
        return None
    from hwkeras.runs.callbacks import DisentanglementCallback

    names, params = evaluation
    return DisentanglementCallback(dataset, names, params=params, seed=options["seed"],
                                   log=lambda line: click.echo(f"\n{line}"))


def check_outputs(options, run_name):
    """(run directory, export path or None): both new, inside their parents, creatable; checked first."""
    check_plain_name(run_name, "--run-name")
    check_creatable_dir(options["output_dir"], "--output-dir")
    run_dir = os.path.join(options["output_dir"], run_name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"run directory {run_dir} already exists; choose another --run-name "
                              f"(or continue it: hwkeras fit --resume {run_dir})")
    if options["no_export"]:
        return run_dir, None
    check_creatable_dir(options["export_dir"], "--export-dir")
    export_path = os.path.join(options["export_dir"], run_name)
    if os.path.exists(export_path):
        raise FileExistsError(f"{export_path} already exists; choose another --run-name or --export-dir")
    return run_dir, export_path


def check_memory(config, image_shape):
    """A one-line error, before anything is allocated, for sizes that cannot fit in memory."""
    from hwkeras.resources import check_fits, model_training_bytes

    shares = model_training_bytes(config["model"], config["latent_dim"], config["hidden_units"], image_shape,
                                  config["batch_size"], config["model_options"])
    given = {f"--{key.replace('_', '-')}": value for key, value in config["model_options"].items()}
    check_fits(shares, "training", values={**given, "--latent-dim": config["latent_dim"],
                                           "--hidden-units": config["hidden_units"],
                                           "--batch-size": config["batch_size"]})


def run_options(options):
    """What config.json keeps of the options that are not the model's or the data's (``--resume`` reads them)."""
    for key in ("checkpoint_every", "keep_checkpoints"):
        if options.get(key) is not None and options[key] < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer, got {options[key]}")
    return {key: options.get(key) for key in ("checkpoint_every", "keep_checkpoints", "no_report", "summary_every",
                                               "eval_every", "eval_metrics", "eval_params", "log_every")}


@dataclass
class FitChecks:
    """What ``check_fit`` checked without Keras: ``plan_fit`` goes on from here."""

    config: dict
    dataset: Any
    psi: Any
    evaluation: Optional[tuple]  # --eval-every's (metric names, parameters)
    run_dir: str
    export_path: Optional[str]


def check_fit(options):
    """Every check of ``plan_fit`` that needs no Keras, so a bad input costs a fraction of a second
    (TensorFlow, JAX or torch take seconds to load; benchmarks/bench_errors.py)."""
    from hwkeras.data import get_dataset
    from hwkeras.models import check_model_name, check_options

    config = resolve_options(options)
    config["run_options"] = run_options(options)
    check_model_name(config["model"])
    psi = parse_psi(config["psi"], config["latent_dim"])
    check_options(config["model"], {**config["model_options"], **({"psi": psi} if psi is not None else {})},
                  config["latent_dim"])
    run_name = options.get("run_name") or "{}-{}-{}".format(
        config["dataset"], config["model"], datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    run_dir, export_path = check_outputs(options, run_name)
    dataset = get_dataset(config["dataset"], data_dir=config["data_dir"], image_size=config["image_size"])
    evaluation = check_evaluation(options, dataset)
    check_memory(config, dataset.observation_shape)  # before the model allocates anything
    return FitChecks(config, dataset, psi, evaluation, run_dir, export_path)


def plan_fit(options, checks=None):
    """Validates everything and builds the model; ValueError / FileExistsError are the user's input.
    ``checks``: ``check_fit(options)`` when the caller ran it already."""
    checks = checks or check_fit(options)
    config, dataset, psi = checks.config, checks.dataset, checks.psi

    from hwkeras.cli.common import set_random_seed

    set_random_seed(config["seed"])  # loads Keras
    evaluation = evaluation_callback(options, dataset, checks.evaluation)
    from hwkeras.training import distribute

    with distribute.start(config.get("distribute"), config["batch_size"]):  # the model is built in its scope
        model = build_run_model(config, dataset, psi)
    if psi is not None:
        config["psi"] = psi.tolist()
    config["run_options"]["export_path"] = checks.export_path
    epochs, steps_per_epoch = epochs_and_steps(config, options)
    return FitPlan(options, config, dataset, model, evaluation, checks.run_dir, checks.export_path, epochs,
                   steps_per_epoch)


# --------------------------------------------------------------------------------------------
# The work.
# --------------------------------------------------------------------------------------------

def save_keras_atomically(model, path):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".model.partial-", suffix=".keras", dir=directory)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _log_data_progress():
    """Shows the data package's progress lines (cache builds, skipped files) on stderr."""
    import logging

    logger = logging.getLogger("hwkeras.data")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def epochs_and_steps(config, options):
    """(epochs, steps per epoch): one epoch per evaluation, else epochs of at most 1000 steps."""
    steps = config["steps"]
    if options.get("eval_every") is not None:  # the scores then share the losses' rows
        steps_per_epoch = options["eval_every"]
        return math.ceil(steps / steps_per_epoch), steps_per_epoch
    epochs = math.ceil(steps / STEPS_PER_EPOCH_MAX)
    return epochs, math.ceil(steps / epochs)


def describe_run(plan):
    config, model = plan.config, plan.model
    h, w, c = plan.dataset.observation_shape
    settings = {k: config["model_options"].get(k, model.get_config().get(k)) for k in MODEL_OPTIONS}
    settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in sorted(settings.items()) if v is not None and k != "dataset_size")
    return (f"hwkeras fit: {type(model).__name__} on {config['dataset']} ({h}x{w}x{c}), latent "
            f"{config['latent_dim']}{', ' + settings if settings else ''}, batch {config['batch_size']}"
            f"{' (+ as many for the discriminator)' if getattr(model, 'images_per_step', 1) == 2 else ''}, "
            f"{config['steps']} steps")


def train(plan):
    import keras
    import numpy as np

    from hwkeras.cli.fit_run import fit_with_guard, resume_from_checkpoint, training_callbacks, write_config
    from hwkeras.runs.checkpoints import remove_staging_leftovers
    from hwkeras.runs.guard import RunGuard
    from hwkeras.viz import save_reconstruction_grid, save_traversal_grid

    config, dataset, model, run_dir = plan.config, plan.dataset, plan.model, plan.run_dir
    from hwkeras.devices import backend_accelerators, describe_device

    click.echo(describe_run(plan))
    device, warning = describe_device()
    click.echo(f"Training on {device}")
    from hwkeras.training import distribute

    for line in (distribute.describe(config.get("distribute"), model),
                 "precision mixed_bfloat16" if config.get("precision") == "mixed_bfloat16" else None):
        if line:
            click.echo(f"  {line}")
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    if plan.export_path is not None and keras.backend.backend() != "tensorflow":
        from hwkeras.cli.common import TENSORFLOW_INSTALL, tensorflow_installed

        if not tensorflow_installed():  # said now, not after hours of training
            click.echo(f"Note: TensorFlow is not installed, so no SavedModel will be written at the end "
                       f"({TENSORFLOW_INSTALL}, or --no-export); model.keras is written as usual", err=True)
    _log_data_progress()
    try:
        dataset.prepare(accelerated=backend_accelerators()[0] != "cpu")  # builds a cache once if it needs one
    except ValueError as exc:  # the files are there but unusable (none decodes): the user's data, one line
        raise InputError(f"{one_line(exc)}; check the files under --data-dir") from None
    os.makedirs(run_dir, exist_ok=plan.checkpoint is not None)
    remove_staging_leftovers(run_dir)

    total = plan.total_steps
    dataset_options = {"image_size": config["image_size"]}
    if config["data_dir"]:
        dataset_options["data_dir"] = os.path.abspath(config["data_dir"])
    write_config(plan, model_config=model.get_config(), steps=config["steps"], steps_per_epoch=plan.steps_per_epoch,
                 steps_trained=plan.start_step, completed=False, image_shape=list(dataset.observation_shape),
                 dataset_options=dataset_options)

    preview = dataset.sample_observations(PREVIEW_IMAGES, np.random.RandomState(config["seed"] + 1))
    options = config["run_options"]
    guard = RunGuard(run_dir, every_n_steps=options["checkpoint_every"], initial_step=plan.start_step,
                     keep=options["keep_checkpoints"],
                     resume_trackers=plan.checkpoint if plan.start_step % plan.steps_per_epoch else None,
                     on_saved=lambda checkpoint: write_config(plan, steps_trained=checkpoint.step),
                     metadata={"steps_per_epoch": plan.steps_per_epoch})
    callbacks = training_callbacks(plan, preview, guard)
    with distribute.model_scope(model):  # TensorFlow: the optimizer's variables mirrored like the model's
        model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]))
    if plan.checkpoint is not None:
        resume_from_checkpoint(plan)
    fit_with_guard(plan, callbacks, guard)

    files = layout.RunDir(run_dir)
    save_keras_atomically(model, files.model_path)
    save_traversal_grid(model, preview[0], files.traversal)
    save_reconstruction_grid(model, preview[:8], files.reconstructions)
    written = [layout.CONFIG, layout.MODEL, layout.HISTORY, layout.STEP_HISTORY, layout.TRAVERSAL, layout.RECONSTRUCTIONS,
               layout.LOGS, layout.CHECKPOINTS]
    if not options.get("no_report"):
        from hwkeras.report import write_run_report

        write_run_report(run_dir, model=model, dataset=dataset)  # its notes (no metrics yet, ...) are on the page
        written.append(layout.REPORT)
    click.echo(f"\nRun directory: {run_dir}")
    for name in written:
        click.echo(f"  {os.path.join(run_dir, name)}")
    if plan.export_path is not None:
        if plan.replace_export:
            click.echo(f"Replacing the export {plan.export_path} (it held the run at {plan.checkpoint.step} steps)")
        export(plan, model, total)
    write_config(plan, steps_trained=total, completed=True)
    click.echo(f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")


def export(plan, model, total):
    """The run's SavedModel: written here on TensorFlow, by a TensorFlow process from model.keras
    on JAX and PyTorch, or skipped with the install line when TensorFlow is not installed."""
    import keras

    from hwkeras.cli.common import TENSORFLOW_INSTALL, export_in_tensorflow, tensorflow_installed
    from hwkeras.cli.fit_run import write_config

    if keras.backend.backend() == "tensorflow":
        from hwkeras.export import export_saved_model

        export_saved_model(model, plan.export_path, overwrite=plan.replace_export,
                           card={"dataset": plan.config["dataset"], "training_steps": total})
    elif tensorflow_installed():
        write_config(plan, steps_trained=total)  # the exporting process reads the card's steps from it
        export_in_tensorflow(plan.run_dir, plan.export_path, overwrite=plan.replace_export)
    else:
        click.echo(f"No SavedModel: TensorFlow writes it and is not installed here ({TENSORFLOW_INSTALL}, "
                   f"then hwkeras export {plan.run_dir} --output {plan.export_path})", err=True)
        return
    click.echo(f"SavedModel (encode, decode, reconstruct, sample, sample_seeded, traverse): {plan.export_path}")


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------

def _dataset_names():
    from hwkeras.data.registry import DATASETS

    return ", ".join(DATASETS)


@click.command("fit", epilog=examples(
    'hwkeras fit                            # CHyVAE on CorrelatedEllipses (the quick preset, embedded data)',
    'hwkeras fit --model beta-vae --beta 4 --dataset dsprites --data-dir ~/data/dsprites --steps 20000',
    'hwkeras fit --resume runs/RUN --steps 40000    # continue a stopped or finished run',
))
@backend_option
@click.option("--model", default="chyvae", show_default=True, help=f"{', '.join(MODEL_NAMES)}.")
@click.option("--dataset", default="correlated-ellipses", show_default=True,
              help=f"{_dataset_names()} (`hwkeras datasets` says what each expects).")
@click.option("--data-dir", type=click.Path(),
              help="Dataset folder or file, or a root holding DATASET/.  [$HWKERAS_DATA_DIR/DATASET or ~/data/DATASET]")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="quick", show_default=True,
              help="Defaults for the options marked [preset]: 'quick' (first CPU run), 'paper' "
                   "(Ansari & Soh), 'dlib' (disentanglement_lib's baselines).")
@click.option("--latent-dim", type=int, help="Latent size p.  [preset]")
@model_click_options
@click.option("--batch-size", type=int, help="Images per step (split over the devices with --distribute).  [preset]")
@click.option("--steps", type=int, help="Training steps.  [preset]")
@click.option("--learning-rate", type=float, help="Adam learning rate.  [preset]")
@click.option("--hidden-units", type=int,
              help="Width of the dense layer.  [128 for dSprites/ellipses, 256 for CelebA, Chairs, Faces]")
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
              help="mixed_bfloat16: the encoder and decoder compute in bfloat16 (float32 weights); the "
                   "posterior, the hyperprior math and the loss stay float32 (docs/BACKENDS.md).")
@click.option("--distribute", type=click.Choice(DISTRIBUTIONS), default="none", show_default=True,
              help="Split each batch over all local devices: data-parallel (--backend jax) or mirrored "
                   "(tensorflow; MultiWorkerMirroredStrategy when TF_CONFIG is set).")
@click.option("--image-size", type=int, default=64, show_default=True, help="Image height and width (multiple of 16).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data stream, the weights and the noise.")
@click.option("--output-dir", type=click.Path(), default="runs", show_default=True,
              help="Parent of the run directory.")
@click.option("--run-name", help="Name of the run directory and export.  [DATASET-MODEL-TIMESTAMP]")
@click.option("--export-dir", type=click.Path(), default="saved_models", show_default=True,
              help="The SavedModel goes to EXPORT_DIR/RUN_NAME.")
@click.option("--no-export", is_flag=True, help="Skip the SavedModel export.")
@click.option("--no-report", is_flag=True, help="Skip RUN_DIR/report.html (`hwkeras report RUN_DIR` writes it later).")
@click.option("--summary-every", type=click.IntRange(min=0), default=500, show_default=True,
              help="Every N steps, write KL-sorted traversals and reconstructions to TensorBoard (0: never).")
@click.option("--log-every", type=click.IntRange(min=1),
              help="Every N steps, log the loss terms' means over those N steps to RUN_DIR/history_steps.csv and "
                   "TensorBoard (logs/steps).  [max(1, STEPS // 100): 100 rows or more from 100 steps]")
@click.option("--eval-every", type=int,
              help="Every N steps, compute --eval-metrics and log them (history.csv, TensorBoard) as eval_<metric>.")
@click.option("--eval-metrics", default="mig", show_default=True, help="Metrics for --eval-every ('all' or a list).")
@click.option("--eval-param", "eval_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller samples for --eval-every, e.g. mig.num_train=2000 (repeatable).")
@click.option("--checkpoint-every", type=int, default=DEFAULT_CHECKPOINT_EVERY, show_default=True,
              help="Every N steps (and at each epoch's end), checkpoint the training state to RUN_DIR/checkpoints.")
@click.option("--keep-checkpoints", type=int, default=3, show_default=True,
              help="How many of the newest checkpoints to keep.")
@click.option("--resume", "resume", metavar="RUN_DIR",
              help="Continue a stopped run from its newest checkpoint, with its own config.json (--steps may "
                   "extend it).")
def fit_command(**options):
    """Train CHyVAE (or a baseline), save the run, export a SavedModel."""
    try:
        if options["resume"] is not None:
            from hwkeras.cli.resume import plan_resume

            plan = plan_resume(options, given_options())
        else:
            plan = plan_fit(options)
    except (ValueError, FileExistsError) as exc:
        raise InputError(one_line(exc)) from None
    train(plan)  # past validation, a failure is a bug: keep its traceback


def given_options():
    """Names of the options the user gave (command line or environment), not left at their defaults."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return {name for name in ctx.params
            if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
