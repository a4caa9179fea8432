"""A run's logs: the step history, the epoch history, TensorBoard; on resume, no duplicate rows, no missing ones.

``StepHistory`` writes ``history_steps.csv``: one row every ``every_n_steps`` steps (``hwkeras fit
--log-every``), ``step`` and the mean of each loss term over the steps since the row before, and
the same numbers to TensorBoard (``logs/steps``, tag = the term). ``EpochHistory`` writes
``history.csv``, one row per epoch (Keras's CSVLogger without its always-empty ``val_*`` columns).

A run killed at step ``k`` may have logged past its last checkpoint (history rows and
TensorBoard events of the epoch it was in, or of a later one). Before a resumed run writes
anything, ``trim_run_logs`` drops what lies beyond the checkpoint, so that the resumed run writes
each epoch once: history.csv keeps the rows of the epochs before the checkpoint's epoch,
history_steps.csv its rows of steps up to the checkpoint's step; the TensorBoard event files keep
the epoch summaries of those epochs and the step summaries (``StepHistory``, ``TraversalSummaries``)
up to the checkpoint's step.

``FlushedTensorBoard`` flushes its event files at the end of every epoch, so that the epochs
before a checkpoint are on disk when a run is killed (TensorFlow's writers otherwise keep up to
two minutes of events in memory).
"""

import csv
import glob
import os
import struct

import keras
import numpy as np

from hwkeras.files import atomic_open
from hwkeras.runs import layout

#: The run directory's step history (``StepHistory``) and epoch history (``EpochHistory``).
#: TensorBoard run folders of a run's ``logs/``: epoch-indexed (Keras's TensorBoard) or step-indexed.
EPOCH_INDEXED = ("train", "validation")
STEPS_SUBDIR = "steps"
STEP_INDEXED = ("images", STEPS_SUBDIR)
#: Rows of the step history of a run of 100 steps or more when --log-every is not given: at least this many.
DEFAULT_ROWS = 100


