"""What a run will be: every option checked (before Keras loads where it can) and planned.

``plan_fit(options)`` gives the ``FitPlan`` of a new run, ``plan_resume(options, given)`` the one
that continues a run directory from its newest checkpoint (with the run's own config.json: an option
given that says otherwise is a one-line error; ``--steps`` may move the end). ``options`` are the
options of ``hwkeras fit`` by name (``hwkeras.runs.run.DEFAULTS``). Bad input raises ValueError
or FileExistsError with one line that names the fix; ``hwkeras.runs.session.train`` runs the plan.
"""

import datetime
import json
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from hwkeras.architectures import DEFAULT_ARCHITECTURE, architecture_hidden_units
from hwkeras.console import note, say
from hwkeras.devices import check_distribution
from hwkeras.files import check_creatable_dir, check_plain_name
from hwkeras.metrics.evaluate import parse_metric_params
from hwkeras.models import cli_options
from hwkeras.presets import PRESETS
from hwkeras.runs import layout

STEPS_PER_EPOCH_MAX = 1000
#: --checkpoint-every's default: with the checkpoint at each epoch's end (<= 1000 steps) it costs
#: under 1% of training throughput on a CPU (docs/BENCHMARKS.md; the GPU figure is still to measure).
DEFAULT_CHECKPOINT_EVERY = 1000
#: Images the run's pictures start from (traversals from the first, reconstructions of the first 8).
PREVIEW_IMAGES = 64

#: A run's options and their defaults: ``hwkeras fit``'s options by name (its click options take
#: these defaults), what ``plan_fit`` and ``hwkeras.fit`` start from. None: the preset's, the
#: dataset's or the model's own value (``resolve_options``).
DEFAULTS = {
    "model": "chyvae", "dataset": "correlated-ellipses", "data_dir": None, "preset": "quick", "latent_dim": None,
    "architecture": None,  # the preset's, else hwkeras.architectures.DEFAULT_ARCHITECTURE
    **{name: None for name in cli_options()},  # the models' own options (nu, psi, beta, gamma, ...)
    "batch_size": None, "steps": None, "learning_rate": None, "hidden_units": None, "precision": "float32",
    "distribute": "none", "image_size": 64, "seed": 0, "output_dir": "runs", "run_name": None,
    "export_dir": "saved_models", "no_export": False, "no_report": False, "summary_every": 500, "log_every": None,
    "eval_every": None, "eval_metrics": "mig", "eval_params": (), "checkpoint_every": DEFAULT_CHECKPOINT_EVERY,
    "keep_checkpoints": 3, "resume": None,
}

#: Options of ``hwkeras fit`` that are constructor arguments of some models (``model_options``): the
#: registered models' command-line options (``hwkeras.models.cli_options``) but psi, which fit parses
#: itself (a number or a .npy file) and config.json keeps apart ("psi").
MODEL_OPTIONS = tuple(name for name in cli_options() if name != "psi")


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
        raise ValueError(f"--psi {value!r} is neither a number (a multiple of I) nor an existing .npy file")
    try:
        return np.load(value)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise ValueError(f"--psi {value!r} could not be read as a .npy array ({exc.__class__.__name__})") from None


def resolve_options(options):
    """Fills options left unset from the preset and the dataset; returns the run's config dict."""
    from hwkeras.data.registry import DATASETS

    config = dict(PRESETS[options["preset"]])
    config.setdefault("architecture", DEFAULT_ARCHITECTURE)
    if "adam" in config:
        config["adam"] = dict(config["adam"])
    for key in ("latent_dim", "batch_size", "steps", "learning_rate", "architecture"):
        if options.get(key) is not None:
            config[key] = options[key]
    for key in ("model", "dataset", "data_dir", "preset", "image_size", "seed", "psi", "hidden_units",
                "precision", "distribute"):
        config[key] = options.get(key)
    if config["hidden_units"] is None:  # the architecture's width (dlib: 256), else the dataset's
        config["hidden_units"] = architecture_hidden_units(config["architecture"])
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
                            architecture=config["architecture"], seed=config["seed"], dtype=config.get("precision"),
                            **model_kwargs)
    for w in caught:
        note(f"Warning: {w.message}")
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
                                   log=lambda line: say(f"\n{line}"))


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
                                  config["batch_size"], config["model_options"], config["architecture"])
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

    from hwkeras.frameworks import set_random_seed

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



