"""Training throughput of HyperpriorVAE (CHyVAE) against a plain diagonal-Gaussian VAE.

Both models share the encoder/decoder and train on the same fixed batch of 64x64 ellipses,
in interleaved rounds in one process, so machine noise hits both alike; the figure of merit is
the ratio of images/s (CHyVAE / VAE). Target: >= 0.85 on the CPU.

    python benchmarks/bench_train.py [--batch-size 64] [--steps 40] [--rounds 5]
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

import hwkeras  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402
from hwkeras.data import CorrelatedEllipses  # noqa: E402


def images_per_second(model, dataset, steps, batch_size):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=7)
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
    # Each round times both models back to back; the median of the per-round ratios is robust
    # to another process stealing the CPU during part of the run.
    ratios = [a / b for a, b in zip(*rates.values())]
    print(f"Machine: {machine_description()}")
    print(f"Versions: {versions('keras', 'tensorflow', 'tensorflow-probability', 'numpy')}")
    print(f"Batch {args.batch_size}, 64x64x1, latent 10, {args.rounds} interleaved rounds of {args.steps} steps; "
          f"keras backend {keras.backend.backend()}, jit_compile={models['VAE (diagonal Gaussian)'].jit_compile}\n")
    print(markdown_table(
        ["model", "images/s (median)", "min", "max"],
        [[name, f"{statistics.median(r):.0f}", f"{min(r):.0f}", f"{max(r):.0f}"] for name, r in rates.items()],
    ))
    print(f"\nRatio CHyVAE / VAE (median of per-round ratios): {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}..{max(ratios):.3f}; target >= 0.85)")


if __name__ == "__main__":
    main()
