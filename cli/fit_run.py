"""The training run of ``hwkeras fit``: its callbacks, its checkpoints, how it stops and resumes.

``cli/fit.py`` validates and plans (``FitPlan``) and writes the artefacts; this module runs the
training between: the loggers and the ``RunGuard`` (``hwkeras.runs.guard``), SIGINT/SIGTERM,
the one line a stopped run ends with, and a resumed run's restore (docs/RELIABILITY.md).
"""

import os

import click


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


class TrainingError(click.ClickException):
    """Training stopped on a fault (not the user's input): one line, exit code 1."""


def stopped(plan, stop):
    """The one line a stopped run ends with, and its exit code: 128 + the signal, or 1."""
    import signal

    from hwkeras.runs.checkpoints import latest_checkpoint
    from hwkeras.runs.guard import CheckpointWriteFailed, Interrupted

    run_dir = plan.run_dir
    resume = f"hwkeras fit --resume {run_dir}"
    if isinstance(stop, Interrupted):
        click.echo(f"\nInterrupted by {stop.signal_name} after step {stop.step}: checkpoint saved. "
                   f"Resume with: {resume}", err=True)
        raise click.exceptions.Exit(128 + getattr(signal, stop.signal_name))
    last = latest_checkpoint(run_dir)
    if last is None:
        kept = "no checkpoint was written before it"
    else:
        kept = f"the last good checkpoint (step {last.step}) is kept, {resume} continues from it"
    hint = "" if isinstance(stop, CheckpointWriteFailed) else "; a lower --learning-rate may avoid it"
    raise TrainingError(f"training stopped: {stop}; {kept}{hint}")


def stopped_at_once(plan, signal_name):
    """A second Ctrl-C (or SIGTERM) while the first one's checkpoint was pending: the line that
    says what is kept and how to go on, instead of click's bare "Aborted!" (exit 128 + the signal)."""
    import signal

    from hwkeras.runs.checkpoints import latest_checkpoint

    last = latest_checkpoint(plan.run_dir)
    if last is None:
        kept = "no checkpoint was written: start it again with hwkeras fit"
    else:
        kept = f"the last checkpoint (step {last.step}) is kept. Resume with: hwkeras fit --resume {plan.run_dir}"
    click.echo(f"\nStopped at once by a second signal (the first was {signal_name}): the steps since the last "
               f"checkpoint are lost; {kept}", err=True)
    raise click.exceptions.Exit(128 + getattr(signal, signal_name))


def resume_from_checkpoint(plan):
    """Loads the checkpoint into the compiled model and trims the logs past it (``--resume``)."""
    from hwkeras.runs.logs import trim_run_logs

    plan.checkpoint.restore(plan.model)
    epoch = plan.start_step // plan.steps_per_epoch
    trim_run_logs(plan.run_dir, epoch, plan.start_step)
    if plan.evaluation is not None:
        plan.evaluation.records = [r for r in plan.evaluation.records if r.get("epoch", 0) <= epoch]
    click.echo(f"Resuming {plan.run_dir} from its checkpoint at step {plan.start_step} "
               f"(of {plan.total_steps})")
