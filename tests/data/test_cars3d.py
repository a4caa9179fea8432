"""Cars3D: MATLAB ``*_mesh.mat`` files (array ``im`` (128, 128, 3, 24, 4) uint8) read back to
disentanglement_lib's images and index order; bad files one line each.

ORACLE_QUERY_SHA256 was produced by disentanglement_lib's own cars3d.py (google-research/
disentanglement_lib 86a644d, outside this repository, numpy 1.26.4, Pillow 13.0.0, with
tensorflow.compat.v1.gfile shimmed to open/os and its ListDirectory sorted; PIL.Image.ANTIALIAS set to
LANCZOS and thumbnail given (64, 64) of its (64, 64, 3), as Pillow < 7 read it) on the three files
``write_cars`` writes: ``tests/data/oracle_disentanglement_lib.py DLIB WORK cars``. Its loader fills the objects
it finds into its fixed (4, 24, 183) grid; the query asks for the three written objects only.
"""

import hashlib
import os

import numpy as np
import pytest
import scipy.io

from hwkeras.data import get_dataset
from hwkeras.data.cars3d import Cars3D

NAMES = ("car_001_mesh.mat", "car_002_mesh.mat", "car_017_mesh.mat")


def views(k):
    """(128, 128, 3, 24, 4) uint8 of object k: smooth images, each view different."""
    rs = np.random.RandomState(k)
    steps = rs.randint(-6, 7, (128, 128, 3, 24, 4))
    return np.clip(100 + np.cumsum(steps, axis=1), 0, 255).astype(np.uint8)


def write_cars(folder):
    for k, name in enumerate(NAMES):
        scipy.io.savemat(os.path.join(folder, name), {"im": views(k)})
    with open(os.path.join(folder, "README.txt"), "w") as handle:
        handle.write("not a .mat file")
    return folder


# (elevation, azimuth, object) rows queried of both loaders.
QUERY = np.array([[0, 0, 0], [3, 0, 0], [0, 23, 0], [1, 2, 1], [2, 17, 2], [3, 23, 2], [0, 5, 1]])
# disentanglement_lib: sha256 of sample_observations_from_factors(QUERY, RandomState(0)) (float32).
ORACLE_QUERY_SHA256 = "1c32c9571e63adc449b798d99e1900e807379d3ff4677fc0600937aee9f900fa"


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def cars(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "cars"
    folder.mkdir()
    return write_cars(str(folder))


def test_equal_to_disentanglement_lib(cars):
    data = get_dataset("cars3d", data_dir=os.path.dirname(cars), num_objects=3)
    assert isinstance(data, Cars3D) and data.factor_sizes == (4, 24, 3) and len(data) == 288
    assert data.factor_names == ("elevation", "azimuth", "object_type") and data.files == NAMES
    observations = data.sample_observations_from_factors(QUERY, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (7, 64, 64, 3)
    assert sha(observations) == ORACLE_QUERY_SHA256
    assert data.observations_fixed_by_factors


def test_views_land_on_their_factors(cars):
    from PIL import Image

    data = Cars3D(cars, num_objects=3)
    for elevation, azimuth, k in ((2, 17, 2), (0, 5, 1), (3, 0, 0)):
        picture = Image.fromarray(views(k)[:, :, :, azimuth, elevation]).resize((64, 64), Image.LANCZOS)
        want = (np.asarray(picture) / 255.0).astype(np.float32)
        np.testing.assert_array_equal(data.sample_observations_from_factors([[elevation, azimuth, k]], None)[0], want)
    batch = data.batch(100, seed=0, index=0)
    assert batch.shape == (100, 64, 64, 3) and batch.dtype == np.float32 and batch.std() > 0.01
    # Each epoch visits the 288 images once.
    epoch = np.concatenate([data.batch(96, seed=0, index=i) for i in range(3)])
    assert len(np.unique(epoch.reshape(288, -1), axis=0)) == 288


def one_line(folder, match, **options):
    with pytest.raises(ValueError) as info:
        Cars3D(str(folder), **options)
    message = str(info.value)
    assert "\n" not in message and match in message, message


def test_bad_files_are_one_line_and_write_nothing(cars, tmp_path):
    one_line(tmp_path, "cars3d: expected 183 car_NNN_mesh.mat files")
    one_line(cars, f"{cars} holds 3 .mat files; expected 183")
    folder = tmp_path / "cars"
    folder.mkdir()
    for name in NAMES[:2]:
        os.symlink(os.path.join(cars, name), folder / name)
    (folder / NAMES[2]).write_bytes(b"MATLAB 5.0 MAT-file, but nothing after")
    one_line(folder, f"{NAMES[2]} is not a readable MATLAB file", num_objects=3)
    with open(os.path.join(cars, NAMES[2]), "rb") as source:
        (folder / NAMES[2]).write_bytes(source.read()[:100000])  # truncated
    one_line(folder, f"{NAMES[2]} is not a readable MATLAB file", num_objects=3)
    scipy.io.savemat(folder / NAMES[2], {"images": views(2)})
    one_line(folder, f"{NAMES[2]} has no array im", num_objects=3)
    scipy.io.savemat(folder / NAMES[2], {"im": views(2)[:, :, :, :12]})
    one_line(folder, "has im of shape (128, 128, 3, 12, 4) and dtype uint8; expected (H, H, 3, 24, 4) uint8",
             num_objects=3)
    scipy.io.savemat(folder / NAMES[2], {"im": views(2).astype(np.float64)})
    one_line(folder, "dtype float64", num_objects=3)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(("cars",) + NAMES)


def test_listing_names_the_files_publishers_and_unknown_sums(tmp_path):
    from click.testing import CliRunner

    from hwkeras.cli.datasets import datasets_command

    result = CliRunner().invoke(datasets_command, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    blocks = {block.split()[0]: block for block in result.output.split("\n\n")[1:]}
    expected = {
        "mpi3d-toy": "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/mpi3d_toy.npz",
        "mpi3d-realistic": "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/mpi3d_realistic.npz",
        "mpi3d-real": "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/mpi3d_real.npz",
        "smallnorb": "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/",
        "cars3d": "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz",
    }
    for name, url in expected.items():
        block = blocks[name]
        assert block.split()[1] == "MISSING" and f"looked in: {tmp_path}" in block, block
        assert url in block and "check: sha256 not known here" in block, block
