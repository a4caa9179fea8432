"""A run in progress: ``train(plan)`` (a ``FitPlan`` of hwkeras.runs.plan) trains under the
``RunGuard`` (checkpoints, the NaN check, SIGINT/SIGTERM) with the run's loggers, then writes the
final model, the pictures, the report page and the export.

It says what it does on the ``hwkeras.run`` logger (hwkeras.console) and raises
``hwkeras.errors.RunStopped`` with the one line a stopped run ends with (what was kept, how to
resume) and its exit code; ``UserError`` for data found unusable once read.
"""

import os

from hwkeras.console import note, say
from hwkeras.errors import RunStopped, UserError
from hwkeras.files import atomic_path, one_line
from hwkeras.presets import adam_settings
from hwkeras.runs import layout
from hwkeras.runs.plan import MODEL_OPTIONS, PREVIEW_IMAGES


def save_keras_atomically(model, path):
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def _log_data_progress():
    """Shows the data package's progress lines (cache builds, skipped files) on stderr."""
    import logging

    logger = logging.getLogger("hwkeras.data")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


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

    from hwkeras.runs.checkpoints import remove_staging_leftovers
    from hwkeras.runs.guard import RunGuard
    from hwkeras.viz import save_reconstruction_grid, save_traversal_grid

    config, dataset, model, run_dir = plan.config, plan.dataset, plan.model, plan.run_dir
    from hwkeras.devices import backend_accelerators, describe_device

    say(describe_run(plan))
    device, warning = describe_device()
    say(f"Training on {device}")
    from hwkeras.training import distribute

    for line in (distribute.describe(config.get("distribute"), model),
                 "precision mixed_bfloat16" if config.get("precision") == "mixed_bfloat16" else None):
        if line:
            say(f"  {line}")
    if warning:
        note(f"Warning: {warning}")
    if plan.export_path is not None and keras.backend.backend() != "tensorflow":
        from hwkeras.frameworks import TENSORFLOW_INSTALL, tensorflow_installed

        if not tensorflow_installed():  # said now, not after hours of training
            note(f"Note: TensorFlow is not installed, so no SavedModel will be written at the end "
                       f"({TENSORFLOW_INSTALL}, or --no-export); model.keras is written as usual")
    _log_data_progress()
    try:
        dataset.prepare(accelerated=backend_accelerators()[0] != "cpu")  # builds a cache once if it needs one
    except ValueError as exc:  # the files are there but unusable (none decodes): the user's data, one line
        raise UserError(f"{one_line(exc)}; check the files under --data-dir") from None
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
        model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"], **adam_settings(config)))
    if plan.checkpoint is not None:
        resume_from_checkpoint(plan)
    fit_with_guard(plan, callbacks, guard)

    files = layout.RunDir(run_dir)
    save_keras_atomically(model, files.model_path)
    save_traversal_grid(model, preview[0], files.traversal)
    save_reconstruction_grid(model, preview[:8], files.reconstructions)
    written = [layout.CONFIG, layout.MODEL, layout.HISTORY, layout.STEP_HISTORY, layout.TRAVERSAL,
               layout.RECONSTRUCTIONS, layout.LOGS, layout.CHECKPOINTS]
    if not options.get("no_report"):
        write_page(run_dir, model, dataset)  # its notes (no metrics yet, ...) are on the page
        written.append(layout.REPORT)
    say(f"\nRun directory: {run_dir}")
    for name in written:
        say(f"  {os.path.join(run_dir, name)}")
    if plan.export_path is not None:
        if plan.replace_export:
            say(f"Replacing the export {plan.export_path} (it held the run at {plan.checkpoint.step} steps)")
        export(plan, model, total)
    write_config(plan, steps_trained=total, completed=True)
    say(f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")


def write_page(run_dir, model=None, dataset=None):
    """The run's report.html (``hwkeras.report``): at the end of training, and again by a sweep's trial
    once its metrics are in. The run is the only way to the page for the sweep (sweep/ imports no report/)."""
    from hwkeras.report import write_run_report

    return write_run_report(run_dir, model=model, dataset=dataset)


def export(plan, model, total):
    """The run's SavedModel: written here on TensorFlow, by a TensorFlow process from model.keras
    on JAX and PyTorch, or skipped with the install line when TensorFlow is not installed."""
    import keras

    from hwkeras.export import export_in_tensorflow
    from hwkeras.frameworks import TENSORFLOW_INSTALL, tensorflow_installed

    if keras.backend.backend() == "tensorflow":
        from hwkeras.export import export_saved_model

        export_saved_model(model, plan.export_path, overwrite=plan.replace_export,
                           card={"dataset": plan.config["dataset"], "training_steps": total})
    elif tensorflow_installed():
        write_config(plan, steps_trained=total)  # the exporting process reads the card's steps from it
        export_in_tensorflow(plan.run_dir, plan.export_path, overwrite=plan.replace_export)
    else:
        note(f"No SavedModel: TensorFlow writes it and is not installed here ({TENSORFLOW_INSTALL}, "
                   f"then hwkeras export {plan.run_dir} --output {plan.export_path})")
        return
    say(f"SavedModel (encode, decode, reconstruct, sample, sample_seeded, traverse): {plan.export_path}")


def write_config(plan, **updates):
    """config.json, rewritten atomically: ``steps_trained`` follows the checkpoints, ``completed`` the end."""
    from hwkeras.runs.layout import RunDir

    plan.config.update(updates)
    RunDir(plan.run_dir).write_config(plan.config)


def training_callbacks(plan, preview, guard):
    """The loggers, the pictures and ``guard`` (last: an epoch is logged before its checkpoint)."""
    from hwkeras.runs.layout import RunDir
    from hwkeras.runs.logs import EpochHistory, StepHistory, default_log_every, epoch_logger, restored_means

    run_dir, start = plan.run_dir, plan.start_step
    files = RunDir(run_dir)
    callbacks = [plan.evaluation] if plan.evaluation else []  # evaluation first: the loggers see its scores
    if plan.evaluation is not None:
        plan.evaluation.path = files.eval_metrics  # kept by a run stopped later
    # --log-every, resolved once and kept in config.json (written at every checkpoint): --resume logs as the run did.
    options = plan.config["run_options"]
    options["log_every"] = options.get("log_every") or default_log_every(plan.total_steps)
    mid_epoch = plan.checkpoint is not None and start % plan.steps_per_epoch
    callbacks += [epoch_logger(files.logs, write_graph=start == 0),
                  # appended to: a run's one history across fit calls (a cut last epoch, a resume)
                  EpochHistory(files.history),
                  StepHistory(files.step_history, options["log_every"],
                              log_dir=files.logs, initial_step=start,
                              steps_per_epoch=plan.steps_per_epoch, final_step=plan.total_steps,
                              initial_means=restored_means(plan.checkpoint, plan.model) if mid_epoch else None)]
    if plan.config["run_options"].get("summary_every"):
        from hwkeras.report import TraversalSummaries

        callbacks.append(TraversalSummaries(files.logs, preview,
                                            every_n_steps=plan.config["run_options"]["summary_every"],
                                            initial_step=start, final_step=plan.total_steps))
    return callbacks + [guard]


def fit_with_guard(plan, callbacks, guard):
    """Trains from ``plan.start_step`` to the end; a stop (signal, NaN, failed checkpoint) ends the command."""
    from hwkeras.runs.guard import Interrupted, TrainingStopped, fit_from, stop_on_signals
    from hwkeras.runs.logs import close_loggers

    config, model, dataset = plan.config, plan.model, plan.dataset
    # vae-first adversarial models take two batches per step (the discriminator's is the second).
    batch_size = config["batch_size"] * getattr(model, "images_per_step", 1)
    try:
        with stop_on_signals(guard.stop_request):
            fit_from(model, lambda start: dataset.batches(batch_size, seed=config["seed"], start=start),
                     plan.start_step, plan.steps_per_epoch, plan.epochs, callbacks, end_step=plan.total_steps,
                     shuffle=False, verbose="auto")  # shuffle: the stream is already random; Keras would only warn
    except TrainingStopped as stop:
        close_loggers(callbacks)
        stopped(plan, stop)
    except KeyboardInterrupt:  # a second signal: stop at once, without the checkpoint the first asked for
        close_loggers(callbacks)
        stopped_at_once(plan, guard.stop_request.signal_name or "SIGINT")
    except Exception as exc:  # noqa: BLE001 - explained when the weights went non-finite, else a bug
        close_loggers(callbacks)
        stop = guard.diagnose(exc)
        if stop is None:
            raise
        stopped(plan, stop)
    if guard.stop_request.signal_name is not None:  # the signal came after the last step
        stopped(plan, Interrupted(guard.step, guard.stop_request.signal_name))


def stopped(plan, stop):
    """The one line a stopped run ends with, and its exit code: 128 + the signal, or 1."""
    import signal

    from hwkeras.runs.checkpoints import latest_checkpoint
    from hwkeras.runs.guard import CheckpointWriteFailed, Interrupted

    run_dir = plan.run_dir
    resume = f"hwkeras fit --resume {run_dir}"
    if isinstance(stop, Interrupted):
        raise RunStopped(f"Interrupted by {stop.signal_name} after step {stop.step}: checkpoint saved. "
                         f"Resume with: {resume}", 128 + getattr(signal, stop.signal_name), stop.signal_name)
    last = latest_checkpoint(run_dir)
    if last is None:
        kept = "no checkpoint was written before it"
    else:
        kept = f"the last good checkpoint (step {last.step}) is kept, {resume} continues from it"
    hint = "" if isinstance(stop, CheckpointWriteFailed) else "; a lower --learning-rate may avoid it"
    raise RunStopped(f"training stopped: {stop}; {kept}{hint}")


def stopped_at_once(plan, signal_name):
    """A second Ctrl-C (or SIGTERM) while the first one's checkpoint was pending: the line that
    says what is kept and how to go on, instead of a bare "Aborted!" (exit 128 + the signal)."""
    import signal

    from hwkeras.runs.checkpoints import latest_checkpoint

    last = latest_checkpoint(plan.run_dir)
    if last is None:
        kept = "no checkpoint was written: start it again with hwkeras fit"
    else:
        kept = f"the last checkpoint (step {last.step}) is kept. Resume with: hwkeras fit --resume {plan.run_dir}"
    raise RunStopped(f"Stopped at once by a second signal (the first was {signal_name}): the steps since the last "
                     f"checkpoint are lost; {kept}", 128 + getattr(signal, signal_name), signal_name)


def resume_from_checkpoint(plan):
    """Loads the checkpoint into the compiled model and trims the logs past it (``--resume``)."""
    from hwkeras.runs.logs import trim_run_logs

    plan.checkpoint.restore(plan.model)
    epoch = plan.start_step // plan.steps_per_epoch
    trim_run_logs(plan.run_dir, epoch, plan.start_step)
    if plan.evaluation is not None:
        plan.evaluation.records = [r for r in plan.evaluation.records if r.get("epoch", 0) <= epoch]
    say(f"Resuming {plan.run_dir} from its checkpoint at step {plan.start_step} (of {plan.total_steps})")
