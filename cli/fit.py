"""``hwkeras fit``: options, validation, training, artefacts, export.

Everything the user gave is validated (``plan_fit``) before anything is written or trained; past
validation a failure is a bug and keeps its traceback. The run directory holds config.json,
model.keras, history.csv, TensorBoard logs and pictures; the SavedModel goes to EXPORT_DIR.
"""

import datetime
import importlib.util
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import click

from hwkeras.cli.common import InputError, backend_option, one_line, parse_metric_params
from hwkeras.models import MODEL_NAMES
from hwkeras.presets import PRESETS

STEPS_PER_EPOCH_MAX = 1000
#: Images the run's pictures start from (traversals from the first, reconstructions of the first 8).
PREVIEW_IMAGES = 64

#: Options of ``hwkeras fit`` that are constructor arguments of some models (``model_options``).
MODEL_OPTIONS = ("nu", "beta", "gamma", "eta", "eta_s", "eta_h", "dataset_size", "update_order")


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
    for key in ("model", "dataset", "data_dir", "preset", "image_size", "seed", "psi", "hidden_units"):
        config[key] = options.get(key)
    if config["hidden_units"] is None and config["dataset"] in DATASETS:
        config["hidden_units"] = DATASETS[config["dataset"]].hidden_units
    if config["batch_size"] < 1 or config["steps"] < 1:
        raise ValueError("--batch-size and --steps must be positive integers")
    if config["learning_rate"] <= 0:
        raise ValueError("--learning-rate must be positive")
    if config["latent_dim"] < 1 or (config["hidden_units"] or 1) < 1:
        raise ValueError("--latent-dim and --hidden-units must be positive integers")
    # The model's own options: only those the user gave; the rest take the model's defaults.
    config["model_options"] = {k: options[k] for k in MODEL_OPTIONS if options.get(k) is not None}
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
                            seed=config["seed"], **model_kwargs)
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    return model


def evaluation_callback(options, dataset):
    """The --eval-every callback, validated before training starts (None without the option)."""
    if options.get("eval_every") is None:
        return None
    if options["eval_every"] < 1:
        raise ValueError("--eval-every must be a positive number of steps")
    from hwkeras.training.callbacks import DisentanglementCallback
    from hwkeras.metrics.evaluate import metric_parameters
    from hwkeras.metrics.utils import check_ground_truth_data

    check_ground_truth_data(dataset)
    callback = DisentanglementCallback(
        dataset, options["eval_metrics"], params=parse_metric_params(options.get("eval_params") or (), "--eval-param"),
        seed=options["seed"], log=lambda line: click.echo(f"\n{line}"),
    )
    for metric, overrides in callback.metric_params.items():
        if metric not in callback.metric_names:
            raise ValueError(f"--eval-param names metric {metric!r}, which --eval-metrics does not compute")
        metric_parameters(metric, "dlib", overrides)
    return callback


