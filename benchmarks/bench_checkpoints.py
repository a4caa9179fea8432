"""What the run guard of ``hwkeras fit`` costs: the per-step check, and a checkpoint amortised over its interval.

Three measurements per model, in one process (TensorFlow on the CPU unless KERAS_BACKEND says otherwise):

1. CPU-seconds per step of ``model.fit`` without and with ``RunGuard`` (checkpoint writing switched
   off, so only the per-step work is left: the loss check and the step count), in interleaved
   rounds; the process's CPU time is insensitive to other jobs on a shared machine, wall time is not.
2. The guard's own per-step work alone: ``on_train_batch_end`` on a real step's logs, many calls.
3. One checkpoint (``RunGuard.save``: the NaN check of the weights, then weights, both optimizers and
   the seed state written and renamed into place), wall-clock median of several.

The overhead of ``--checkpoint-every N`` is ``(2) / step + (3) / (N * step)`` (plus one more
checkpoint per epoch: epochs are at most 1000 steps, so N = 1000 adds none). On a GPU run it with
``--wall`` (quiet machine): the step is then timed on the wall clock, where the per-step read of
the loss, a host sync, shows up if it costs anything.

    python benchmarks/bench_checkpoints.py [--batch-size 64] [--steps 10] [--rounds 3] [--every 1000] [--wall]
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
from hwkeras.runs.guard import RunGuard  # noqa: E402


class CheckOnly(RunGuard):
    """The guard's per-step work without its checkpoints."""

    def save(self):
        self.last_saved = self.step


def seconds_per_step(model, batches, steps, callbacks, wall):
    clock = time.perf_counter if wall else time.process_time
    start = clock()
    model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=callbacks, shuffle=False, verbose=0)
    return (clock() - start) / steps


def guard_call_seconds(model, batches, run_dir, calls=2000):
    """CPU-seconds of one ``on_train_batch_end`` of the guard, on the logs of a real step."""
    seen = {}

    class Keep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.update(logs)

    model.fit(batches, epochs=1, steps_per_epoch=1, callbacks=[Keep()], shuffle=False, verbose=0)
    guard = CheckOnly(run_dir, every_n_steps=10 ** 9)
    guard.set_model(model)
    start = time.process_time()
    for batch in range(calls):
        guard.on_train_batch_end(batch, seen)
    return (time.process_time() - start) / calls


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
    seconds_per_step(model, batches, 3, [], args.wall)  # trace and warm up
    times = {"without": [], "with": []}
    for _ in range(args.rounds):
        times["without"].append(seconds_per_step(model, batches, args.steps, [], args.wall))
        times["with"].append(seconds_per_step(model, batches, args.steps, [CheckOnly(run_dir)], args.wall))
    call = guard_call_seconds(model, batches, run_dir)
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
    step = statistics.median(times["without"])
    save = statistics.median(saves)
    with_guard = statistics.median(times["with"]) / step - 1.0
    amortised = save / (args.every * step)
    return [name, f"{step * 1000:.0f} ms", f"{with_guard * 100:+.1f}%",
            f"{call * 1e6:.0f} us ({call / step * 100:.3f}%)",
            f"{save * 1000:.0f} ms ({size / 1e6:.1f} MB)", f"{100 * amortised:.3f}%",
            f"{100 * (call / step + amortised):.3f}%"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wall", action="store_true", help="time steps on the wall clock (a quiet GPU machine)")
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
    clock = "wall-clock" if args.wall else "CPU"
    print(f"Batch {args.batch_size}, 64x64x1, latent 10, {args.rounds} interleaved rounds of {args.steps} steps, "
          f"{args.saves} checkpoints; keras backend {keras.backend.backend()}; steps timed in {clock} seconds\n")
    print(markdown_table(["model", "step (median)", "fit with the guard (no writes), median", "guard per step",
                          "one checkpoint (wall)", f"a checkpoint every {args.every} steps", "total overhead"], rows))


if __name__ == "__main__":
    main()
