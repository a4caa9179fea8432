"""Long runs survive: periodic checkpoints, a clean stop on SIGINT/SIGTERM, a stop on a non-finite loss.

    request = StopRequest()
    guard = RunGuard(run_dir, every_n_steps=1000, stop_request=request)
    with stop_on_signals(request):
        fit_from(model, lambda start: dataset.batches(64, seed=0, start=start), start_step=0,
                 steps_per_epoch=1000, epochs=10, callbacks=[..., guard])

``RunGuard`` goes last among the callbacks, so that the loggers have written an epoch before
the checkpoint that follows it. After every step it checks the logged loss terms (a NaN or inf
stops training with ``NonFiniteLoss`` naming the terms and the step, before anything is saved),
then a pending stop request (a checkpoint, then ``Interrupted``), then the interval. Before a
checkpoint is written the weights are checked too, so a checkpoint never holds NaN weights: the
last one on disk is the last good state. ``fit_from`` continues a run from any step, mid-epoch
included (the rest of that epoch, then whole epochs), on the batches an uninterrupted run sees.
"""

import contextlib
import math
import re
import signal
import threading

import keras
import numpy as np

from hwkeras.runs import checkpoints

#: Terms derived from the others: named only when nothing else is non-finite.
DERIVED_TERMS = ("loss", "elbo")


