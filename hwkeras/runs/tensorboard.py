"""TensorBoard event files written with the ``tensorboard`` package alone (no TensorFlow): the run's
scalars (``EpochScalars``; the step scalars of ``hwkeras.runs.logs.StepHistory``) and the writer
the report's picture callback (``hwkeras.report.TraversalSummaries``) uses too.
"""

import io
import os
import time
import warnings

import keras
import numpy as np


class EventWriter:
    """Image and scalar summaries in TensorBoard's event-file format (the tensorboard package only)."""

    def __init__(self, log_dir):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(log_dir)

    def _add(self, value, step):
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step),
                                           summary=self._summary(value=[value])))

    def image(self, tag, pixels, step):
        """uint8 (H, W) or (H, W, 3)."""
        from PIL import Image

        pixels = np.asarray(pixels, np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        image = self._summary.Image(height=pixels.shape[0], width=pixels.shape[1],
                                    colorspace=1 if pixels.ndim == 2 else pixels.shape[2],
                                    encoded_image_string=buffer.getvalue())
        self._add(self._summary.Value(tag=tag, image=image), step)

    def scalar(self, tag, value, step):
        self._add(self._summary.Value(tag=tag, simple_value=float(value)), step)

    def flush(self):
        self._writer.flush()

    def close(self):
        self._writer.close()


def open_writer(log_dir):
    """(EventWriter, None) or (None, why not): the one note a process without the package gets."""
    try:
        return EventWriter(log_dir), None
    except ImportError as exc:
        return None, (f"TraversalSummaries: no TensorBoard images ({exc.__class__.__name__}: {exc}); "
                      f"install the tensorboard package to get them")


class EpochScalars(keras.callbacks.Callback):
    """The epoch scalars of keras.callbacks.TensorBoard (``LOG_DIR/train``, tags ``epoch_<metric>``),
    written with the tensorboard package alone.

    Keras's callback writes through ``tf.summary``: it imports TensorFlow, which a JAX or PyTorch
    process on a GPU machine may not have (and should not load beside JAX: their CUDA libraries
    clash). ``hwkeras.runs.logs.epoch_logger`` picks this one off the TensorFlow backend.
    """

    def __init__(self, log_dir, log=None):
        super().__init__()
        self.log_dir = os.path.join(log_dir, "train")
        self.log = log or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=2))
        self.writer = None

    def on_train_begin(self, logs=None):
        if self.writer is None:
            self.writer, problem = open_writer(self.log_dir)
            if problem:
                self.log(problem.replace("TraversalSummaries: no TensorBoard images", "no TensorBoard scalars"))

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is None:
            return
        for name, value in (logs or {}).items():
            if np.ndim(value) == 0:
                self.writer.scalar(f"epoch_{name}", float(value), epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
