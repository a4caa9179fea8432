"""CHyVAE training as ``hwkeras fit`` drives it, against a hand-written tf.function step of the same net.

One process, TensorFlow backend, batch 64 of 64x64x1 images, latent 10. The hwkeras side is what
``hwkeras fit`` runs: ``model.fit`` of a HyperpriorVAE on ``dataset.batches(64)`` (the tf.data
pipeline rendering CorrelatedEllipses), with its callbacks (Keras's TensorBoard, the epoch and step histories, and
the TensorBoard traversal summaries every 500 steps). The yardstick is the loop a TensorFlow user would
write: the same encoder, head and decoder (hwkeras.layers' builders), the loss written out in TF
(summed Bernoulli NLL and the two KL terms in closed form), ``tf.GradientTape`` and Adam in one
``tf.function``, on a fixed in-memory batch (its best case: no input pipeline at all).

The rounds interleave inside one ``fit``: every epoch of ``--steps`` steps is a timed hwkeras round,
and at its end a timing callback runs a round of the hand-written step, so both see the same
machine load. Each side's figure is the total over all rounds (the traversal summaries fall into
some hwkeras rounds, as in a real run); the median of per-round ratios and the ratio of CPU time
are printed too. Target (issue 15): hwkeras >= 0.95x the hand-written step.

    python benchmarks/bench_fit.py [--rounds 25] [--steps 100] [--summary-every 500] [--without-step-history]
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402
from scipy import special  # noqa: E402

from hwkeras.data import CorrelatedEllipses  # noqa: E402
from hwkeras.layers import build_decoder, build_encoder  # noqa: E402
from hwkeras.models import build_model  # noqa: E402
from hwkeras.report.tensorboard import TraversalSummaries  # noqa: E402
from hwkeras.runs.logs import EpochHistory, StepHistory, default_log_every, epoch_logger  # noqa: E402

BATCH, LATENT, HIDDEN, NU = 64, 10, 128, 200.0


class HandWritten:
    """The CHyVAE step written out in TensorFlow; Psi = (nu - p - 1) I as hwkeras's default."""

    def __init__(self, seed=0):
        p = LATENT
        self.encoder = build_encoder((64, 64, 1), HIDDEN)
        self.head = keras.layers.Dense(p + p * (p + 1) // 2)
        self.head.build((None, HIDDEN))
        self.decoder = build_decoder((64, 64, 1), p, HIDDEN)
        self.optimizer = keras.optimizers.Adam(1e-4)
        self.weights = self.encoder.trainable_weights + self.head.trainable_weights + self.decoder.trainable_weights
        rows, cols = np.tril_indices(p)
        index = np.zeros((p, p), "int32")  # packed vector (after a leading 0) -> lower triangle
        index[rows, cols] = np.arange(1, len(rows) + 1)
        self.tril_index = tf.constant(index.reshape(-1))
        scale = NU - p - 1.0
        self.psi_inverse = tf.constant(np.eye(p) / scale, tf.float32)
        self.logdet_psi = p * math.log(scale)
        digamma = float(np.sum(special.digamma((NU + 1) / 2 + (1.0 - np.arange(1, p + 1)) / 2)))
        self.latent_constant = -p - p * math.log(2.0) - digamma
        self.hyper_constant = special.multigammaln(NU / 2, p) - special.multigammaln((NU + 1) / 2, p) + 0.5 * digamma
        self.generator = tf.random.Generator.from_seed(seed)
        self.step = tf.function(self._step)

    def _loss(self, x, eps=None):
        p = LATENT
        out = self.head(self.encoder(x, training=True))
        mean, packed = out[:, :p], out[:, p:]
        batch = tf.shape(out)[0]
        lower = tf.reshape(tf.gather(tf.pad(packed, [[0, 0], [1, 0]]), self.tril_index, axis=1), (-1, p, p))
        lower = tf.linalg.set_diag(lower, tf.nn.softplus(tf.linalg.diag_part(lower)) + 1e-4)
        scale_tril = tf.linalg.cholesky(tf.matmul(lower, lower, transpose_b=True) + 1e-4 * tf.eye(p))
        eps = self.generator.normal((2, batch, p)) if eps is None else eps
        z = mean + tf.linalg.matvec(scale_tril, eps[0])
        z_tilde = mean + tf.linalg.matvec(scale_tril, eps[1])
        logits = self.decoder(z, training=True)
        reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), [1, 2, 3])
        a = tf.matmul(z_tilde, self.psi_inverse)
        c = 1.0 + tf.reduce_sum(a * z_tilde, -1)
        trace_s = tf.reduce_sum(tf.matmul(self.psi_inverse, scale_tril) * scale_tril, [-2, -1])
        a_s_a = tf.reduce_sum(tf.square(tf.linalg.matvec(scale_tril, a, transpose_a=True)), -1)
        trace_mean = tf.reduce_sum(tf.matmul(mean, self.psi_inverse) * mean, -1)
        trace = trace_s + trace_mean - (a_s_a + tf.square(tf.reduce_sum(a * mean, -1))) / c
        logdet_s = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale_tril)), -1)
        kl_latent = 0.5 * ((NU + 1) * trace + self.logdet_psi + tf.math.log(c) - logdet_s + self.latent_constant)
        kl_hyperprior = NU / 2 * tf.math.log(c) - (NU + 1) / 2 * (c - 1.0) / c + self.hyper_constant
        return tf.reduce_mean(reconstruction + kl_latent + kl_hyperprior)

    def _step(self, x):
        with tf.GradientTape() as tape:
            loss = self._loss(x)
        self.optimizer.apply(tape.gradient(loss, self.weights), self.weights)
        return loss

    def check_same_loss(self, model, x):
        """The same weights and noise give hwkeras's loss (else this is not the same net and loss)."""
        for mine, theirs in ((self.encoder, model.encoder_body), (self.head, model.head.dense),
                             (self.decoder, model.decoder)):
            mine.set_weights(theirs.get_weights())
        eps = np.random.RandomState(1).normal(size=(2, len(x), LATENT)).astype("float32")
        expected = float(keras.ops.mean(model.compute_terms(x, training=True, noise=(eps[0], eps[1]))["loss"]))
        np.testing.assert_allclose(float(self._loss(tf.constant(x), tf.constant(eps))), expected, rtol=1e-5)

    def run(self, x, steps):
        for _ in range(steps):
            loss = self.step(x)
        return float(loss)  # waits for the last step


