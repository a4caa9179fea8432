"""DCI at disentanglement_lib's size (10,000 training and 5,000 test codes of 10 dimensions, dSprites'
five factors of 3, 6, 40, 32 and 32 values): its classifiers fitted in order against side by side
(``hwkeras.metrics.dci``: threads, one per CPU and one per factor), in one run, on the same codes and
seed; all must give the same numbers.

Once ``hwkeras evaluate`` encodes each distinct image once (the code table), DCI's 113 x 100 boosted
trees are most of the disentanglement_lib suite's time (docs/BENCHMARKS.md): this measures that part.

    python benchmarks/bench_dci.py [--rounds 1] [--num-train 10000]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402

from hwkeras.metrics import dci  # noqa: E402

FACTOR_SIZES = (3, 6, 40, 32, 32)  # dSprites' latent factors


def sample(n, seed):
    rng = np.random.RandomState(seed)
    factors = np.stack([rng.randint(0, k, n) for k in FACTOR_SIZES], axis=1)
    mixing = rng.randn(len(FACTOR_SIZES), 10) * 0.3 + np.eye(len(FACTOR_SIZES), 10)
    codes = (factors / np.array(FACTOR_SIZES)) @ mixing + rng.randn(n, 10) * 0.05  # a partly disentangled code
    return codes, factors


def timed(n_jobs, data):
    start = time.perf_counter()
    out = dci.importance_gbt(*data, np.random.RandomState(0), n_jobs=n_jobs)
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--num-train", type=int, default=10000)
    args = parser.parse_args()
    data = (*sample(args.num_train, 0), *sample(args.num_train // 2, 1))
    cpus = len(os.sched_getaffinity(0))
    rows = []
    for _ in range(args.rounds):
        in_order, first = timed(1, data)
        row = [f"{in_order:.1f}"]
        for jobs in (cpus, len(FACTOR_SIZES)):  # one thread per CPU; every factor at once (the default)
            side, second = timed(jobs, data)
            if not (np.array_equal(first[0], second[0]) and first[1:] == second[1:]):
                raise SystemExit(f"{jobs} threads gave other numbers than in order")
            row += [f"{side:.1f}", f"{in_order / side:.2f}"]
        rows.append(row + ["yes"])
    print(f"{machine_description()}; {versions('scikit-learn', 'numpy')}; load average "
          f"{os.getloadavg()[0]:.1f} at the end; {cpus} CPUs")
    print(markdown_table(["in order (s)", f"{cpus} threads (s)", "ratio", f"{len(FACTOR_SIZES)} threads (s)",
                          "ratio", "same numbers"], rows))


if __name__ == "__main__":
    main()
