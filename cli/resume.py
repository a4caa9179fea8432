"""``hwkeras fit --resume RUN_DIR``: a stopped run continues from its newest checkpoint.

The run continues with its own config.json: the model, the data and the optimisation come from
there (the model's class and config from the checkpoint itself), and an option given on the
command line that says otherwise is a one-line error. ``--steps`` may move the end (a finished
run then trains further and its final model and export are renewed); the options in
``FREE`` change where things go or how often, not what is trained, and may be given.
"""

import json
import math
import os

import numpy as np

from hwkeras.cli.common import check_creatable_dir
from hwkeras.cli.fit import MODEL_OPTIONS, FitPlan, check_evaluation, evaluation_callback, parse_psi, run_options
from hwkeras.runs import layout

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
        raise ValueError(f"--resume {run_dir}: {layout.CONFIG} is not readable JSON ({exc.__class__.__name__})") from None
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
    from hwkeras.cli.common import set_random_seed, start_keras
    from hwkeras.data import get_dataset

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