def epochs_and_steps(config, options):
    """(epochs, steps per epoch): one epoch per evaluation, else epochs of at most 1000 steps."""
    steps = config["steps"]
    if options.get("eval_every") is not None:  # the scores then share the losses' rows
        steps_per_epoch = options["eval_every"]
        return math.ceil(steps / steps_per_epoch), steps_per_epoch
    epochs = math.ceil(steps / STEPS_PER_EPOCH_MAX)
    return epochs, math.ceil(steps / epochs)



# --------------------------------------------------------------------------------------------
# Resuming a run: its own config.json, a checkpoint, and what may change (FREE).
# --------------------------------------------------------------------------------------------

#: Options that may differ from the run's.
FREE = {"resume", "steps", "data_dir", "checkpoint_every", "keep_checkpoints", "no_report", "summary_every",
        "no_export", "export_dir", "log_every"}
#: Options that name another run directory.
OTHER_RUN = {"output_dir", "run_name"}
#: config.json keys a run must have to be resumed (hwkeras fit writes them since checkpoints exist).
REQUIRED = ("model", "dataset", "seed", "batch_size", "learning_rate", "steps", "steps_per_epoch", "run_options",
            "image_size", "image_shape")
RUN_OPTIONS = ("eval_every", "eval_metrics", "eval_params")


def _flag(name):
    return "--" + name.replace("_", "-")


def _saved_value(name, config):
    if name in MODEL_OPTIONS or name == "psi":
        return (config.get("model_config") or {}).get(name)
    if name in RUN_OPTIONS:
        return config["run_options"].get(name)
    return config.get(name)


def _same(name, given, saved, config):
    if name == "psi":
        if saved is None:
            return False
        given = parse_psi(given, config["latent_dim"])
        return given.shape == np.shape(saved) and np.allclose(given, saved, rtol=1e-9, atol=0)
    if isinstance(given, float) and isinstance(saved, (int, float)):
        return math.isclose(given, saved, rel_tol=1e-9)
    if isinstance(given, (tuple, list)) and isinstance(saved, (tuple, list)):
        return list(given) == list(saved)
    return given == saved


def check_conflicts(options, given, config, run_dir):
    """A one-line ValueError for the first option given that contradicts the run's config.json."""
    for name in sorted(set(given) - FREE):
        if name in OTHER_RUN:
            raise ValueError(f"{_flag(name)} does not apply with --resume: the run directory is {run_dir}")
        saved = _saved_value(name, config)
        if not _same(name, options[name], saved, config):
            shown = options[name] if not isinstance(options[name], tuple) else " ".join(options[name])
            raise ValueError(f"{_flag(name)} {shown} conflicts with the run's {name} {saved} "
                             f"({layout.RunDir(run_dir).config_path}); --resume continues a run with its own "
                             f"settings (only --steps may change them)")


def read_run_config(run_dir):
    if not os.path.isdir(run_dir):
        raise ValueError(f"--resume {run_dir}: no such run directory")
    files = layout.RunDir(run_dir)
    if not files.has_config():
        raise ValueError(f"--resume {run_dir}: it has no {layout.CONFIG}, so it is not a run directory of hwkeras fit")
    try:
        config = files.read_config()
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"--resume {run_dir}: {layout.CONFIG} is not readable JSON "
                         f"({exc.__class__.__name__})") from None
    except ValueError as exc:  # not an object, or a newer format
        raise ValueError(f"--resume {run_dir}: {exc}") from None
    missing = [key for key in REQUIRED if not isinstance(config, dict) or key not in config]
    if missing:
        raise ValueError(f"--resume {run_dir}: config.json has no {missing[0]!r} (a run of an hwkeras fit "
                         f"without checkpoints), so it cannot be resumed")
    return config


