"""Dataset-scale evaluation against today's sampled path: the dlib suite for one dSprites model.

    python benchmarks/bench_evaluate.py                         # the full suite, both paths, one run
    python benchmarks/bench_evaluate.py --scale 0.1 --grid 0.1  # dSprites at a tenth: same ratio of draws to images
    python benchmarks/bench_evaluate.py --count-only            # images each path encodes, no model (fast)
    KERAS_BACKEND=jax python benchmarks/bench_evaluate.py       # GPU machine (no TensorFlow needed)

Both paths run in one process on the same untrained 64x64 model (``bench_metrics._untrained_model``:
the cost of encoding does not depend on the weights) through ``hwkeras.metrics.evaluate``: first
``encode_once=False`` (every draw encoded, DCI's classifiers in order: hwkeras before issue 22;
``--sampled-dci side-by-side`` fits them as the table path does), then ``encode_once=True``
(each distinct image encoded once into ``hwkeras.metrics.table.CodeTable``, in memory, no disk
cache). It prints each path's wall time split into encoder, rendering and the metrics' own work,
the images each encoded, the ratio, and whether every metric's record is identical (it must be).

``--grid 0.1`` shrinks procedural dSprites to a tenth (posX and posY on 10 of their 32 values:
72,000 images) so that, with ``--scale 0.1``, the suite draws as many times per distinct image
as the full suite on the full grid (about 4): the encoding saved is the full-size one, at a
tenth of the cost. ``--count-only`` replaces the model by a cheap numpy code and reports only the
images each path encodes (exact at any scale; the metrics' own work still runs).
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

import common  # noqa: E402
from bench_metrics import Timed, _devices, _untrained_model, scaled  # noqa: E402

from hwkeras.data.dsprites_procedural import ProceduralDSprites  # noqa: E402
from hwkeras.data.ground_truth import FactorGrid  # noqa: E402
from hwkeras.metrics.evaluate import METRICS, evaluate, metric_parameters  # noqa: E402


class TimedGrid(FactorGrid):
    """Procedural dSprites, or a sub-grid of it (evenly spaced posX and posY values), rendering timed."""

    observation_shape = (64, 64, 1)

    def __init__(self, grid=1.0):
        self.base = ProceduralDSprites()
        sizes = list(self.base.factor_sizes)
        positions = 32 if grid >= 1.0 else max(2, int(round(32 * np.sqrt(grid))))
        sizes[3] = sizes[4] = positions
        self.factor_sizes = tuple(sizes)
        self.factor_names = self.base.factor_names
        self.picks = [np.rint(np.linspace(0, full - 1, size)).astype(np.int64)
                      for full, size in zip(self.base.factor_sizes, self.factor_sizes)]
        self.seconds, self.rendered = 0.0, 0

    def images_at(self, indices):
        start = time.perf_counter()
        factors = self.factors_of(indices)
        full = np.stack([pick[factors[:, j]] for j, pick in enumerate(self.picks)], axis=1)
        images = self.base.images_at(self.base.index_of(full))
        self.seconds += time.perf_counter() - start
        self.rendered += len(images)
        return images


class NumpyCode:
    """A cheap deterministic 8-d code of 64x64 images (``--count-only``): pixel sums in 8 bands of rows."""

    def __call__(self, observations):
        x = np.asarray(observations, np.float32).reshape(len(observations), 8, -1)
        return np.tanh(x.sum(axis=2) / 40.0 - 1.0)


def _cpu_seconds():
    """User + system CPU seconds of this process, all its threads (TensorFlow's, DCI's) together."""
    times = os.times()
    return times.user + times.system


def run_path(encode_once, args, params, model):
    from hwkeras.metrics import representation_from_model

    dataset = TimedGrid(args.grid)
    function = NumpyCode() if model is None else representation_from_model(model, batch_size=args.encode_batch)
    representation = Timed(function)
    jobs = os.environ.get("HWKERAS_METRIC_JOBS")
    if not encode_once and args.sampled_dci == "in-order":  # hwkeras before issue 22: DCI's fits in order
        os.environ["HWKERAS_METRIC_JOBS"] = "1"
    try:
        start, cpu = time.perf_counter(), _cpu_seconds()
        record = evaluate(dataset, representation, args.metrics, seed=args.seed, params=params,
                          encode_once=encode_once)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    finally:
        os.environ.pop("HWKERAS_METRIC_JOBS", None)
        if jobs is not None:
            os.environ["HWKERAS_METRIC_JOBS"] = jobs
    return {"record": record, "wall": wall, "cpu": cpu, "encoder": representation.seconds,
            "images": representation.images,
            "render": dataset.seconds, "rendered": dataset.rendered, "grid": int(np.prod(dataset.factor_sizes))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="factor on every metric's sample sizes")
    parser.add_argument("--grid", type=float, default=1.0, help="fraction of the dSprites grid (posX, posY shrunk)")
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--model", choices=("chyvae", "vae"), default="chyvae")
    parser.add_argument("--encode-batch", type=int, default=64)
    parser.add_argument("--count-only", action="store_true", help="a numpy code instead of a model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampled-dci", choices=("in-order", "side-by-side"), default="in-order",
                        help="DCI's classifiers on the sampled path: in order (hwkeras before issue 22, the "
                             "default) or side by side as on the table path")
    args = parser.parse_args(argv)

    names = [name for name in METRICS if args.metrics == "all" or name in args.metrics.split(",")]
    args.metrics = ",".join(names)
    params = {name: scaled(metric_parameters(name, "dlib"), args.scale) for name in names}
    model = None
    where = "numpy code (--count-only)"
    if not args.count_only:
        import keras

        model = _untrained_model(args.model)
        backend = keras.backend.backend()
        devices = ", ".join(map(str, _devices(backend)))
        where = f"{args.model} 64x64 latent 10 untrained; backend {backend} ({devices})"
    print(f"# dlib suite ({args.metrics}) at {args.scale} x sizes, procedural dSprites grid x {args.grid}: "
          f"sampled path (DCI {args.sampled_dci}) vs code table (DCI side by side)\n")
    print(f"{common.machine_description()}; load average {os.getloadavg()[0]:.1f} at the start; {where}; "
          f"{common.versions('keras', 'tensorflow', 'jax', 'torch', 'numpy', 'scikit-learn')}; "
          f"encoder batch {args.encode_batch}.\n", flush=True)

    # Warm-up: scikit-learn's imports and first calls, paid by neither timed path.
    tiny = {name: scaled(metric_parameters(name, "dlib"), 0.01) for name in names}
    evaluate(TimedGrid(0.1), NumpyCode(), args.metrics, seed=args.seed, params=tiny)
    results = {}
    for label, encode_once in (("sampled (every draw encoded)", False), ("table (each image once)", True)):
        results[label] = result = run_path(encode_once, args, params, model)
        other = result["wall"] - result["encoder"] - result["render"]
        print(f"- {label}: {result['wall']:.1f} s wall, {result['cpu']:.1f} s of CPU; encoder "
              f"{result['encoder']:.1f} s for "
              f"{result['images']:,} images; rendering {result['render']:.1f} s for {result['rendered']:,}; "
              f"metrics' own work {other:.1f} s; per metric "
              + ", ".join(f"{k} {v:.1f}" for k, v in result["record"]["elapsed_seconds"].items()), flush=True)
    sampled, table = results.values()
    identical = sampled["record"]["metrics"] == table["record"]["metrics"]
    rows = [(label, f"{r['wall']:.1f}", f"{r['cpu']:.1f}", f"{r['encoder']:.1f}", f"{r['images']:,}",
             f"{r['render']:.1f}") for label, r in results.items()]
    print()
    print(common.markdown_table(["path", "wall s", "CPU s", "encoder s", "images encoded", "rendering s"], rows))
    print(f"\ngrid {table['grid']:,} images; draws {table['record']['encoding']['draws_looked_up']:,}; "
          f"sampled / table: wall {sampled['wall'] / table['wall']:.2f}x, images encoded "
          f"{sampled['images'] / max(table['images'], 1):.2f}x; every metric's record identical: {identical}; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print("scores: " + ", ".join(f"{k} {v:.4f}" for k, v in table["record"]["summary"].items()))
    if not identical:
        sys.exit("the two paths gave different numbers")


if __name__ == "__main__":
    main()