def default_log_every(steps):
    """--log-every's default: ``max(1, steps // 100)``, so a run of 100 steps or more has 100 to 199
    rows (at least 50 points for any run of 100 steps or more) and a shorter one a row per step."""
    return max(1, int(steps) // DEFAULT_ROWS)


class FlushedTensorBoard(keras.callbacks.TensorBoard):
    """keras.callbacks.TensorBoard whose events are on disk once an epoch has ended."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        for writer in self._writers.values():  # Keras's own writers (it flushes the train writer itself)
            writer.flush()


def epoch_logger(log_dir, write_graph=True):
    """The epoch scalars of a run: ``FlushedTensorBoard`` on the TensorFlow backend, else
    ``EpochScalars`` (the same folder and tags, written without TensorFlow, which a JAX or
    PyTorch process may not have)."""
    if keras.backend.backend() == "tensorflow":
        return FlushedTensorBoard(log_dir=log_dir, write_graph=write_graph)
    from hwkeras.runs.tensorboard import EpochScalars

    return EpochScalars(log_dir)


class EpochHistory(keras.callbacks.CSVLogger):
    """history.csv: keras.callbacks.CSVLogger (one row per epoch, appended across ``fit`` calls)
    without the ``val_*`` columns it adds, always empty, when a fit has no validation data. A file
    that exists keeps its header (a resumed run's rows line up with the rows before)."""

    def __init__(self, filename):
        super().__init__(filename, append=True)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        header = _csv_header(self.filename)
        if header and header[0] == "epoch":
            self.keys = header[1:]

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted(logs or {})  # CSVLogger would add val_<key> for every key
        super().on_epoch_end(epoch, logs)


def _csv_header(path):
    try:
        with open(path, newline="") as f:
            return next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def restored_means(checkpoint, model):
    """{term: the epoch's running mean at ``checkpoint``}: what ``RunGuard`` restores into the
    model's trackers on a mid-epoch resume (empty when the checkpoint holds no trackers)."""
    saved = (checkpoint.metadata or {}).get("trackers") if checkpoint is not None else None
    if not saved or len(saved) != len(model.metrics_variables):
        return {}
    means, index = {}, 0
    for metric in model.metrics:
        values = {v.name.split("/")[-1]: saved[index + i] for i, v in enumerate(metric.variables)}
        index += len(metric.variables)
        total, count = values.get("total"), values.get("count")
        if total is not None and count:
            means[metric.name] = float(np.sum(total)) / float(np.sum(count))
    return means


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class StepHistory(keras.callbacks.Callback):
    """history_steps.csv (and TensorBoard's ``logs/steps``): the loss terms every ``every_n_steps`` steps.

    Each row is ``step`` and, per term, the mean of its per-step values (the batch means) over
    the steps since the row before: the window's own losses, not Keras's running mean since the
    epoch began. They come from the logged running means: with ``m_c`` the epoch's running mean
    after ``c`` steps, the window ``(a, b]`` of one epoch sums to ``b m_b - a m_a`` (in float64;
    Keras's float32 running sums set the precision, about 1e-6 of the epoch's summed loss). A row
    is written at every multiple of ``every_n_steps`` and at ``final_step``; the file is appended
    to and flushed at every row, so a row of a step up to a checkpoint is on disk when it is written.

    Args:
        path: the CSV file (``RUN_DIR/history_steps.csv``); an existing one is continued under its header.
        every_n_steps: steps between two rows (``hwkeras fit --log-every``).
        log_dir: the run's TensorBoard directory; the scalars go to ``log_dir/steps`` (None: no TensorBoard).
        initial_step: the step training starts from (a resumed run's checkpoint step).
        steps_per_epoch: the epochs' length, to know how many steps the running means hold.
        initial_means: {term: running mean} the trackers hold at ``initial_step`` (``restored_means``
            of a mid-epoch checkpoint); without them the first window after a mid-epoch resume
            starts one step later.
        final_step: the run's last step (its row is written even off the grid).
        terms: the columns after ``step``, in order (default: the model's trackers, ``loss`` first).
    """

    def __init__(self, path, every_n_steps, log_dir=None, initial_step=0, steps_per_epoch=None,
                 initial_means=None, final_step=None, terms=None):
        super().__init__()
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be a positive number of steps, got {every_n_steps}")
        self.path = path
        self.every_n_steps = int(every_n_steps)
        self.log_dir = None if log_dir is None else os.path.join(log_dir, STEPS_SUBDIR)
        self.step = int(initial_step)
        self.steps_per_epoch = steps_per_epoch
        self.initial_means = dict(initial_means or {})
        self.final_step = final_step
        self.terms = list(terms) if terms else None
        self.csv_file = None  # named as CSVLogger's, so that close_loggers closes it
        self.writer = None  # the TensorBoard writer
        self.rows_written = 0
        self._first_epoch = True
        self._epoch_start = self.step
        self._count = 0  # the steps the trackers' running means hold
        self._sums = None  # {term: count * running mean} after the last step seen (None: unknown)
        self._window = {}
        self._window_steps = 0

    # -- files ---------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if self.csv_file is None or self.csv_file.closed:
            header = _csv_header(self.path)
            if header and header[0] == "step":
                self.terms = header[1:]
            self.csv_file = open(self.path, "a", newline="")
            self._csv = csv.writer(self.csv_file)
            self._header_written = bool(header)
        if self.writer is None and self.log_dir is not None:
            from hwkeras.runs.tensorboard import open_writer

            self.writer, _ = open_writer(self.log_dir)  # without the tensorboard package: the CSV alone

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # -- steps ---------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.step
        offset = self.step - epoch * self.steps_per_epoch if self.steps_per_epoch else 0
        if self._first_epoch and offset > 0:  # a mid-epoch resume: the trackers hold the epoch's first steps
            self._count = offset
            means = self.initial_means
            self._sums = {term: offset * mean for term, mean in means.items()} if means else None
        else:  # Keras resets the running means when an epoch begins
            self._count, self._sums = 0, {}
        self._first_epoch = False

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last step of the call within the epoch (steps_per_execution may be > 1).
        # The logs are Python floats already: RunGuard's per-step check has Keras convert them.
        step = self._epoch_start + batch + 1
        count = self._count + (step - self.step)
        if self.terms is None:
            trackers = getattr(self._model, "trackers", None)
            names = list(trackers) if isinstance(trackers, dict) else sorted(logs or {})
            self.terms = [n for n in names if n in (logs or {}) and not n.startswith(("eval_", "val_"))]
        values = {}
        for name in self.terms:
            number = _number((logs or {}).get(name))
            if number is not None:
                values[name] = count * number
        if self._sums is not None:
            for name, total in values.items():
                self._window[name] = self._window.get(name, 0.0) + total - self._sums.get(name, 0.0)
            self._window_steps += count - self._count
        self._sums, self._count, self.step = values, count, step
        if self._window_steps and (step % self.every_n_steps == 0 or step == self.final_step):
            self.write_row(step)

    def write_row(self, step):
        if not self._header_written:
            self._csv.writerow(["step"] + self.terms)
            self._header_written = True
        means = {name: total / self._window_steps for name, total in self._window.items()}
        self._csv.writerow([step] + [repr(means[name]) if name in means else "" for name in self.terms])
        self.csv_file.flush()
        if self.writer is not None:
            for name in self.terms:
                if name in means:
                    self.writer.scalar(name, means[name], step)
            self.writer.flush()
        self.rows_written += 1
        self._window, self._window_steps = {}, 0


def _keep_rows(path, keep):
    """Rewrites CSV ``path`` (atomically) with its header and the complete rows ``keep(row, header,
    kept)`` accepts; a row cut short by a kill is dropped. Returns how many rows went."""
    if not os.path.isfile(path):
        return 0
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    kept = []
    for row in body:
        try:
            if len(row) == len(header) and keep(row, header, kept):
                kept.append(row)
        except (ValueError, IndexError):
            continue  # a row cut short by the kill
    with atomic_open(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(kept)
    return len(body) - len(kept)


def truncate_step_history(path, step):
    """Keeps history_steps.csv's header and its complete rows of steps ``<= step``, each step once;
    returns how many went."""
    def keep(row, header, kept):
        at = int(float(row[0]))
        return at <= step and (not kept or at > int(float(kept[-1][0])))

    return _keep_rows(path, keep)


def truncate_history(path, epochs):
    """Keeps history.csv's header and its rows of epochs ``< epochs`` (epoch as CSVLogger writes it, 0-based)."""
    def keep(row, header, kept):
        epoch = int(float(row[header.index("epoch")])) if "epoch" in header else len(kept)
        return epoch < epochs

    return _keep_rows(path, keep)


def _records(data):
    """(raw record, payload) of a TFRecord file's bytes; a record cut short by a kill ends the list."""
    offset = 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        end = offset + 12 + length + 4
        if end > len(data):
            return
        yield data[offset:end], data[offset + 12:offset + 12 + length]
        offset = end


def drop_events(path, last_kept_step):
    """Rewrites one event file without the summaries of steps > ``last_kept_step``; returns how many went."""
    from tensorboard.compat.proto.event_pb2 import Event

    with open(path, "rb") as f:
        data = f.read()
    kept, dropped = [], 0
    for raw, payload in _records(data):
        event = Event.FromString(payload)
        if event.HasField("summary") and event.step > last_kept_step:
            dropped += 1
        else:
            kept.append(raw)
    if dropped or sum(map(len, kept)) != len(data):
        with atomic_open(path, "wb") as f:
            f.write(b"".join(kept))
    return dropped


def trim_run_logs(run_dir, epoch, step):
    """Drops the logs of a run beyond its checkpoint at ``step`` in epoch ``epoch`` (0-based)."""
    files = layout.RunDir(run_dir)
    dropped = truncate_history(files.history, epoch)
    dropped += truncate_step_history(files.step_history, step)
    logs = files.logs
    for sub, last in [(name, epoch - 1) for name in EPOCH_INDEXED] + [(name, step) for name in STEP_INDEXED]:
        for path in glob.glob(os.path.join(logs, sub, "events.out.tfevents.*")):
            try:
                dropped += drop_events(path, last)
            except ImportError:  # no tensorboard package: nothing wrote these files either
                return dropped
    return dropped


def close_loggers(callbacks):
    """Closes what the loggers hold open when training ended by an exception (no ``on_train_end``)."""
    for callback in callbacks:
        csv_file = getattr(callback, "csv_file", None)
        if csv_file is not None and not csv_file.closed:
            csv_file.close()
        if isinstance(callback, keras.callbacks.TensorBoard):
            callback._close_writers()  # Keras's own method: on_train_end would call it
        writer = getattr(callback, "writer", None)
        if hasattr(writer, "close"):
            writer.close()
            callback.writer = None
