"""MPI3D: the published .npz layout (np.savez: a stored, zip64 images.npy) at full size on a sparse
file, read back lazily; factor grid, index order and sampling equal to disentanglement_lib's MPI3D;
bad files one line each.

The ORACLE_* numbers were produced by disentanglement_lib's own mpi3d.py (google-research/
disentanglement_lib 86a644d, run outside this repository with a shim mapping
tensorflow.compat.v1.gfile to open/os and zipfile's CRC check left on) on the file ``write_toy``
writes: ``tests/data/oracle_disentanglement_lib.py DLIB WORK mpi3d`` (its docstring gives the setup; it
imports write_toy from this module, builds MPI3D(mode="mpi3d_toy") on it and prints these values).
"""

import hashlib
import io
import os
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from hwkeras.data import get_dataset
from hwkeras.data.checksums import Published
from hwkeras.data.mpi3d import MPI3D
from tests.data.published import write_stored_npz

TOY_SIZES = (4, 4, 2, 3, 3, 40, 40)
FILLED = (0, 1, 39, 40, 1600, 4800, 14400, 28800, 115200, 123457, 300001, 460799)


def pattern(row):
    return np.random.RandomState(row).randint(0, 256, (64, 64, 3)).astype(np.uint8)


def write_toy(path):
    """mpi3d_toy.npz with 460,800 images, zero except the FILLED rows (a pattern seeded by the row)."""
    return write_stored_npz(path, "images", (460800, 64, 64, 3), np.uint8, {r: pattern(r) for r in FILLED})


# Factor rows queried of both loaders: the grid points of FILLED under the mixed-radix order, and two others.
QUERY = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 39], [0, 0, 0, 0, 0, 1, 0],
                  [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0],
                  [1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 2, 6, 17], [2, 2, 0, 2, 1, 20, 1], [3, 3, 1, 2, 2, 39, 39],
                  [3, 0, 1, 2, 0, 5, 5]])
# disentanglement_lib: sha256 of sample_observations_from_factors(QUERY, RandomState(0)).astype(float32).
ORACLE_QUERY_SHA256 = "cb0177246ca93db0bc4b5956c25c901c55d6da9387e22d51216269845c6954ad"
# disentanglement_lib: sample_factors(6, RandomState(3)) and sha256 of the observations of
# sample(6, RandomState(3)) (factors, then observations from the same state), as float32.
ORACLE_SAMPLED = [[2, 0, 1, 0, 2, 1, 7], [0, 1, 1, 0, 1, 26, 33], [1, 1, 0, 0, 2, 5, 15], [3, 3, 1, 1, 2, 33, 37],
                  [0, 2, 1, 2, 2, 29, 20], [0, 3, 0, 0, 2, 24, 30]]
ORACLE_SAMPLED_SHA256 = "b9c048de34d844a2381155656d249036a85a52b60cb9fd06bf1600e44d7aa3ae"
# disentanglement_lib: factor_sizes [4, 4, 2, 3, 3, 40, 40], latent_factor_indices [0, ..., 6], factor_bases:
ORACLE_FACTOR_BASES = [115200, 28800, 14400, 4800, 1600, 40, 1]


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "mpi3d_toy"
    folder.mkdir()
    write_toy(folder / "mpi3d_toy.npz")
    return folder


