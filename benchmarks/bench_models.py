"""Training throughput of every model of ``hwkeras.models.MODELS`` next to HyperpriorVAE (CHyVAE).

All models share the encoder/decoder (64x64x1, latent 10, dense 128; FactorVAE and BF-VAE add
their discriminator, 6 resp. 5 x Dense(1000), and its update; DIP-VAE-I/II and AnnealedVAE a
batch-level penalty, a p x p covariance of the codes or |batch KL - C|, and AnnealedVAE its step
counter) and train on the same fixed batch in
interleaved rounds in one process, so machine noise hits them alike. The figure of merit is
each model's images/s divided by CHyVAE's in the same round (median over rounds).

images/s counts the images the VAE trains on: a model with ``images_per_step = 2`` (BF-VAE's
"vae-first" order) is handed 2 x batch images a step, the second half for its discriminator, and
is credited with one batch, as ``hwkeras fit --batch-size`` would run it.
A model may be given options as ``name:key=value:...`` to compare variants in one run, e.g.
``--models bf-vae-1,bf-vae-1:update_order=simultaneous:discriminator_layers=6``.

    python benchmarks/bench_models.py [--batch-size 64] [--steps 20] [--rounds 5] [--models vae,factor-vae]
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

from hwkeras.data import CorrelatedEllipses  # noqa: E402
from hwkeras.models import MODELS, build_model  # noqa: E402

REFERENCE = "chyvae"


def images_per_second(model, images, steps):
    # train_on_batch runs the same compiled train_step as fit. Timing fit() itself here showed
    # rounds stretched by whole idle seconds (wall time 2x the CPU time, in 64 ms x 2^k steps)
    # while its tf.data iterator shut down, which is not the model's cost.
    per_step = getattr(model, "images_per_step", 1)
    batch = images[: per_step * len(images) // 2]
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(batch)
    return steps * len(batch) / per_step / (time.perf_counter() - start)


def parse_model(spec):
    """``name:key=value:...`` -> (name, options); values are numbers where they parse as one."""
    name, *pairs = spec.split(":")
    options = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                pass
        options[key] = value
    return name, options


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names (chyvae is always run)")
    args = parser.parse_args()
    names = [REFERENCE] + [n for n in args.models.split(",") if n and n != REFERENCE]

    tf.get_logger().setLevel("ERROR")  # one train function per model is expected, not a retracing bug
    keras.utils.set_random_seed(0)
    # Two batches: the second is only read by models that train D on a batch of its own.
    images = CorrelatedEllipses().sample_observations(2 * args.batch_size, np.random.RandomState(0))
    models = {}
    for name in names:
        model_name, options = parse_model(name)
        model = build_model(model_name, latent_dim=10, image_shape=(64, 64, 1), hidden_units=128, seed=0,
                            **options)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        images_per_second(model, images, 3)  # trace and warm up
        models[name] = model
    rates = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, model in models.items():
            rates[name].append(images_per_second(model, images, args.steps))
    # Ratios are taken within a round, so a process stealing the CPU for part of the run moves
    # numerator and denominator together; the median discards the rounds it hit unevenly.
    ratios = {name: [a / b for a, b in zip(r, rates[REFERENCE])] for name, r in rates.items()}
    print(f"Machine: {machine_description()}")
    print(f"Versions: {versions('keras', 'tensorflow', 'tensorflow-probability', 'numpy')}")
    print(f"Batch {args.batch_size}, 64x64x1, latent 10, hidden 128, {args.rounds} interleaved rounds of "
          f"{args.steps} steps; keras backend {keras.backend.backend()}, "
          f"jit_compile={models[REFERENCE].jit_compile}\n")
    rows = []
    for name, r in rates.items():
        q = ratios[name]
        rows.append([name, type(models[name]).__name__, f"{statistics.median(r):.0f}", f"{min(r):.0f}",
                     f"{max(r):.0f}", f"{statistics.median(q):.2f} ({min(q):.2f}..{max(q):.2f})"])
    print(markdown_table(["model", "class", "images/s (median)", "min", "max", "ratio to chyvae (range)"], rows))


if __name__ == "__main__":
    main()
