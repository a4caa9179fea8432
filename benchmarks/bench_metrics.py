"""Times each disentanglement metric at its protocol's sample sizes on the CPU.

    python benchmarks/bench_metrics.py            # dlib reference sizes (several minutes: DCI)
    python benchmarks/bench_metrics.py --quick    # a tenth of every sample size
    python benchmarks/bench_metrics.py --encoder-ms 12 --measure-encoder

The metric's own cost (sampling factors, classifiers, bookkeeping) is measured with a cheap
numpy representation of a dSprites-shaped toy dataset (factor sizes 3, 6, 40, 32, 32; images
are one pixel per factor, 10-d code). The encoder's share is reported separately: the number of
images and calls each metric encodes, and what a representation function costing
``--encoder-ms`` milliseconds per 64 images would add. ``--measure-encoder`` times an untrained
64x64 HyperpriorVAE encoder on this machine to give that number. Rendering real images (e.g.
dSprites lookups, ellipse drawing) is a third share not counted here.

Prints a markdown table.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hwkeras.data.ground_truth import GroundTruthData  # noqa: E402
from hwkeras.metrics.evaluate import METRICS, metric_parameters  # noqa: E402

DSPRITES_FACTOR_SIZES = (3, 6, 40, 32, 32)


class ToyDSprites(GroundTruthData):
    """dSprites' factor grid; the 'image' is the factors scaled to [0, 1] plus a little noise."""

    factor_sizes = DSPRITES_FACTOR_SIZES
    observation_shape = (len(DSPRITES_FACTOR_SIZES), 1, 1)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        x = factors / (np.array(self.factor_sizes) - 1.0)
        x = x + 0.05 * random_state.randn(*x.shape)
        return x.reshape((len(factors),) + self.observation_shape).astype(np.float32)


class CountingRepresentation:
    """A cheap 10-d code (a fixed tanh mixing), counting calls, images and time spent."""

    def __init__(self, num_dims=10):
        weights = np.random.RandomState(0).randn(num_dims, len(DSPRITES_FACTOR_SIZES))
        weights[: len(DSPRITES_FACTOR_SIZES)] += 3 * np.eye(len(DSPRITES_FACTOR_SIZES))
        self.weights = weights.astype(np.float32)
        self.calls = self.images = 0
        self.seconds = 0.0

    def __call__(self, observations):
        start = time.perf_counter()
        codes = np.tanh(observations.reshape(len(observations), -1) @ self.weights.T)
        self.calls += 1
        self.images += len(observations)
        self.seconds += time.perf_counter() - start
        return codes


def measure_encoder_ms(repeats=20):
    """Milliseconds per 64 images of an untrained 64x64 HyperpriorVAE encoder (TensorFlow)."""
    import hwkeras

    model = hwkeras.HyperpriorVAE(latent_dim=10, image_shape=(64, 64, 1), seed=0)
    batch = np.random.RandomState(0).rand(64, 64, 64, 1).astype(np.float32)
    model.encode(batch)  # build and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        np.asarray(model.encode(batch)[0])
    return 1000 * (time.perf_counter() - start) / repeats


def scaled(params, scale):
    """Sample sizes (keys starting with 'num_') multiplied by ``scale``; other constants kept."""
    return {k: (max(2, int(round(v * scale))) if k.startswith("num_") and k != "num_bins" else v)
            for k, v in params.items()}


def run(name, protocol, scale, seed):
    params = scaled(metric_parameters(name, protocol), scale)
    representation = CountingRepresentation()
    kwargs = dict(params, protocol=protocol) if name == "factor_vae" else params
    start = time.perf_counter()
    METRICS[name].compute(ToyDSprites(), representation, np.random.RandomState(seed), **kwargs)
    wall = time.perf_counter() - start
    return params, wall, representation


def describe(name, params):
    keys = [k for k in ("num_train", "num_eval", "num_test", "num_variance_estimate",
                        "batch_size") if k in params]
    short = {"num_train": "train", "num_eval": "eval", "num_test": "test",
             "num_variance_estimate": "var", "batch_size": "batch"}
    return ", ".join(f"{short[k]} {params[k]}" for k in keys)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every sample size")
    parser.add_argument("--metrics", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--encoder-ms", type=float, default=10.0,
                        help="cost of the representation function per 64 images, in ms")
    parser.add_argument("--measure-encoder", action="store_true",
                        help="measure --encoder-ms with an untrained 64x64 HyperpriorVAE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from hwkeras.metrics.evaluate import parse_metric_names

    names = parse_metric_names(args.metrics)
    scale = 0.1 if args.quick else 1.0
    encoder_ms = measure_encoder_ms() if args.measure_encoder else args.encoder_ms
    source = "measured, HyperpriorVAE 64x64, untrained" if args.measure_encoder else "assumed"

    jobs = [(name, "dlib") for name in names]
    if "factor_vae" in names:
        jobs.insert(names.index("factor_vae") + 1, ("factor_vae", "chyvae"))

    import sklearn

    print(f"# Metric timings ({'quick: 0.1 x ' if args.quick else ''}reference sizes)\n")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"numpy {np.__version__}, scikit-learn {sklearn.__version__}; "
          f"encoder {encoder_ms:.1f} ms per 64 images ({source}).\n")
    header = ("| metric | protocol | sizes | metric only (s) | images encoded | encoder calls "
              f"| + encoder at {encoder_ms:.1f} ms/64 img (s) | estimated total (s) |")
    print(header)
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for name, protocol in jobs:
        params, wall, representation = run(name, protocol, scale, args.seed)
        metric_only = wall - representation.seconds
        encoder_s = representation.images / 64 * encoder_ms / 1000
        print(f"| {name} | {protocol} | {describe(name, params)} | {metric_only:.1f} | "
              f"{representation.images:,} | {representation.calls:,} | {encoder_s:.1f} | "
              f"{metric_only + encoder_s:.1f} |", flush=True)
    print("\nThe encoder estimate assumes cost proportional to images; MIG, DCI, SAP and "
          "modularity encode 16 images per call, which a GPU or a batched encoder does less "
          "efficiently than 64, so treat their share as a lower bound.")


if __name__ == "__main__":
    main()