def test_equal_to_disentanglement_lib(toy):
    data = get_dataset("mpi3d-toy", data_dir=str(toy.parent))
    assert isinstance(data, MPI3D) and data.factor_sizes == TOY_SIZES and len(data) == 460800
    assert isinstance(data._images, np.memmap)  # mapped where it lies in the zip, nothing copied
    assert data.factor_names[0] == "object_color" and data.factor_names[-1] == "second_dof"
    observations = data.sample_observations_from_factors(QUERY, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (13, 64, 64, 3)
    assert sha(observations) == ORACLE_QUERY_SHA256
    assert data.observations_fixed_by_factors  # a function of the factors: evaluate may encode each image once
    # The filled rows come back at their grid points: the mixed-radix order, second_dof fastest.
    for k, row in enumerate(FILLED):
        np.testing.assert_array_equal(observations[k], (pattern(row) / 255.0).astype(np.float32))
    factors, observations = data.sample(6, np.random.RandomState(3))
    assert factors.tolist() == ORACLE_SAMPLED and sha(observations) == ORACLE_SAMPLED_SHA256
    from hwkeras.data.ground_truth import index_bases

    assert index_bases(data.factor_sizes).tolist() == ORACLE_FACTOR_BASES


def test_plain_npy_and_batches(tmp_path):
    npy = np.lib.format.open_memmap(tmp_path / "mpi3d_real.npy", "w+", np.uint8, (1036800, 64, 64, 3))
    npy[123457] = pattern(123457)
    npy.flush()
    del npy
    data = get_dataset("mpi3d-real", data_dir=str(tmp_path))
    assert data.factor_sizes == (6, 6, 2, 3, 3, 40, 40) and len(data) == 1036800
    np.testing.assert_array_equal(data.images_at([123457])[0], (pattern(123457) / 255.0).astype(np.float32))
    batch = data.batch(16, seed=1, index=0)
    assert batch.shape == (16, 64, 64, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, data.batch(16, seed=1, index=0))


def test_full_size_real_opens_in_little_memory(tmp_path):
    """1,036,800 images (12.7 GB as the published mpi3d_real.npz, sparse here): opening and a batch
    allocate a few MB of numpy memory; the images stay in the memory map."""
    path = write_stored_npz(tmp_path / "mpi3d_real.npz", "images", (1036800, 64, 64, 3), np.uint8,
                            {1036799: pattern(5)})
    tracemalloc.start()
    data = MPI3D(str(path), variant="real")
    last = data.images_at([1036799])
    data.batch(64, seed=0, index=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert os.path.getsize(path) > 12.7e9 and peak < 20e6, peak
    np.testing.assert_array_equal(last[0], (pattern(5) / 255.0).astype(np.float32))


def one_line(name, data_dir, match):
    with pytest.raises(ValueError) as info:
        get_dataset(name, data_dir=str(data_dir))
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


def test_bad_files_are_one_line_and_write_nothing(toy, tmp_path):
    folder = tmp_path / "mpi3d_toy"
    folder.mkdir()
    target = folder / "mpi3d_toy.npz"
    one_line("mpi3d-toy", tmp_path, "mpi3d-toy: expected mpi3d_toy.npz (np.savez: images (N, 64, 64, 3) uint8")
    target.write_bytes(b"PK\x03\x04 not really a zip")
    one_line("mpi3d-toy", tmp_path, "is not a readable .npz file")
    with open(toy / "mpi3d_toy.npz", "rb") as whole:
        target.write_bytes(whole.read(1 << 20))  # truncated: the zip directory at the end is gone
    one_line("mpi3d-toy", tmp_path, "is not a readable .npz file")
    np.savez(target, imgs=np.zeros((2, 64, 64, 3), np.uint8))
    one_line("mpi3d-toy", tmp_path, "lacks the array images (it has imgs)")
    np.savez(target, images=np.zeros((10, 64, 64, 3), np.uint8))
    one_line("mpi3d-toy", tmp_path, "has images of shape (10, 64, 64, 3) and dtype uint8; expected (460800 or")
    write_stored_npz(target, "images", (460800, 64, 64), np.uint8, {})
    one_line("mpi3d-toy", tmp_path, "has images of shape (460800, 64, 64)")
    np.savez_compressed(target, images=np.zeros((4, 64, 64, 3), np.uint8))
    one_line("mpi3d-toy", tmp_path, "stores images.npy compressed, which cannot be memory-mapped; re-save it with "
                                    "np.savez (uncompressed) or unzip images.npy next to it as mpi3d_toy.npy")
    # A stored member cut short inside a zip whose directory is intact: the header's shape, 2 images of data.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                  "shape": (460800, 64, 64, 3)})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("images.npy", header.getvalue() + bytes(2 * 64 * 64 * 3))
    one_line("mpi3d-toy", tmp_path, "images.npy does not lie whole inside the file (truncated?)")
    os.remove(target)
    np.save(folder / "mpi3d_toy.npy", np.zeros((3, 64, 64, 3), np.uint8))
    one_line("mpi3d-toy", tmp_path, "has images of shape (3, 64, 64, 3)")
    with open(folder / "mpi3d_toy.npy", "r+b") as handle:  # header of the full grid, 3 images of data
        header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 64, 64, 3), np.uint8))
        header["shape"] = (460800, 64, 64, 3)
        np.lib.format.write_array_header_1_0(handle, header)
    one_line("mpi3d-toy", tmp_path, "is truncated: its header says (460800, 64, 64, 3)")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["mpi3d_toy", "mpi3d_toy.npy"]


def test_a_known_sum_that_differs_is_one_warning_naming_both(tmp_path, monkeypatch):
    import hwkeras.data.mpi3d as module

    monkeypatch.setitem(module.GRIDS, 36, (1, 1, 1, 1, 1, 6, 6))  # a small file: the check is what is tested
    toy = tmp_path / "mpi3d_toy"
    toy.mkdir()
    path = toy / "mpi3d_toy.npz"
    np.savez(path, images=np.arange(36 * 64 * 64 * 3).astype(np.uint8).reshape(36, 64, 64, 3))
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(module.PUBLISHED, "toy", Published(sha256="ab" * 32))
    with pytest.warns(UserWarning) as record:
        get_dataset("mpi3d-toy", data_dir=str(toy))
    (warning,) = record
    message = str(warning.message)
    assert "\n" not in message and f"sha256 {found}, the published file {'ab' * 32}" in message
    monkeypatch.setitem(module.PUBLISHED, "toy", Published(sha256=found))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_dataset("mpi3d-toy", data_dir=str(toy))
    monkeypatch.setitem(module.PUBLISHED, "toy", Published(size=1))
    with pytest.warns(UserWarning, match=f"has {os.path.getsize(path):,} bytes, the published file 1:"):
        get_dataset("mpi3d-toy", data_dir=str(toy))


def test_fit_two_steps_and_evaluate(toy, tmp_path, monkeypatch):
    """The registry entry through the CLI: fit reads the file, evaluate samples its factors."""
    import json

    from click.testing import CliRunner

    from hwkeras.cli.evaluate import evaluate_command
    from hwkeras.cli.fit import fit_command

    monkeypatch.chdir(tmp_path)
    fit = CliRunner().invoke(fit_command, [
        "--dataset", "mpi3d-toy", "--data-dir", str(toy.parent), "--steps", "2", "--batch-size", "2",
        "--image-size", "64", "--latent-dim", "2", "--hidden-units", "8", "--no-export", "--no-report",
        "--output-dir", "runs", "--run-name", "tiny"])
    assert fit.exit_code == 0, fit.output
    assert "on mpi3d-toy (64x64x3)" in fit.output
    run_dir = tmp_path / "runs" / "tiny"
    evaluate = CliRunner().invoke(evaluate_command, [
        str(run_dir), "--metrics", "mig", "--param", "mig.num_train=100", "--param", "mig.batch_size=50"])
    assert evaluate.exit_code == 0, evaluate.output
    record = json.dumps(json.loads((run_dir / "metrics.json").read_text()))
    assert "mpi3d-toy" in record and "discrete_mig" in record
