"""TensorBoard pictures during ``fit``: watch the latents form.

    callback = TraversalSummaries("runs/my-run/logs", images, every_n_steps=500)
    model.fit(..., callbacks=[callback])          # then: tensorboard --logdir runs/my-run/logs

Every ``every_n_steps`` training steps (and once at the end) it writes to ``LOG_DIR/images/``:
``traversals`` (one row per latent, sorted by average KL, largest first, as on the report page),
``reconstructions`` (inputs above, reconstructions below), and the scalars ``latent_kl/z<j>`` and
``active_latents`` (KL >= ``latents.COLLAPSED_KL``).

The events are written with the ``tensorboard`` package's own writer, which needs no TensorFlow,
so the callback works on the JAX and torch backends without it. Without the ``tensorboard``
package the callback says so once and does nothing.
"""

import os
import warnings

import keras
import numpy as np

from hwkeras.report import latents
from hwkeras.runs.tensorboard import open_writer

IMAGES_SUBDIR = "images"
DEFAULT_EVERY_N_STEPS = 500


class TraversalSummaries(keras.callbacks.Callback):
    """Writes the KL-sorted traversal grid, reconstructions and per-latent KLs every N steps.

    Args:
        log_dir: the run's TensorBoard directory (``RUN_DIR/logs``); events go to ``log_dir/images``.
        images: (n, H, W, C) floats in [0, 1]. The first is the traversal's starting point, the
            first ``latents.PREVIEW_IMAGES`` are reconstructed, all of them give the average KLs
            (64 are plenty: a few hundredths of a second per summary on a CPU).
        every_n_steps: training steps between two summaries.
        log: callable taking the one-line note when no writer is available (default: a warning).
        initial_step: the step training starts from (a resumed run's checkpoint).
        final_step: the run's last step, when training comes in several ``fit`` calls (a resumed
            run): the summary "at the end" is then written at that step only.
    """

    def __init__(self, log_dir, images, every_n_steps=DEFAULT_EVERY_N_STEPS, log=None, initial_step=0,
                 final_step=None):
        super().__init__()
        if int(every_n_steps) < 1:
            raise ValueError(f"every_n_steps must be a positive number of steps, got {every_n_steps}")
        self.log_dir = os.path.join(log_dir, IMAGES_SUBDIR)
        self.images = np.asarray(images, np.float32)
        if self.images.ndim != 4 or len(self.images) == 0:
            raise ValueError(f"images must be a non-empty (n, H, W, C) array, got shape {self.images.shape}")
        self.every_n_steps = int(every_n_steps)
        self.log = log or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=2))
        self.writer = None
        self.step = int(initial_step)
        self.final_step = final_step
        self.written = []  # the steps summarised, for the caller and the tests
        self._epoch_start = self.step
        self._last_begin = -1  # the first step of the epoch's latest call
        self._noted = False

    def on_train_begin(self, logs=None):
        if self.writer is None:
            self.writer, problem = open_writer(self.log_dir)
            if problem and not self._noted:
                self._noted = True
                self.log(problem)

    # The steps are counted when a batch *begins* (the steps finished so far) and when the epoch
    # ends, not in on_train_batch_end: a callback with its own on_train_batch_end makes Keras turn
    # every step's logs into Python floats on the training thread, which on JAX and torch waits
    # for the accelerator to finish each step before the next one is dispatched.
    def on_train_batch_begin(self, batch, logs=None):
        # ``batch`` is the first step of the call within the epoch (steps_per_execution may be > 1).
        self._last_begin = batch
        self._advance(self._epoch_start + batch)

    def on_epoch_end(self, epoch, logs=None):
        finished = self._last_begin + getattr(self._model, "steps_per_execution", 1)
        if (self.params or {}).get("steps"):
            finished = min(finished, self.params["steps"])
        self._advance(self._epoch_start + finished)
        self._epoch_start, self._last_begin = self.step, -1

    def _advance(self, step):
        previous, self.step = self.step, max(self.step, step)
        if self.step // self.every_n_steps > previous // self.every_n_steps:
            self.write(self.step)

    def on_train_end(self, logs=None):
        at_end = self.final_step is None or self.step >= self.final_step
        if at_end and self.step and (not self.written or self.written[-1] != self.step):
            self.write(self.step)
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def write(self, step):
        if self.writer is None:
            return
        from hwkeras.viz import image_grid

        model = self.model  # on JAX this property syncs the trained state back into the variables
        kl = latents.latent_kl(model, self.images)
        rows = latents.latent_rows(kl)
        code = latents.posterior_mean(model, self.images[0])
        decoded = latents.sorted_traversals(model, code, [row["latent"] for row in rows])
        self.writer.image("traversals", image_grid(decoded.reshape((-1,) + decoded.shape[2:]),
                                                   decoded.shape[0], decoded.shape[1]), step)
        preview = self.images[: latents.PREVIEW_IMAGES]
        recon = latents.reconstructions(model, preview)
        self.writer.image("reconstructions", image_grid(np.concatenate([preview, recon]), 2, len(preview)), step)
        for j, value in enumerate(kl):
            self.writer.scalar(f"latent_kl/z{j}", value, step)
        self.writer.scalar("active_latents", sum(not row["collapsed"] for row in rows), step)
        self.writer.flush()
        self.written.append(step)
