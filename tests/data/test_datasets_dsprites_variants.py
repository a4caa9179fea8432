"""Color-dSprites and Noisy-dSprites against an independent oracle: disentanglement_lib's published
definition (data/ground_truth/dsprites.py) written out here with numpy, run on a dSprites file in the
official schema whose images are the 320 real frames of dsprites.gif."""

import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.data import ColorDSprites, NoisyDSprites, get_dataset
from tests.helpers import DSPRITES_FILE, write_real_dsprites


@pytest.fixture(scope="module")
def real_npz(tmp_path_factory):
    """The official schema (imgs uint8 0/1, latents_classes, latents_values, a latin1-loadable metadata
    pickle) with the 320 real frames as its images, in index order."""
    return write_real_dsprites(tmp_path_factory.mktemp("dsprites") / DSPRITES_FILE)


def oracle(path, variant, num=None, random_state=None, factors=None):
    """disentanglement_lib's ColorDSprites / NoisyDSprites([1, 2, 3, 4, 5]), from its published code's
    definition: sample factors (one randint per latent, in order), complete the non-latent colour factor
    (randint(1)), index with factor_bases = prod(sizes) / cumprod(sizes), images as float32 with a channel
    axis, repeated to 3 channels, then the variant's draw from the same random state (float64 result)."""
    with np.load(path, encoding="latin1", allow_pickle=True) as data:
        images = np.array(data["imgs"])
        sizes = np.array(data["metadata"][()]["latents_sizes"], dtype=np.int64)
    latent = [1, 2, 3, 4, 5]
    if factors is None:
        factors = np.zeros((num, len(latent)), dtype=np.int64)
        for pos, i in enumerate(latent):
            factors[:, pos] = random_state.randint(sizes[i], size=num)
    num = len(factors)
    all_factors = np.zeros((num, 6), dtype=np.int64)
    all_factors[:, latent] = factors
    all_factors[:, 0] = random_state.randint(sizes[0], size=num)
    bases = np.prod(sizes) / np.cumprod(sizes)
    shapes = np.expand_dims(images[np.array(np.dot(all_factors, bases), dtype=np.int64)].astype(np.float32), 3)
    observations = np.repeat(shapes, 3, axis=3)
    if variant == "color":
        colour = random_state.uniform(0.5, 1, [num, 1, 1, 3])
        colour = np.repeat(np.repeat(colour, 64, axis=1), 64, axis=2)
        return factors, observations * colour
    return factors, np.minimum(observations + random_state.uniform(0, 1, [num, 64, 64, 3]), 1.0)


@pytest.mark.parametrize("variant,cls", [("color", ColorDSprites), ("noisy", NoisyDSprites)])
def test_equal_to_disentanglement_lib_given_the_same_random_state(real_npz, tmp_path, variant, cls):
    data = get_dataset(f"{variant}-dsprites", data_dir=str(real_npz), cache_dir=str(tmp_path))
    assert isinstance(data, cls)
    assert data.factor_sizes == (2, 2, 5, 4, 4) and data.observation_shape == (64, 64, 3)
    for seed in (0, 7):
        factors, observations = data.sample(50, np.random.RandomState(seed))
        want_factors, want = oracle(real_npz, variant, 50, np.random.RandomState(seed))
        np.testing.assert_array_equal(factors, want_factors)
        assert observations.dtype == np.float32 and want.dtype == np.float64
        np.testing.assert_array_equal(observations, want.astype(np.float32))
    # Given factors (the metrics' call), with the state continuing across calls.
    ours, theirs = np.random.RandomState(3), np.random.RandomState(3)
    fixed = np.array([[1, 1, 4, 3, 0], [0, 0, 0, 0, 0], [1, 0, 2, 1, 3]])
    for _ in range(2):
        np.testing.assert_array_equal(data.sample_observations_from_factors(fixed, ours),
                                      oracle(real_npz, variant, random_state=theirs, factors=fixed)[1]
                                      .astype(np.float32))
    assert ours.uniform() == theirs.uniform()  # both drew exactly as much


def test_the_frames_show_through(real_npz, tmp_path):
    colour = get_dataset("color-dsprites", data_dir=str(real_npz), cache_dir=str(tmp_path))
    noisy = get_dataset("noisy-dsprites", data_dir=str(real_npz), cache_dir=str(tmp_path))
    factors = colour.sample_factors(20, np.random.RandomState(0))
    shapes = colour.base.sample_observations_from_factors(factors)[..., 0] > 0
    a = colour.sample_observations_from_factors(factors, np.random.RandomState(1))
    assert np.all((a.max(axis=3) > 0) == shapes)  # coloured sprite on black
    assert np.all(a[shapes] >= 0.5) and np.all(a[~shapes] == 0)
    b = noisy.sample_observations_from_factors(factors, np.random.RandomState(1))
    assert np.all(b[shapes] == 1.0) and 0.4 < b[~shapes].mean() < 0.6


@pytest.mark.parametrize("name", ["color-dsprites", "noisy-dsprites"])
def test_training_batches(real_npz, tmp_path, name):
    data = get_dataset(name, data_dir=str(real_npz), cache_dir=str(tmp_path))
    first = data.batch(320, seed=4, index=0)
    assert first.shape == (320, 64, 64, 3) and first.dtype == np.float32
    np.testing.assert_array_equal(first, data.batch(320, seed=4, index=0))  # a function of (seed, index)
    assert not np.array_equal(data.batch(8, seed=4, index=1), data.batch(8, seed=5, index=1))
    # Each epoch shows every shape image once: the sprite masks are the base's epoch order.
    base = data.base.batch(320, seed=4, index=0)[..., 0] > 0
    mask = first.max(axis=3) > 0 if name == "color-dsprites" else first.min(axis=3) == 1.0
    np.testing.assert_array_equal(mask, base)


def test_missing_file_is_one_line(tmp_path):
    for name in ("color-dsprites", "noisy-dsprites"):
        with pytest.raises(ValueError) as info:
            get_dataset(name, data_dir=str(tmp_path))
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{name}: expected dsprites_ndarray_co1sh3sc6or40x32y32")
        assert str(tmp_path) in message


def test_datasets_listing_names_the_new_sets(tmp_path):
    from hwkeras.cli.datasets import datasets_command

    result = CliRunner().invoke(datasets_command, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("color-dsprites", "noisy-dsprites", "shapes3d-procedural", "shapes3d"):
        assert f"\n{name} " in result.output
    assert "from: https://github.com/deepmind/3d-shapes (file: https://storage.googleapis.com/3d-shapes/3dshapes.h5)" \
        in result.output
    assert "check: sha256sum 3dshapes.h5 prints" in result.output