def plan_fit(options):
    """Validates everything and builds the model; ValueError / FileExistsError are the user's input."""
    from hwkeras.data import get_dataset
    from hwkeras.models import check_model_name

    config = resolve_options(options)
    check_model_name(config["model"])  # before the dataset is opened or Keras loaded
    dataset = get_dataset(config["dataset"], data_dir=config["data_dir"], image_size=config["image_size"])
    psi = parse_psi(config["psi"], config["latent_dim"])

    from hwkeras.cli.common import start_keras

    start_keras().utils.set_random_seed(config["seed"])
    evaluation = evaluation_callback(options, dataset)
    model = build_run_model(config, dataset, psi)

    run_name = options.get("run_name") or "{}-{}-{}".format(
        config["dataset"], config["model"], datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    run_dir = os.path.join(options["output_dir"], run_name)
    export_path = None if options["no_export"] else os.path.join(options["export_dir"], run_name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"run directory {run_dir} already exists; choose another --run-name")
    if export_path is not None and os.path.exists(export_path):
        raise FileExistsError(f"{export_path} already exists; choose another --run-name or --export-dir")
    if psi is not None:
        config["psi"] = psi.tolist()
    return FitPlan(options, config, dataset, model, evaluation, run_dir, export_path)


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

    from hwkeras.export import export_saved_model
    from hwkeras.viz import save_reconstruction_grid, save_traversal_grid

    config, dataset, model, run_dir = plan.config, plan.dataset, plan.model, plan.run_dir
    from hwkeras.devices import backend_accelerators, describe_device

    click.echo(describe_run(plan))
    device, warning = describe_device()
    click.echo(f"Training on {device}")
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    _log_data_progress()
    dataset.prepare(accelerated=backend_accelerators()[0] != "cpu")  # builds a cache once if it needs one
    os.makedirs(run_dir)

    epochs, steps_per_epoch = epochs_and_steps(config, plan.options)
    dataset_options = {"image_size": config["image_size"]}
    if config["data_dir"]:
        dataset_options["data_dir"] = os.path.abspath(config["data_dir"])
    config.update(model_config=model.get_config(), steps_trained=epochs * steps_per_epoch,
                  image_shape=list(dataset.observation_shape), dataset_options=dataset_options)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    preview = dataset.sample_observations(PREVIEW_IMAGES, np.random.RandomState(config["seed"] + 1))
    callbacks = [plan.evaluation] if plan.evaluation else []  # evaluation first: the loggers see its scores
    # Keras writes its TensorBoard scalars with tf.summary: without TensorFlow (a JAX or torch
    # machine) history.csv alone has them.
    if importlib.util.find_spec("tensorflow") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs")))
    else:
        click.echo("Note: TensorFlow is not installed: the loss curves go to history.csv, not to TensorBoard", err=True)
    callbacks.append(keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv")))
    if plan.options.get("summary_every"):
        from hwkeras.report import TraversalSummaries

        callbacks.append(TraversalSummaries(os.path.join(run_dir, "logs"), preview,
                                            every_n_steps=plan.options["summary_every"]))
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]))
    model.fit(
        # vae-first adversarial models take two batches per step (the discriminator's is the second).
        dataset.batches(config["batch_size"] * getattr(model, "images_per_step", 1), seed=config["seed"]),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the stream is already random; Keras would only warn
        verbose="auto",
    )

    save_keras_atomically(model, os.path.join(run_dir, "model.keras"))
    if plan.evaluation is not None:
        with open(os.path.join(run_dir, "eval_metrics.json"), "w") as f:
            json.dump(plan.evaluation.records, f, indent=2)
    save_traversal_grid(model, preview[0], os.path.join(run_dir, "traversal.png"))
    save_reconstruction_grid(model, preview[:8], os.path.join(run_dir, "reconstructions.png"))
    written = ["config.json", "model.keras", "history.csv", "traversal.png", "reconstructions.png", "logs"]
    if not plan.options.get("no_report"):
        from hwkeras.report import write_run_report

        write_run_report(run_dir, model=model, dataset=dataset)  # its notes (no metrics yet, ...) are on the page
        written.append("report.html")
    click.echo(f"\nRun directory: {run_dir}")
    for name in written:
        click.echo(f"  {os.path.join(run_dir, name)}")
    if plan.export_path is not None:
        export_saved_model(model, plan.export_path, card={"dataset": config["dataset"],
                                                          "training_steps": config["steps_trained"]})
        click.echo(f"SavedModel (encode, decode, reconstruct, sample, sample_seeded, traverse): {plan.export_path}")
    click.echo(f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------

def _dataset_names():
    from hwkeras.data.registry import DATASETS

    return ", ".join(DATASETS)


@click.command("fit")
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
@click.option("--nu", type=float, help="chyvae: inverse-Wishart degrees of freedom (> latent_dim - 1).  [model's]")
@click.option("--psi", help="chyvae: inverse-Wishart scale, a number c for c*I or a .npy (p, p) file.  "
                            "[the multiple of I that makes E[Sigma] = I]")
@click.option("--beta", type=float, help="vae/beta-vae: KL weight; beta-tcvae: TC weight.  [model's]")
@click.option("--gamma", type=float, help="factor-vae, bf-vae-*: total-correlation weight.  [model's]")
@click.option("--eta", type=float, help="bf-vae-0: weight of sum (v_j - 1)^2.  [0.05]")
@click.option("--eta-s", type=float, help="bf-vae-2: weight of ||r||_1.  [0.1]")
@click.option("--eta-h", type=float, help="bf-vae-2: weight of the relevance entropy.  [0.1]")
@click.option("--dataset-size", type=int, help="bf-vae-1/2: N in the 1/N Gamma KL.  [the dataset's size]")
@click.option("--update-order", help="factor-vae, bf-vae-*: 'simultaneous' (disentanglement_lib: both updates from "
                                     "one batch) or 'vae-first' (BF-VAE's authors: the discriminator then trains on a "
                                     "second batch; --batch-size stays the VAE's).  [model's]")
@click.option("--batch-size", type=int, help="Images per step.  [preset]")
@click.option("--steps", type=int, help="Training steps.  [preset]")
@click.option("--learning-rate", type=float, help="Adam learning rate.  [preset]")
@click.option("--hidden-units", type=int,
              help="Width of the dense layer.  [128 for dSprites/ellipses, 256 for CelebA, Chairs, Faces]")
@click.option("--image-size", type=int, default=64, show_default=True, help="Image height and width (multiple of 16).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data stream, the weights and the noise.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Parent of the run directory.")
@click.option("--run-name", help="Name of the run directory and export.  [DATASET-MODEL-TIMESTAMP]")
@click.option("--export-dir", type=click.Path(file_okay=False), default="saved_models", show_default=True,
              help="The SavedModel goes to EXPORT_DIR/RUN_NAME.")
@click.option("--no-export", is_flag=True, help="Skip the SavedModel export.")
@click.option("--no-report", is_flag=True, help="Skip RUN_DIR/report.html (`hwkeras report RUN_DIR` writes it later).")
@click.option("--summary-every", type=click.IntRange(min=0), default=500, show_default=True,
              help="Every N steps, write KL-sorted traversals and reconstructions to TensorBoard (0: never).")
@click.option("--eval-every", type=int,
              help="Every N steps, compute --eval-metrics and log them (history.csv, TensorBoard) as eval_<metric>.")
@click.option("--eval-metrics", default="mig", show_default=True, help="Metrics for --eval-every ('all' or a list).")
@click.option("--eval-param", "eval_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller samples for --eval-every, e.g. mig.num_train=2000 (repeatable).")
def fit_command(**options):
    """Train CHyVAE (or a baseline), save the run, export a SavedModel."""
    try:
        plan = plan_fit(options)
    except (ValueError, FileExistsError) as exc:
        raise InputError(one_line(exc)) from None
    train(plan)  # past validation, a failure is a bug: keep its traceback
