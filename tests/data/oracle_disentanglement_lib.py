"""Produces the ORACLE_* numbers of tests/data/test_*.py with disentanglement_lib's own loaders, run
outside this repository on the files the tests write. Not a test; nothing of disentanglement_lib is
in this repository.

Setup (once): a copy of google-research/disentanglement_lib's ``disentanglement_lib/`` package in DLIB (the
numbers were made from commit 86a644d4ed35c771560dc3360756363d35477357 of 2020-08-27:
``git archive 86a644d disentanglement_lib | tar x -C DLIB``), and a virtual environment with
numpy==1.26.4 (its norb.py takes int() of a 1-element array, which numpy 2 refuses), pillow==13.0.0 (as
hwkeras's), scipy==1.13.1, scikit-learn==1.5.2, six, pytest, click. Then, from the repository root:

    HWKERAS_SHARED_DATA=../shared/data VENV/bin/python tests/data/oracle_disentanglement_lib.py DLIB WORK MODE

with MODE one of mpi3d, norb, cars, scream.

The shims, each for a dependency disentanglement_lib was written against: ``tensorflow.compat.v1``
with ``gfile.Open/GFile`` = open (a binary file whose close() is a no-op, since TF's GFile reopens on
a read after close and mpi3d.py reads after its ``with`` block), ``exists``, and ``ListDirectory``
sorted (TF's order is the file system's; hwkeras sorts); ``PIL.Image.ANTIALIAS`` = ``LANCZOS`` (removed
in Pillow 10, the same filter); ``thumbnail`` given ``size[:2]`` (Pillow < 7 read only size[0], size[1]
of its (64, 64, 3) and (350, 274, 3)).
"""

import hashlib
import os
import sys

import numpy as np

GFILE = '''
import io, os, types
def _listdir(path):
    return sorted(os.listdir(path))
class _GFile(io.FileIO):
    def __exit__(self, *exc):
        return False
    def close(self):
        pass
def _open(path, mode="r"):
    return _GFile(path, mode.replace("b", "")) if "b" in mode else open(path, mode)
gfile = types.SimpleNamespace(Open=_open, GFile=_open, exists=os.path.exists, ListDirectory=_listdir)
io = types.SimpleNamespace(gfile=gfile)
'''


def shim(dlib):
    package = os.path.join(dlib, "tensorflow", "compat", "v1")
    os.makedirs(package, exist_ok=True)
    for folder in (os.path.join(dlib, "tensorflow"), os.path.join(dlib, "tensorflow", "compat")):
        open(os.path.join(folder, "__init__.py"), "a").close()
    with open(os.path.join(package, "__init__.py"), "w") as handle:
        handle.write(GFILE)
    import PIL.Image

    PIL.Image.ANTIALIAS = PIL.Image.LANCZOS
    thumbnail = PIL.Image.Image.thumbnail
    PIL.Image.Image.thumbnail = lambda self, size, *a, **k: thumbnail(self, tuple(size[:2]), *a, **k)


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


def main(dlib, work, mode):
    sys.path.insert(0, dlib)
    sys.path.insert(1, os.getcwd())
    os.environ["DISENTANGLEMENT_LIB_DATA"] = work
    shim(dlib)
    if mode == "mpi3d":
        from tests.data.test_mpi3d import QUERY, write_toy

        os.makedirs(os.path.join(work, "mpi3d_toy"), exist_ok=True)
        write_toy(os.path.join(work, "mpi3d_toy", "mpi3d_toy.npz"))
        from disentanglement_lib.data.ground_truth import mpi3d

        data = mpi3d.MPI3D(mode="mpi3d_toy")
        print("factor_sizes", data.factor_sizes, "latent", data.latent_factor_indices, "bases",
              data.factor_bases.tolist())
        count = 6
    elif mode == "norb":
        from tests.data.test_smallnorb import QUERY, write_norb

        os.makedirs(os.path.join(work, "small_norb"), exist_ok=True)
        write_norb(os.path.join(work, "small_norb"))
        from disentanglement_lib.data.ground_truth import norb

        data = norb.SmallNORB()
        print("factor_sizes", data.factor_sizes, "latent", data.latent_factor_indices, "factors_num_values",
              data.factors_num_values, data.images.shape, data.images.min(), data.images.max())
        count = 6
    elif mode == "cars":
        from tests.data.test_cars3d import QUERY, write_cars

        os.makedirs(os.path.join(work, "cars"), exist_ok=True)
        write_cars(os.path.join(work, "cars"))
        from disentanglement_lib.data.ground_truth import cars3d

        data = cars3d.Cars3D()
        print("factor_sizes", data.factor_sizes, "latent", data.latent_factor_indices)
        count = 0  # three objects of its fixed 183: sampled factors would mostly name absent ones
    else:
        from tests.data.test_scream_dsprites import DSPRITES, QUERY, write_dsprites, write_painting

        for folder in ("dsprites", "scream"):
            os.makedirs(os.path.join(work, folder), exist_ok=True)
        write_dsprites(os.path.join(work, "dsprites", DSPRITES))
        write_painting(os.path.join(work, "scream", "scream.jpg"))
        from disentanglement_lib.data.ground_truth import dsprites

        data = dsprites.ScreamDSprites([1, 2, 3, 4, 5])
        print("painting", data.scream.shape)
        rs = np.random.RandomState(0)  # the query twice from one state
        print("QUERY", sha(np.concatenate([data.sample_observations_from_factors(QUERY, rs) for _ in range(2)])))
        count = 5
    if mode != "scream":
        print("QUERY", sha(data.sample_observations_from_factors(QUERY, np.random.RandomState(0))))
    if count:
        rs = np.random.RandomState(3)
        factors = data.sample_factors(count, rs)
        print("SAMPLED", factors.tolist(), sha(data.sample_observations_from_factors(factors, rs)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
