"""A resumed run's logs continue where its checkpoint stands: no duplicate rows, no missing ones.

A run killed at step ``k`` may have logged past its last checkpoint (history.csv rows and
TensorBoard events of the epoch it was in, or of a later one). Before a resumed run writes
anything, ``trim_run_logs`` drops what lies beyond the checkpoint, so that the resumed run writes
each epoch once: history.csv keeps the rows of the epochs before the checkpoint's epoch; the
TensorBoard event files keep the epoch summaries of those epochs and the step summaries
(``TraversalSummaries``) up to the checkpoint's step.

``FlushedTensorBoard`` flushes its event files at the end of every epoch, so that the epochs
before a checkpoint are on disk when a run is killed (TensorFlow's writers otherwise keep up to
two minutes of events in memory).
"""

import csv
import glob
import os
import struct

import keras

from hwkeras.files import atomic_open

#: TensorBoard run folders of a run's ``logs/``: epoch-indexed (Keras's TensorBoard) or step-indexed.
EPOCH_INDEXED = ("train", "validation")
STEP_INDEXED = ("images",)


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
    from hwkeras.report.tensorboard import EpochScalars

    return EpochScalars(log_dir)


def truncate_history(path, epochs):
    """Keeps history.csv's header and its rows of epochs ``< epochs`` (epoch as CSVLogger writes it, 0-based)."""
    if not os.path.isfile(path):
        return 0
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    column = header.index("epoch") if "epoch" in header else None
    kept = []
    for row in body:
        try:
            epoch = int(float(row[column])) if column is not None else len(kept)
        except (ValueError, IndexError):
            continue  # a row cut short by the kill
        if epoch < epochs and len(row) == len(header):
            kept.append(row)
    with atomic_open(path, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(kept)
    return len(body) - len(kept)


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
        tmp = path + ".partial"
        with open(tmp, "wb") as f:
            f.write(b"".join(kept))
        os.replace(tmp, path)
    return dropped


def trim_run_logs(run_dir, epoch, step):
    """Drops the logs of a run beyond its checkpoint at ``step`` in epoch ``epoch`` (0-based)."""
    dropped = truncate_history(os.path.join(run_dir, "history.csv"), epoch)
    logs = os.path.join(run_dir, "logs")
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
