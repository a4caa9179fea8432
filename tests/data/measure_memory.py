"""Peak memory of the MPI3D, SmallNORB and Cars3D loaders at full size (the figures in docs/DATASETS.md).

    python tests/data/measure_memory.py write DIR            # full-size files, sparse where the format allows
    /usr/bin/time -v python tests/data/measure_memory.py mpi3d DIR    # likewise norb, cars

``write`` makes a 1,036,800-image mpi3d_real.npz (12.7 GB, a hole but for every 997th image), the six
SmallNORB files (dat sparse) and 183 Cars3D .mat files (825 MB, written whole). Each loader run opens
the dataset, serves 100 training batches of 64 and 1,000 sampled observations, and prints the numpy
peak (tracemalloc) and the process's anonymous and file-backed resident memory (/proc/self/status).
Not a test: a measurement to run by hand.
"""

import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def write(root):
    import scipy.io

    from tests.data.published import write_stored_npz
    from tests.data.test_cars3d import views
    from tests.data.test_smallnorb import write_norb

    for folder in ("mpi3d_real", "small_norb", "cars"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    write_stored_npz(os.path.join(root, "mpi3d_real", "mpi3d_real.npz"), "images", (1036800, 64, 64, 3), np.uint8,
                     {i: np.full((64, 64, 3), i % 256, np.uint8) for i in range(0, 1036800, 997)})
    write_norb(os.path.join(root, "small_norb"))
    for k in range(183):
        scipy.io.savemat(os.path.join(root, "cars", f"car_{k:03d}_mesh.mat"), {"im": views(k)})


def measure(mode, root):
    from hwkeras.data import get_dataset

    tracemalloc.start()
    start = time.time()
    data = get_dataset({"mpi3d": "mpi3d-real", "norb": "smallnorb", "cars": "cars3d"}[mode], data_dir=root)
    opened = time.time() - start
    for i in range(100):
        data.batch(64, seed=0, index=i)
    rs = np.random.RandomState(0)
    data.sample_observations_from_factors(data.sample_factors(1000, rs), rs)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    with open("/proc/self/status") as handle:
        status = dict(line.split(":", 1) for line in handle)
    print(f"{mode}: {len(data)} images; numpy peak {peak:.0f} MB; RssAnon {status['RssAnon'].strip()}, "
          f"RssFile {status['RssFile'].strip()}, VmHWM {status['VmHWM'].strip()}; opened in {opened:.1f} s, "
          f"batches and samples in {time.time() - start - opened:.1f} s")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        measure(sys.argv[1], sys.argv[2])
