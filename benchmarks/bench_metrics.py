"""Times the disentanglement metrics: their own cost, and the full dlib suite with a real encoder.

    python benchmarks/bench_metrics.py            # metric-only cost at dlib's sizes (DCI: minutes)
    python benchmarks/bench_metrics.py --quick    # a tenth of every sample size
    python benchmarks/bench_metrics.py --measure-encoder   # + the encoder, eager vs compiled
    python benchmarks/bench_metrics.py --suite [--scale 0.1] [--compare-eager] [--model vae]
    KERAS_BACKEND=jax python benchmarks/bench_metrics.py --suite      # GPU box without TensorFlow

Default mode: each metric's own cost (sampling factors, classifiers, bookkeeping) is measured with
a cheap numpy representation of a dSprites-shaped toy dataset (factor sizes 3, 6, 40, 32, 32;
images are one pixel per factor, 10-d code); the encoder's share is reported separately: the
number of images each metric encodes, and what they cost at ``--encoder-ms`` milliseconds per 64
images. ``--measure-encoder`` times an untrained 64x64 HyperpriorVAE encoder both ways in one
run: eager ``model.encode`` (hwkeras before the compiled encoder) and
``hwkeras.metrics.representation_from_model`` (compiled for the backend).

``--suite``: all six metrics through ``hwkeras.metrics.evaluate`` at dlib's sizes (times
``--scale``), seed 0, for one untrained 64x64 model on procedural dSprites, with the compiled
encoder; the wall time is split into encoder, rendering and the metrics' own work.
``--compare-eager`` runs the same suite with the eager encoder in the same process and prints
the ratio. The suite imports TensorFlow only on the TensorFlow backend: it runs on a GPU machine
that has JAX or PyTorch alone.

Prints markdown tables.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

import common  # noqa: E402

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


def _untrained_model(name="chyvae", image_shape=(64, 64, 1)):
    """Random weights; the head's are scaled up so that the codes vary as a trained model's do
    (an untrained encoder's means all fall under FactorVAE's 0.05 pruning, and FactorVAE then
    skips its votes). The cost of encoding does not depend on the weights."""
    import hwkeras

    if name == "vae":
        from hwkeras.baselines.vae import VAE

        model = VAE(latent_dim=10, image_shape=image_shape, seed=0)
    else:
        model = hwkeras.HyperpriorVAE(latent_dim=10, image_shape=image_shape, seed=0)
    for weight in model.head.weights:
        weight.assign(weight * 100.0)
    return model


def measure_encoder_ms(repeats=20, rounds=5):
    """ms per 64 images of an untrained 64x64 HyperpriorVAE encoder: (eager, compiled).

    The two are interleaved round by round, so that a busy machine slows both alike.
    """
    from hwkeras.metrics import representation_from_model

    model = _untrained_model()
    batch = np.random.RandomState(0).rand(64, 64, 64, 1).astype(np.float32)
    encoders = {"eager": representation_from_model(model, compiled=False),
                "compiled": representation_from_model(model)}
    seconds = {name: [] for name in encoders}
    for encode in encoders.values():
        encode(batch)  # build, trace, compile
    for _ in range(rounds):
        for name, encode in encoders.items():
            start = time.perf_counter()
            for _ in range(repeats):
                encode(batch)
            seconds[name].append((time.perf_counter() - start) / repeats)
    return {name: 1000 * float(np.median(s)) for name, s in seconds.items()}


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


class Timed:
    """Counts images and seconds spent in a representation function."""

    def __init__(self, function):
        self.function, self.images, self.calls, self.seconds = function, 0, 0, 0.0

    def __call__(self, observations):
        start = time.perf_counter()
        codes = self.function(observations)
        self.seconds += time.perf_counter() - start
        self.images += len(observations)
        self.calls += 1
        return codes


class TimedRendering:
    """A ground-truth dataset whose image rendering is timed (the rest is passed through)."""

    def __init__(self, dataset):
        self.dataset, self.seconds = dataset, 0.0
        self.factor_sizes, self.num_factors = dataset.factor_sizes, dataset.num_factors
        self.sample_factors = dataset.sample_factors

    def sample_observations_from_factors(self, factors, random_state):
        start = time.perf_counter()
        images = self.dataset.sample_observations_from_factors(factors, random_state)
        self.seconds += time.perf_counter() - start
        return images

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]


def suite(args):
    """All six metrics at dlib's sizes x scale for one untrained model on procedural dSprites."""
    import keras

    from hwkeras.data import get_dataset
    from hwkeras.metrics import representation_from_model
    from hwkeras.metrics.evaluate import METRICS, evaluate

    model = _untrained_model(args.model)
    params = {name: scaled(metric_parameters(name, "dlib"), args.scale) for name in METRICS}
    modes = ["compiled", "eager"] if args.compare_eager else ["compiled"]
    device = ", ".join(str(d) for d in _devices(keras.backend.backend()))
    print(f"# Full dlib suite, one model ({args.model}, 64x64, latent 10, random), procedural "
          f"dSprites, scale {args.scale}\n")
    print(f"{common.machine_description()}; backend {keras.backend.backend()} ({device}); "
          f"{common.versions('keras', 'tensorflow', 'jax', 'torch', 'numpy', 'scikit-learn')}; "
          f"encoder batch {args.encode_batch}.\n")
    totals = {}
    for mode in modes:
        dataset = TimedRendering(get_dataset("dsprites-procedural"))
        representation = Timed(representation_from_model(
            model, batch_size=args.encode_batch, compiled=mode == "compiled"))
        start = time.perf_counter()
        record = evaluate(dataset, representation, "all", seed=args.seed, params=params)
        totals[mode] = time.perf_counter() - start
        rows = [(name, f"{seconds:.1f}") for name, seconds in record["elapsed_seconds"].items()]
        rows.append(("**all six**", f"**{totals[mode]:.1f}**"))
        print(f"## {mode} encoder: {representation.images:,} images encoded in "
              f"{representation.calls:,} calls\n")
        print(common.markdown_table(["metric", "seconds"], rows))
        other = totals[mode] - representation.seconds - dataset.seconds
        print(f"\nencoder {representation.seconds:.1f} s "
              f"({representation.images / max(representation.seconds, 1e-9):,.0f} img/s), "
              f"rendering {dataset.seconds:.1f} s, metrics' own work {other:.1f} s; "
              f"scores {', '.join(f'{k} {v:.4f}' for k, v in record['summary'].items())}\n",
              flush=True)
    if args.compare_eager:
        print(f"eager / compiled wall time: {totals['eager'] / totals['compiled']:.2f}")
    if keras.backend.backend() != "tensorflow":
        assert sys.modules.get("tensorflow") is None, "the suite imported TensorFlow"