def _export_path(options, given, config, run_dir):
    if "no_export" in given and options["no_export"]:
        return None
    if "export_dir" in given:
        check_creatable_dir(options["export_dir"], "--export-dir")
        return os.path.join(options["export_dir"], os.path.basename(run_dir))
    return config["run_options"].get("export_path")


def check_steps(steps, trained, finished, run_dir):
    if steps < trained:
        raise ValueError(f"--steps {steps} is below the {trained} steps {run_dir} has trained")
    if finished and trained >= steps:
        raise ValueError(f"--resume {run_dir}: the run is complete ({trained} steps); pass --steps N above "
                         f"{trained} to train it further")


def plan_resume(options, given):
    """The ``FitPlan`` that continues ``options["resume"]``; ValueError for what does not fit."""
    from hwkeras.data import get_dataset
    from hwkeras.frameworks import set_random_seed, start_keras

    run_dir = os.path.normpath(options["resume"])
    config = read_run_config(run_dir)
    check_conflicts(options, given, config, run_dir)
    steps = options["steps"] if "steps" in given else config["steps"]
    steps_per_epoch = int(config["steps_per_epoch"])
    epochs = math.ceil(steps / steps_per_epoch) if steps >= 1 else 0
    finished = layout.RunDir(run_dir).is_finished(config)
    # First from config.json's steps_trained (the newest checkpoint's step), before Keras loads, so
    # that these errors come at once; then again from the checkpoint itself.
    check_steps(steps, config.get("steps_trained") or 0, finished, run_dir)
    run_options(options)  # validates --checkpoint-every and --keep-checkpoints
    start_keras()
    from hwkeras.runs.checkpoints import latest_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"--resume {run_dir}: it has no checkpoint (the run stopped before its first one); "
                         f"start it again with hwkeras fit")
    check_steps(steps, checkpoint.step, finished, run_dir)

    kept = dict(config["run_options"])
    # log_every: the run's own (config.json) unless given again; a run from before --log-every gets the default.
    for name in ("checkpoint_every", "keep_checkpoints", "no_report", "summary_every", "log_every"):
        if name in given:
            kept[name] = options[name]
    export_path = _export_path(options, given, config, run_dir)
    replace_export = False
    if export_path is not None and os.path.exists(export_path):
        if not finished:
            raise FileExistsError(f"{export_path} already exists; pass --export-dir DIR or --no-export")
        replace_export = True  # a finished run trained further: its export follows

    data_dir = options["data_dir"] if "data_dir" in given else config.get("data_dir")
    dataset = get_dataset(config["dataset"], data_dir=data_dir, image_size=config["image_size"])
    if list(dataset.observation_shape) != list(config["image_shape"]):
        raise ValueError(f"the dataset now gives images of shape {tuple(dataset.observation_shape)}, the run "
                         f"trained on {tuple(config['image_shape'])}")
    set_random_seed(config["seed"])
    evaluation_options = {name: kept.get(name) for name in RUN_OPTIONS} | {"seed": config["seed"]}
    evaluation = evaluation_callback(evaluation_options, dataset, check_evaluation(evaluation_options, dataset))
    if evaluation is not None:
        evaluation.records = _eval_records(run_dir)
    config.update(steps=steps, data_dir=data_dir, run_options={**kept, "export_path": export_path})
    from hwkeras.training import distribute

    with distribute.start(config.get("distribute"), config["batch_size"]):  # as the run was built
        model = checkpoint.build_model()
    return FitPlan(options, config, dataset, model, evaluation, run_dir, export_path,
                   epochs=epochs, steps_per_epoch=steps_per_epoch, start_step=checkpoint.step,
                   checkpoint=checkpoint, replace_export=replace_export)


def _eval_records(run_dir):
    path = layout.RunDir(run_dir).eval_metrics
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, ValueError):
        return []
    return records if isinstance(records, list) else []
