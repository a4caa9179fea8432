"""What the run guard of ``hwkeras fit`` costs: the per-step check, and a checkpoint amortised over its interval.

Two measurements per model, in one process:

1. Steps with and without ``RunGuard`` (checkpoint writing switched off, so only the per-step work
   is left: the loss check and the step count), in interleaved rounds of ``model.fit``; the figure
   is the ratio of the best rounds' steps/s.
2. The time of one checkpoint (``RunGuard.save``: the NaN check of the weights and the write of
   weights, both optimizers and the seed state, renamed into place), median of several.

The overhead of ``--checkpoint-every N`` is then ``(1 - ratio) + save_time / (N * step_time)``
(plus one more checkpoint per epoch: epochs are at most 1000 steps, so N = 1000 adds none).

    python benchmarks/bench_checkpoints.py [--batch-size 64] [--steps 20] [--rounds 5] [--every 1000]
"""

import argparse
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

from common import machine_description, markdown_table, versions  # noqa: E402
from hwkeras.data import CorrelatedEllipses  # noqa: E402
from hwkeras.models import build_model  # noqa: E402
from hwkeras.training.guard import RunGuard  # noqa: E402


class CheckOnly(RunGuard):
    """The guard's per-step work without its checkpoints."""

    def save(self):
        self.last_saved = self.step


def steps_per_second(model, batches, steps, callbacks):
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=callbacks, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)


def measure(name, args, run_dir):
    keras.utils.set_random_seed(0)
    model = build_model(name, latent_dim=10, image_shape=(64, 64, 1), hidden_units=128, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    images = CorrelatedEllipses().sample_observations(args.batch_size, np.random.RandomState(0))
    if keras.backend.backend() == "tensorflow":  # a fixed batch: the data pipeline is not measured here
        import tensorflow as tf

        batches = tf.data.Dataset.from_tensors(images).repeat()
    else:
        from hwkeras.data.pipeline import stream

        batches = stream(lambda i: images, images.shape, pipeline="py")
    steps_per_second(model, batches, 5, [])  # trace and warm up
    rates = {"without": [], "with": []}
    for _ in range(args.rounds):
        rates["without"].append(steps_per_second(model, batches, args.steps, []))
        rates["with"].append(steps_per_second(model, batches, args.steps, [CheckOnly(run_dir)]))
    guard = RunGuard(run_dir, keep=2)
    guard.set_model(model)
    saves = []
    for step in range(args.saves):
        guard.step = step + 1
        start = time.perf_counter()
        guard.save()
        saves.append(time.perf_counter() - start)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(run_dir, "checkpoints"))
               for f in fs) / 2
    best = {k: max(v) for k, v in rates.items()}
    step_time = 1.0 / best["without"]
    save_time = statistics.median(saves)
    per_step = 1.0 - best["with"] / best["without"]
    amortised = save_time / (args.every * step_time)
    return [name, f"{best['without']:.1f}", f"{best['with']:.1f}", f"{100 * per_step:+.2f}%",
            f"{save_time * 1000:.0f} ms ({size / 1e6:.1f} MB)", f"{100 * amortised:.3f}%",
            f"{100 * (per_step + amortised):+.2f}%"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--saves", type=int, default=5)
    parser.add_argument("--every", type=int, default=1000, help="the checkpoint interval to price")
    parser.add_argument("--models", default="chyvae,factor-vae")
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as run_dir:
            rows.append(measure(name, args, run_dir))
    print(f"Machine: {machine_description()}")
    print(f"Versions: {versions('keras', 'tensorflow', 'jax', 'numpy', 'h5py')}")
    print(f"Batch {args.batch_size}, 64x64x1, latent 10, {args.rounds} interleaved rounds of {args.steps} steps, "
          f"{args.saves} checkpoints; keras backend {keras.backend.backend()}\n")
    print(markdown_table(["model", "steps/s without guard", "with guard (no writes)", "per-step cost",
                          "one checkpoint", f"a checkpoint every {args.every} steps", "total"], rows))


if __name__ == "__main__":
    main()
