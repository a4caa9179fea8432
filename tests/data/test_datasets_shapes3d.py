"""Shapes3D: the file loader on tiny files in DeepMind's h5 layout and disentanglement_lib's npz layout
(factor grid, index order, lazy reads, bad files), the procedural renderer, fit and a metric on it."""

import json
import os
import tracemalloc

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.data import ProceduralShapes3D, Shapes3D, get_dataset
from hwkeras.data.shapes3d import FACTOR_NAMES, FACTOR_SIZES, NPZ_FILENAME

SMALL = (2, 3, 2, 2, 4, 3)  # floor_hue, wall_hue, object_hue, scale, shape, orientation: 288 images
HUES = np.linspace(0.0, 0.9, 10)
VALUES = (HUES, HUES, HUES, np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30.0, 30.0, 15))


def small_grid(sizes=SMALL):
    """Labels (N, 6) float64 of the first values of each factor, orientation varying fastest, and
    uint8 images (N, 64, 64, 3) in which image i carries i in its first pixels (base 256)."""
    num = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(num), sizes), axis=1)
    labels = np.stack([VALUES[k][classes[:, k]] for k in range(6)], axis=1)
    images = np.zeros((num, 64, 64, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(num) % 256
    images[:, 0, 0, 1] = np.arange(num) // 256
    images[:, 10:20, 10:20, 2] = 200
    return labels, images


def encoded_index(observations):
    pixels = np.rint(observations[:, 0, 0, :2] * 255).astype(np.int64)
    return pixels[:, 0] + 256 * pixels[:, 1]


def write_h5(path, labels, images, chunks=None):
    """DeepMind's layout: datasets images (uint8) and labels (float64) at the root."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images, chunks=chunks)
        handle.create_dataset("labels", data=labels)
    return str(path)


def test_h5_loader_reads_the_grid_in_factor_order(tmp_path):
    labels, images = small_grid()
    write_h5(tmp_path / "3dshapes.h5", labels, images)
    data = get_dataset("shapes3d", data_dir=str(tmp_path))
    assert isinstance(data, Shapes3D)
    assert data.factor_names == FACTOR_NAMES and data.factor_sizes == SMALL
    assert data.observation_shape == (64, 64, 3) and len(data) == 288
    np.testing.assert_allclose(data.factor_values[3], VALUES[3][:2])
    np.testing.assert_allclose(data.factor_values[5], VALUES[5][:3])
    # The image at factors f is image sum_k f_k * prod(sizes[k+1:]) (disentanglement_lib's factor_bases).
    factors = data.sample_factors(100, np.random.RandomState(0))
    bases = np.prod(SMALL) / np.cumprod(SMALL)
    expected_index = np.array(np.dot(factors, bases), dtype=np.int64)
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    assert observations.dtype == np.float32 and observations.shape == (100, 64, 64, 3)
    np.testing.assert_array_equal(encoded_index(observations), expected_index)
    np.testing.assert_array_equal(observations, images[expected_index].astype(np.float32) / 255.0)
    # ... and its labels are those factors' values.
    np.testing.assert_allclose(labels[expected_index], [[data.factor_values[k][f[k]] for k in range(6)]
                                                         for f in factors])
    # Training batches visit the grid once an epoch.
    batch = data.batch(288, seed=3, index=0)
    assert sorted(encoded_index(batch)) == list(range(288))


def test_h5_loader_reads_only_the_requested_images(tmp_path):
    labels, images = small_grid()
    data = Shapes3D(write_h5(tmp_path / "3dshapes.h5", labels, images))
    assert isinstance(data._images, h5py.Dataset)  # nothing read at open

    requested = []

    class Spy:
        shape, dtype = data._images.shape, data._images.dtype

        def __len__(self):
            return len(data._images)

        def __getitem__(self, key):
            requested.append(np.array(key))
            return spied[key]

    spied, data._images = data._images, Spy()
    observations = data.sample_observations_from_factors([[1, 2, 1, 0, 3, 2], [0, 0, 0, 0, 0, 0],
                                                          [1, 2, 1, 0, 3, 2]], None)
    assert encoded_index(observations).tolist() == [287 - 12, 0, 287 - 12]
    assert [r.tolist() for r in requested] == [[0, 275]]  # two distinct rows, increasing, once each


def test_full_size_h5_opens_in_little_memory(tmp_path):
    """A 480,000-image file (chunks never written: a tiny file, read as zeros) opens and serves a batch
    with a peak of tens of MB of numpy memory, where loading the images would take 5.9 GB."""
    num = int(np.prod(FACTOR_SIZES))
    classes = np.stack(np.unravel_index(np.arange(num), FACTOR_SIZES), axis=1)
    labels = np.stack([VALUES[k][classes[:, k]] for k in range(6)], axis=1)
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", shape=(num, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3))
        handle.create_dataset("labels", data=labels)
    del labels, classes
    tracemalloc.start()
    with pytest.warns(UserWarning, match="267,573,662"):  # not the published file's size
        data = Shapes3D(str(path))
    data.batch(64, seed=0, index=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert data.factor_sizes == FACTOR_SIZES and len(data) == 480000
    assert peak < 100e6, peak


@pytest.mark.parametrize("gridded", [True, False])
@pytest.mark.parametrize("compressed", [True, False])
def test_npz_loader_disentanglement_lib_layout(tmp_path, gridded, compressed):
    labels, images = small_grid()
    if gridded:  # disentanglement_lib reshapes images.shape[0:6] into one axis
        images, labels = images.reshape(SMALL + (64, 64, 3)), labels.reshape(SMALL + (6,))
    folder = tmp_path / "3dshapes"
    folder.mkdir()
    (np.savez_compressed if compressed else np.savez)(folder / NPZ_FILENAME, images=images, labels=labels)
    data = get_dataset("shapes3d", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    assert data.factor_sizes == SMALL
    assert isinstance(data._images, np.memmap)
    # Stored members are mapped in place; compressed ones go through a cache.
    assert os.path.exists(tmp_path / "cache") == compressed
    index = np.arange(0, 288, 7)
    np.testing.assert_array_equal(encoded_index(data.images_at(index)), index)


def test_bad_files_are_one_line(tmp_path):
    def error(path):
        with pytest.raises(ValueError) as info:
            get_dataset("shapes3d", data_dir=str(path))
        message = str(info.value)
        assert "\n" not in message
        return message

    assert "expected 3dshapes.h5" in error(tmp_path) and "--data-dir" not in error(tmp_path)
    (tmp_path / "3dshapes.h5").write_bytes(b"not hdf5 at all")
    assert "not a readable HDF5 file" in error(tmp_path)
    with h5py.File(tmp_path / "3dshapes.h5", "w") as handle:
        handle.create_dataset("imgs", data=np.zeros((2, 64, 64, 3), np.uint8))
    assert "lacks dataset(s) images, labels (it has imgs)" in error(tmp_path)
    labels, images = small_grid()
    write_h5(tmp_path / "3dshapes.h5", labels, images[:, :32])
    assert "expected (N, 64, 64, 3) uint8" in error(tmp_path)
    write_h5(tmp_path / "3dshapes.h5", labels[::-1].copy(), images)
    assert "labels do not enumerate a complete grid" in error(tmp_path)
    write_h5(tmp_path / "3dshapes.h5", labels[:-1], images[:-1])
    assert "labels do not enumerate a complete grid" in error(tmp_path)
    whole = write_h5(tmp_path / "whole.h5", labels, images)
    with open(whole, "rb") as source:
        (tmp_path / "3dshapes.h5").write_bytes(source.read()[: os.path.getsize(whole) // 2])
    assert "not a readable HDF5 file" in error(tmp_path)


def test_procedural_grid_determinism_and_factors():
    data = get_dataset("shapes3d-procedural")
    assert isinstance(data, ProceduralShapes3D) and data.factor_sizes == FACTOR_SIZES and len(data) == 480000
    factors = data.sample_factors(32, np.random.RandomState(0))
    a = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    b = data.sample_observations_from_factors(factors, np.random.RandomState(2))
    assert a.shape == (32, 64, 64, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)  # deterministic given the factors
    np.testing.assert_array_equal(np.rint(a * 255) / 255, a)  # uint8 levels, like the real file
    # Every factor changes the image, from any of a few starting points.
    rs = np.random.RandomState(5)
    for base in data.sample_factors(4, rs):
        for k, size in enumerate(FACTOR_SIZES):
            sweep = np.repeat(base[None], size, axis=0)
            sweep[:, k] = np.arange(size)
            images = data.sample_observations_from_factors(sweep, None).reshape(size, -1)
            distinct = len(np.unique(images, axis=0))
            assert distinct == size, (FACTOR_NAMES[k], base, distinct)
    with pytest.raises(ValueError, match="procedural"):
        get_dataset("shapes3d-procedural", data_dir="/tmp")


def test_mig_on_procedural_shapes3d():
    from hwkeras.metrics import compute_mig

    data = get_dataset("shapes3d-procedural")

    from matplotlib.colors import rgb_to_hsv

    def representation(images):  # the hue of a floor pixel and of a wall pixel, and a constant
        hues = rgb_to_hsv(np.stack([images[:, 63, 0], images[:, 0, 0]], axis=1))[..., 0]
        return np.concatenate([hues, np.zeros((len(images), 1))], axis=1)

    scores = compute_mig(data, representation, np.random.RandomState(0), num_train=500, batch_size=100)
    per_factor = np.asarray(scores["mig_per_factor"])
    # Floor and wall hue are each coded by one dimension, nothing else is: MIG about 2/6.
    assert per_factor[0] > 0.8 and per_factor[1] > 0.8 and np.all(per_factor[2:] < 0.1), per_factor
    assert 0.25 < scores["discrete_mig"] < 0.4


def test_fit_two_steps_and_evaluate_on_procedural_shapes3d(tmp_path, monkeypatch):
    """In one process (CliRunner), so Keras loads once."""
    from hwkeras.cli.evaluate import evaluate_command
    from hwkeras.cli.fit import fit_command

    monkeypatch.chdir(tmp_path)
    fit = CliRunner().invoke(fit_command, [
        "--dataset", "shapes3d-procedural", "--steps", "2", "--batch-size", "2", "--image-size", "64",
        "--latent-dim", "2", "--hidden-units", "8", "--no-export", "--no-report", "--output-dir", "runs",
        "--run-name", "tiny"])
    assert fit.exit_code == 0, fit.output
    assert "on shapes3d-procedural (64x64x3)" in fit.output
    run_dir = tmp_path / "runs" / "tiny"
    evaluate = CliRunner().invoke(evaluate_command, [
        str(run_dir), "--metrics", "mig", "--param", "mig.num_train=100", "--param", "mig.batch_size=50"])
    assert evaluate.exit_code == 0, evaluate.output
    record = json.dumps(json.loads((run_dir / "metrics.json").read_text()))
    assert "shapes3d-procedural" in record and "discrete_mig" in record
