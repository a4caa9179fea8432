"""Training throughput of HyperpriorVAE (CHyVAE) against a plain diagonal-Gaussian VAE.

Both models share the encoder/decoder and train on the same fixed batch of 64x64 ellipses,
in many short interleaved rounds in one process, so machine noise hits both alike. Other
processes on a shared machine only ever slow a round down, so each model's figure is its best
round (and the median is shown beside it). Where the machine's CPU quota throttles the process,
wall-clock rounds quantise, so the images per CPU-second of this process are reported too.
The figure of merit is the ratio of images/s, CHyVAE / VAE. Target: >= 0.85 on the CPU.

    python benchmarks/bench_train.py [--batch-size 64] [--steps 8] [--rounds 25]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402

import hwkeras  # noqa: E402
from hwkeras.data import CorrelatedEllipses  # noqa: E402


def images_per_second(model, dataset, steps, batch_size):
    """(images per wall-clock second, images per CPU second of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    images = steps * batch_size
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    images = CorrelatedEllipses().sample_observations(args.batch_size, np.random.RandomState(0))
    dataset = tf.data.Dataset.from_tensors(images).repeat()
    models = {
        "HyperpriorVAE (CHyVAE)": hwkeras.HyperpriorVAE(latent_dim=10, nu=200.0, seed=0),
        "VAE (diagonal Gaussian)": hwkeras.VAE(latent_dim=10, seed=0),
    }
    for model in models.values():
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        images_per_second(model, dataset, 5, args.batch_size)  # trace and warm up
    rates = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            rates[name].append(images_per_second(model, dataset, args.steps, args.batch_size))
    wall = {name: [w for w, _ in r] for name, r in rates.items()}
    cpu = {name: [c for _, c in r] for name, r in rates.items()}
    ratios = [a / b for a, b in zip(*wall.values())]
    print(f"Machine: {machine_description()}")
    print(f"Versions: {versions('keras', 'tensorflow', 'tensorflow-probability', 'numpy')}")
    print(f"Batch {args.batch_size}, 64x64x1, latent 10, {args.rounds} interleaved rounds of {args.steps} steps; "
          f"keras backend {keras.backend.backend()}, jit_compile={models['VAE (diagonal Gaussian)'].jit_compile}\n")
    print(markdown_table(
        ["model", "images/s (best round)", "median round", "worst round", "images per CPU-second (median)"],
        [[name, f"{max(r):.0f}", f"{statistics.median(r):.0f}", f"{min(r):.0f}", f"{statistics.median(cpu[name]):.0f}"]
         for name, r in wall.items()],
    ))
    chyvae, vae = (max(r) for r in wall.values())
    cpu_ratio = statistics.median(cpu["HyperpriorVAE (CHyVAE)"]) / statistics.median(cpu["VAE (diagonal Gaussian)"])
    print(f"\nRatio CHyVAE / VAE: {chyvae / vae:.3f} (best rounds, wall clock); "
          f"{statistics.median(ratios):.3f} (median of per-round ratios); "
          f"{cpu_ratio:.3f} (CPU time, insensitive to other processes). Target >= 0.85.")


if __name__ == "__main__":
    main()