class Interleave(keras.callbacks.Callback):
    """Times each epoch of ``fit`` (one hwkeras round), then runs one hand-written round."""

    def __init__(self, hand_written, batch, steps):
        super().__init__()
        self.hand_written, self.batch, self.steps = hand_written, batch, steps
        self.rounds = {"hwkeras fit": [], "hand-written tf.function": []}

    def on_epoch_begin(self, epoch, logs=None):
        self.start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        # Keras's TensorFlow trainer has read this epoch's last logs: the steps are done.
        self.rounds["hwkeras fit"].append((time.perf_counter() - self.start[0], time.process_time() - self.start[1]))
        start = (time.perf_counter(), time.process_time())
        self.hand_written.run(self.batch, self.steps)
        self.rounds["hand-written tf.function"].append((time.perf_counter() - start[0], time.process_time() - start[1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--steps", type=int, default=100, help="steps per round (an epoch of the fit)")
    parser.add_argument("--summary-every", type=int, default=500, help="hwkeras fit's default")
    parser.add_argument("--without-step-history", action="store_true",
                        help="the loggers of hwkeras fit before --log-every (a CSVLogger instead of the histories)")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    dataset = CorrelatedEllipses()
    batch = dataset.sample_observations(BATCH, np.random.RandomState(0))
    hand_written = HandWritten()
    model = build_model("chyvae", latent_dim=LATENT, image_shape=(64, 64, 1), hidden_units=HIDDEN, seed=0, nu=NU)
    hand_written.check_same_loss(model, batch)
    hand_written.run(batch, 3)  # trace
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    interleave = Interleave(hand_written, batch, args.steps)
    with tempfile.TemporaryDirectory() as run_dir:
        logs = os.path.join(run_dir, "logs")
        total = args.rounds * args.steps
        # The loggers hwkeras fit runs (hwkeras.runs.session.training_callbacks): the epoch logs, the epoch
        # and step histories (a row every max(1, steps // 100) steps) and the traversal summaries.
        histories = [EpochHistory(os.path.join(run_dir, "history.csv")),
                     StepHistory(os.path.join(run_dir, "history_steps.csv"), default_log_every(total), log_dir=logs,
                                 steps_per_epoch=args.steps, final_step=total)]
        if args.without_step_history:  # the loggers before --log-every (issue 23): Keras's CSVLogger alone
            histories = [keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"))]
        callbacks = [interleave, epoch_logger(logs), *histories,
                     TraversalSummaries(logs, batch, every_n_steps=args.summary_every)]
        model.fit(dataset.batches(BATCH, seed=0), epochs=1, steps_per_epoch=5, shuffle=False,
                  verbose=0)  # trace
        model.fit(dataset.batches(BATCH, seed=0), epochs=args.rounds, steps_per_epoch=args.steps,
                  callbacks=callbacks, shuffle=False, verbose=0)
        summaries = callbacks[-1].written

    images = args.rounds * args.steps * BATCH
    totals = {name: (sum(w for w, _ in r), sum(c for _, c in r)) for name, r in interleave.rounds.items()}
    ratios = [a[0] / b[0] for a, b in zip(*interleave.rounds.values())]
    hw, hand = totals["hwkeras fit"], totals["hand-written tf.function"]
    print(f"Machine: {machine_description()}")
    print(f"Versions: {versions('keras', 'tensorflow', 'numpy')}")
    print(f"CHyVAE, batch {BATCH}, 64x64x1, latent {LATENT}, TensorFlow on the CPU (jit_compile="
          f"{model.jit_compile}), {args.rounds} interleaved rounds of {args.steps} steps; traversal summaries "
          f"at steps {summaries}\n")
    print(markdown_table(
        ["training", "images/s (all rounds)", "images per CPU-second", "median round (s)"],
        [[name, f"{images / w:.0f}", f"{images / c:.0f}",
          f"{statistics.median(x for x, _ in interleave.rounds[name]):.2f}"]
         for name, (w, c) in totals.items()]))
    print(f"\nhwkeras fit / hand-written: {hand[0] / hw[0]:.3f} (images/s over all rounds), "
          f"{1 / statistics.median(ratios):.3f} (median of per-round ratios), {hand[1] / hw[1]:.3f} (CPU time). "
          f"Target >= 0.95.")


if __name__ == "__main__":
    main()