def _devices(backend):
    if backend == "jax":
        import jax

        return jax.devices()
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every sample size")
    parser.add_argument("--metrics", default="all", help="'all' or a comma-separated list")
    parser.add_argument("--encoder-ms", type=float, default=10.0,
                        help="cost of the representation function per 64 images, in ms")
    parser.add_argument("--measure-encoder", action="store_true",
                        help="measure the encoder (eager and compiled) with a HyperpriorVAE")
    parser.add_argument("--suite", action="store_true",
                        help="the full dlib suite with a real encoder on procedural dSprites")
    parser.add_argument("--scale", type=float, default=1.0, help="--suite: sample-size factor")
    parser.add_argument("--compare-eager", action="store_true",
                        help="--suite: also run it with the eager encoder, in the same process")
    parser.add_argument("--model", choices=("chyvae", "vae"), default="chyvae")
    parser.add_argument("--encode-batch", type=int, default=64,
                        help="--suite: images per encoder call (representation_from_model)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.suite:
        return suite(args)

    from hwkeras.metrics.evaluate import parse_metric_names

    names = parse_metric_names(args.metrics)
    scale = 0.1 if args.quick else 1.0
    encoder = measure_encoder_ms() if args.measure_encoder else None
    encoder_ms = encoder["compiled"] if encoder else args.encoder_ms

    jobs = [(name, "dlib") for name in names]
    if "factor_vae" in names:
        jobs.insert(names.index("factor_vae") + 1, ("factor_vae", "chyvae"))

    print(f"# Metric timings ({'quick: 0.1 x ' if args.quick else ''}reference sizes)\n")
    print(f"{common.machine_description()}; "
          f"{common.versions('numpy', 'scikit-learn', 'keras', 'tensorflow')}.\n")
    if encoder:
        print(f"Encoder (untrained 64x64 HyperpriorVAE, {_backend()}), ms per 64 images, "
              f"median of 5 interleaved rounds: eager {encoder['eager']:.1f}, compiled "
              f"{encoder['compiled']:.1f} (eager / compiled = "
              f"{encoder['eager'] / encoder['compiled']:.2f}).\n")
    else:
        print(f"Encoder cost assumed: {encoder_ms:.1f} ms per 64 images.\n")
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
    print("\nEncoder calls are calls of the representation function: the metrics hand it up to "
          "4096 images at once (representation_from_model then encodes 64 per call).")


def _backend():
    import keras

    return keras.backend.backend()


if __name__ == "__main__":
    main()