class TrainingStopped(Exception):
    """Training ended early at ``step`` (the number of steps completed and, where saved, checkpointed)."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class NonFiniteLoss(TrainingStopped):
    """A logged loss term became NaN or inf at step ``step``; ``terms`` maps each such term to its value."""

    def __init__(self, step, terms):
        self.terms = terms
        named = ", ".join(f"{name} = {value}" for name, value in terms.items())
        super().__init__(f"the loss is not finite at step {step} ({named})", step)


class NonFiniteWeights(TrainingStopped):
    """The weights hold NaN or inf: found after step ``step`` (before a checkpoint), or, with
    ``cause``, once step ``step + 1`` failed on them (it may have written some of them itself:
    TensorFlow applies the updates a failed step had already computed)."""

    def __init__(self, step, paths, cause=None):
        self.paths = paths
        if cause:
            message = f"step {step + 1} failed with the weights NaN or inf (e.g. {paths[0]}): {cause}"
        else:
            message = f"the weights are NaN or inf after step {step} (e.g. {paths[0]})"
        super().__init__(message, step)


class NonFiniteStep(TrainingStopped):
    """A step raised on a NaN or inf before its loss existed (TensorFlow's checked Cholesky does)."""

    def __init__(self, step, where):
        super().__init__(f"a value became NaN or inf in step {step}, before the loss terms ({where})", step - 1)


class Interrupted(TrainingStopped):
    def __init__(self, step, signal_name):
        self.signal_name = signal_name
        super().__init__(f"stopped by {signal_name} after step {step}", step)


class CheckpointWriteFailed(TrainingStopped):
    def __init__(self, step, error):
        super().__init__(f"the checkpoint of step {step} could not be written ({error})", step)


class StopRequest:
    """What the signal handlers set: the name of the first signal received (None: keep going)."""

    def __init__(self):
        self.signal_name = None


@contextlib.contextmanager
def stop_on_signals(request, signals=(signal.SIGINT, signal.SIGTERM)):
    """Turns SIGINT/SIGTERM into ``request.signal_name``; a second one stops at once (KeyboardInterrupt)."""

    def handler(signum, frame):
        if request.signal_name is not None:
            raise KeyboardInterrupt
        request.signal_name = signal.Signals(signum).name

    if threading.current_thread() is not threading.main_thread():
        # Python delivers signals to the main thread only, and only it may set handlers: a run
        # inside a worker thread (a Ray Tune trial) leaves them to whoever owns that thread.
        yield request
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _value(x):
    return float(np.asarray(keras.ops.convert_to_numpy(x)))


def non_finite_terms(logs, order=()):
    """{term: value} of the logged terms that are NaN or inf, the model's own terms first."""
    bad = {}
    for name, value in (logs or {}).items():
        try:
            number = _value(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            bad[name] = number
    named = {k: v for k, v in bad.items() if k not in DERIVED_TERMS} or bad
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(named.items(), key=lambda kv: rank.get(kv[0], len(rank))))


class RunGuard(keras.callbacks.Callback):
    """Checkpoints every ``every_n_steps`` steps and at each epoch's end; stops on NaN or a signal.

    Args:
        run_dir: the checkpoints go to ``run_dir/checkpoints`` (``hwkeras.runs.checkpoints``).
        every_n_steps: steps between two checkpoints (besides the epochs' ends); None: epochs only.
        initial_step: the step training starts from (a resumed run's checkpoint step).
        keep: checkpoints kept on disk.
        stop_request: a ``StopRequest`` the signal handlers set (``stop_on_signals``).
        resume_trackers: the checkpoint a mid-epoch resume starts from: its running loss means
            are restored when the epoch begins, so the epoch's row is the uninterrupted run's.
        on_saved: called with each ``Checkpoint`` written.
        metadata: extra entries for every checkpoint.json.
    """

    def __init__(self, run_dir, every_n_steps=None, initial_step=0, keep=checkpoints.DEFAULT_KEEP,
                 stop_request=None, resume_trackers=None, on_saved=None, metadata=None):
        super().__init__()
        if every_n_steps is not None and int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be a positive number of steps, got {every_n_steps}")
        self.run_dir = run_dir
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.step = self.last_saved = int(initial_step)
        self.keep = int(keep)
        self.stop_request = stop_request or StopRequest()
        self.resume_trackers = resume_trackers
        self.on_saved = on_saved
        self.metadata = dict(metadata or {})
        self._epoch_start = self.step
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._epoch = self.step, epoch
        if self.resume_trackers is not None:
            self.resume_trackers.restore_trackers(self.model)  # after fit's reset_metrics
            self.resume_trackers = None

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last step of the call within the epoch (steps_per_execution may be > 1).
        self.step = self._epoch_start + batch + 1
        self.check_logs(logs)
        steps = (self.params or {}).get("steps")
        if steps and batch + 1 >= steps:
            # The epoch's last step: its checkpoint (and a signal's stop) wait for on_epoch_end,
            # after the loggers have written the epoch's row. A checkpoint written here, before
            # that row, and a kill in between would leave a resumed run without it.
            return
        if self.stop_request.signal_name is not None:
            self.save()
            raise Interrupted(self.step, self.stop_request.signal_name)
        if self.every_n_steps and self.step % self.every_n_steps == 0:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        if self.last_saved != self.step:
            self.save()
        if self.stop_request.signal_name is not None:
            raise Interrupted(self.step, self.stop_request.signal_name)

    def check_logs(self, logs):
        # Only the loss (and D's) every step: one host transfer; the terms once something is wrong.
        watched = {k: logs[k] for k in ("loss", "discriminator_loss") if logs and k in logs}
        if non_finite_terms(watched):
            order = getattr(self._model, "term_names", ())
            raise NonFiniteLoss(self.step, non_finite_terms(logs, order))

    def save(self):
        """Writes a checkpoint of the current step (after checking the weights); returns it."""
        model = self.model  # on JAX this property first syncs the trained state into the variables
        bad = checkpoints.non_finite_weights(model)
        if bad:
            raise NonFiniteWeights(self.step, bad)
        try:
            saved = checkpoints.save_checkpoint(model, self.run_dir, self.step, keep=self.keep,
                                                epoch=self._epoch, **self.metadata)
        except OSError as exc:
            raise CheckpointWriteFailed(self.step, f"{exc.__class__.__name__}: {exc}") from None
        self.last_saved = self.step
        if self.on_saved is not None:
            self.on_saved(saved)
        return saved

    def diagnose(self, error):
        """A ``TrainingStopped`` for an error the training step raised on NaN or inf values, else None.

        A step can fail instead of giving a NaN loss: Keras checks the input of TensorFlow's
        Cholesky for NaN and inf (CHyVAE's posterior covariance) and raises. The weights, or the
        error's message, then say what happened.
        """
        if self._model is None:  # training never started: nothing to diagnose
            return None
        bad = checkpoints.non_finite_weights(self._model)
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        numeric = [line for line in lines if re.search(r"\b(NaN|Inf)\b", line) and "node" not in line]
        node = re.search(r"node ([\w./-]+)", str(error))
        layer = f"layer {node.group(1).split('/')[0]!r}: " if node else ""
        if bad:
            # TensorFlow's first line ("Graph execution error:") says nothing: name the check that fired.
            cause = layer + numeric[0] if numeric else f"{error.__class__.__name__}: {lines[0] if lines else ''}"
            return NonFiniteWeights(self.step, bad, cause)
        if not numeric:
            return None
        return NonFiniteStep(self.step + 1, layer + numeric[0])


def fit_from(model, batches_from, start_step, steps_per_epoch, epochs, callbacks, end_step=None, **fit_kwargs):
    """``model.fit`` of steps ``start_step + 1 .. end_step``, mid-epoch starts and ends included.

    ``batches_from(i)`` is the training stream from batch ``i`` on. ``end_step`` defaults to
    ``epochs * steps_per_epoch``; one that is not a multiple of ``steps_per_epoch`` ends the last
    epoch early (its row, evaluation and checkpoint come at ``end_step``). A start inside an epoch
    first fits the rest of that epoch (one ``fit`` call, same epoch index), then the whole epochs,
    then the cut last one.
    """
    steps_per_epoch = int(steps_per_epoch)
    end = int(epochs) * steps_per_epoch if end_step is None else int(end_step)
    step, history = int(start_step), []
    while step < end:
        epoch, offset = divmod(step, steps_per_epoch)
        whole = (end - step) // steps_per_epoch
        if offset or not whole:  # the rest of a started epoch, or the last one cut short
            steps = min(steps_per_epoch - offset, end - step)
            history.append(model.fit(batches_from(step), initial_epoch=epoch, epochs=epoch + 1,
                                     steps_per_epoch=steps, callbacks=callbacks, **fit_kwargs))
            step += steps
        else:
            history.append(model.fit(batches_from(step), initial_epoch=epoch, epochs=epoch + whole,
                                     steps_per_epoch=steps_per_epoch, callbacks=callbacks, **fit_kwargs))
            step += whole * steps_per_epoch
    return history
