"""CorrelatedEllipses: factor distribution, rendering geometry, determinism, the grid cache, streams."""

import os

import numpy as np
import pytest

import hwkeras.data.correlated_ellipses as ellipses_module
from hwkeras.data import CorrelatedEllipses, get_dataset, take
from hwkeras.data.correlated_ellipses import grid_rows, render_ellipses


def reference_render(x, y, scale, angle_deg, supersample=4, window=112):
    """The renderer as it was before the row-interval one (kept verbatim as the oracle): every canvas
    pixel of a fixed window is tested. Its 112 px window cuts off the far edge of big ellipses at
    supersample 16 (window origins are snapped down by up to 15 px), so 16 px images need 128."""
    n = len(x)
    k = supersample
    size = 256 // k
    cx = 50.0 + 156.0 * np.asarray(x, np.float32)
    cy = 50.0 + 156.0 * np.asarray(y, np.float32)
    a = 50.0 * np.asarray(scale, np.float32)
    b = 25.0 * np.asarray(scale, np.float32)
    theta = np.deg2rad(np.asarray(angle_deg, np.float32))
    ox = np.clip(np.floor((cx - 50.0) / k) * k, 0, 256 - window).astype(np.int64)
    oy = np.clip(np.floor((cy - 50.0) / k) * k, 0, 256 - window).astype(np.int64)
    grid = np.arange(window, dtype=np.float32) + 0.5
    dx = (ox[:, None] + grid[None, :] - cx[:, None])[:, None, :]
    dy = (oy[:, None] + grid[None, :] - cy[:, None])[:, :, None]
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = (dx * cos + dy * sin) / a[:, None, None]
    v = (dy * cos - dx * sin) / b[:, None, None]
    inside = (u * u + v * v <= 1.0).astype(np.float32)
    w = window // k
    blocks = inside.reshape(n, w, k, w, k).mean(axis=(2, 4))
    images = np.zeros((n, size, size), np.float32)
    for i in range(n):
        r, c = oy[i] // k, ox[i] // k
        images[i, r : r + w, c : c + w] = blocks[i]
    return images[..., None]


def reference_images(factors, image_size):
    f = np.asarray(factors)
    k = 256 // image_size
    return reference_render(f[:, 0] / 31.0, f[:, 1] / 31.0, np.linspace(0.5, 1, 6)[f[:, 2]],
                            np.linspace(0, 360, 40)[f[:, 3]], k, window=128 if k == 16 else 112)


def test_factor_api_and_correlations():
    data = CorrelatedEllipses()
    assert data.factor_sizes == (32, 32, 6, 40) and data.num_factors == 4
    f = data.sample_factors(20000, np.random.RandomState(0))
    assert f.shape == (20000, 4) and f.dtype.kind == "i"
    assert np.all(f.min(axis=0) == 0) and np.all(f.max(axis=0) == np.array(data.factor_sizes) - 1)
    corr = np.corrcoef(f.T)
    # N(0, C) with rho = 0.5 in (x, y) and (scale, rotation), clipped and snapped: still ~0.45.
    assert 0.4 < corr[0, 1] < 0.5 and 0.4 < corr[2, 3] < 0.5
    assert abs(corr[0, 2]) < 0.03 and abs(corr[1, 3]) < 0.03


def test_factor_snapping_matches_the_authors_grid():
    """u = (clip(v, -1, 1) + 1) / 2 snapped down to linspace(0, 1, size)."""
    data = CorrelatedEllipses()
    rs = np.random.RandomState(7)
    v = rs.multivariate_normal(np.zeros(4), np.array([[1, .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, .5], [0, 0, .5, 1]]),
                               size=500)
    u = (np.clip(v, -1, 1) + 1) / 2
    expected = np.stack(
        [np.searchsorted(np.linspace(0, 1, n), u[:, k], side="right") - 1 for k, n in enumerate(data.factor_sizes)], 1
    )
    np.testing.assert_array_equal(data.sample_factors(500, np.random.RandomState(7)), expected)


@pytest.mark.parametrize("scale_index", [0, 5])
def test_rendered_area_and_centre_match_the_geometry(scale_index):
    data = CorrelatedEllipses()
    factors = np.array([[16, 8, scale_index, 7]])
    image = data.sample_observations_from_factors(factors)[0, ..., 0]
    s = np.linspace(0.5, 1, 6)[scale_index]
    # Area in 64x64 pixels = pi * (50 s)(25 s) / 16 (4x4 canvas pixels per image pixel).
    np.testing.assert_allclose(image.sum(), np.pi * 50 * s * 25 * s / 16, rtol=0.02)
    rows, cols = np.indices(image.shape) + 0.5
    centre = ((image * cols).sum() / image.sum() * 4, (image * rows).sum() / image.sum() * 4)
    np.testing.assert_allclose(centre, (50 + 156 * 16 / 31, 50 + 156 * 8 / 31), atol=0.5)
    assert 0 < image[(image > 0) & (image < 1)].size  # area-downsampled edges are grey


def test_rotation_orients_the_major_axis():
    horizontal = render_ellipses([0.5], [0.5], [1.0], [0.0])[0, ..., 0]
    vertical = render_ellipses([0.5], [0.5], [1.0], [90.0])[0, ..., 0]
    assert np.count_nonzero(horizontal.sum(axis=0)) > 1.8 * np.count_nonzero(horizontal.sum(axis=1))
    np.testing.assert_allclose(vertical, horizontal.T, atol=1e-6)


@pytest.mark.parametrize("image_size", [16, 32, 64, 128, 256])
def test_images_are_pixel_identical_to_the_reference_renderer(image_size):
    data = CorrelatedEllipses(image_size=image_size, cache=False)
    rs = np.random.RandomState(image_size)
    num = 600 if image_size <= 64 else 150  # the reference is slow on big images
    factors = data.sample_factors(num, rs)
    # Uniform draws too (the correlated ones rarely reach some corners), and every extreme.
    factors = np.concatenate([factors, np.stack([rs.randint(s, size=num) for s in data.factor_sizes], 1)])
    corners = np.stack(np.meshgrid([0, 31], [0, 31], range(6), [0, 9, 10, 20, 39], indexing="ij"), -1)
    factors = np.concatenate([factors, corners.reshape(-1, 4)])
    np.testing.assert_array_equal(data.sample_observations_from_factors(factors),
                                  reference_images(factors, image_size))


def test_grid_cache_rows_are_the_rendered_images(tmp_path, monkeypatch):
    """The cache holds each grid image at grid_rows(factors); built for a few (scale, rotation)
    parts only, so the test stays fast and the rows left empty prove the reads come from the cache."""
    parts = {(0, 0), (2, 17), (5, 39)}
    real = ellipses_module.built_once

    def some_parts(target, dtype, shape, fill, num_parts, what, workers=1):
        return real(target, dtype, shape, lambda p, out: fill(p, out) if divmod(p, 40) in parts else None,
                    num_parts, what, workers)

    monkeypatch.setattr(ellipses_module, "built_once", some_parts)
    data = CorrelatedEllipses(image_size=32, cache=True, cache_dir=str(tmp_path))
    assert data.cache and data.sample_observations_from_factors(np.zeros((1, 4), int)).shape == (1, 32, 32, 1)
    assert not os.listdir(tmp_path)  # sampling alone never builds the cache
    data.prepare()
    (name,) = os.listdir(tmp_path)
    assert name.startswith("correlated-ellipses-32px-") and name.endswith(".npy")
    grid = np.load(tmp_path / name, mmap_mode="r")
    assert grid.shape == (245760, 32, 32) and grid.dtype == np.uint8
    rs = np.random.RandomState(0)
    chosen = np.array([p for p in parts for _ in range(30)])
    factors = np.stack([rs.randint(32, size=90), rs.randint(32, size=90), chosen[:, 0], chosen[:, 1]], 1)
    np.testing.assert_array_equal(data.sample_observations_from_factors(factors), reference_images(factors, 32))
    np.testing.assert_array_equal(np.asarray(grid[grid_rows(factors)]) / 64.0,
                                  reference_images(factors, 32)[..., 0])
    empty = np.array([[3, 4, 1, 1]])  # a part that was not built reads as blank: it came from the cache
    assert data.sample_observations_from_factors(empty).max() == 0.0
    # Another dataset object finds the cache and gathers from it without building anything.
    again = CorrelatedEllipses(image_size=32, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.sample_observations_from_factors(factors),
                                  data.sample_observations_from_factors(factors))
    assert again.sample_observations_from_factors(empty).max() == 0.0
    # By default the grid is built for an accelerator only; a CPU consumer renders on the fly.
    auto_dir = tmp_path / "auto"
    auto = CorrelatedEllipses(image_size=32, cache_dir=str(auto_dir))
    auto.prepare()
    assert not auto_dir.exists() or not os.listdir(auto_dir)
    auto.prepare(accelerated=True)
    assert [n for n in os.listdir(auto_dir) if n.endswith(".npy")]
    # The 16 px grid needs counts up to 256: stored as uint16.
    assert CorrelatedEllipses(image_size=16, cache=False).sample_observations_from_factors(
        [[16, 16, 5, 0]]).max() == 1.0
    assert CorrelatedEllipses(image_size=128).cache is False and CorrelatedEllipses(image_size=64).cache is None


def test_images_are_deterministic_for_a_seed_and_in_range():
    data = CorrelatedEllipses(image_size=32, cache=False)
    a = data.sample_observations(6, np.random.RandomState(3))
    b = data.sample_observations(6, np.random.RandomState(3))
    c = data.sample_observations(6, np.random.RandomState(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (6, 32, 32, 1) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_tf_data_stream_is_deterministic():
    data = CorrelatedEllipses(image_size=32, cache=False)
    first = take(data.batches(4, seed=9, pipeline="tf"), 3)
    again = take(data.batches(4, seed=9, pipeline="tf"), 3)
    other = take(data.batches(4, seed=10, pipeline="tf"), 3)
    assert first[0].shape == (4, 32, 32, 1)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], other[0])


def test_unknown_dataset_and_size_errors():
    with pytest.raises(ValueError, match="unknown dataset 'nope'; choose one of: correlated-ellipses"):
        get_dataset("nope")
    with pytest.raises(ValueError, match="renders at"):
        CorrelatedEllipses(image_size=50)


def test_factor_draws_are_those_of_multivariate_normal():
    """The fast draw equals RandomState.multivariate_normal(0, C) bit for bit, for any count."""
    data = CorrelatedEllipses(cache=False)
    for seed, num in ((0, 1), (1, 7), (2, 64), (3, 1000)):
        v = np.random.RandomState(seed).multivariate_normal(np.zeros(4), ellipses_module.CORRELATION, size=num)
        u = (np.clip(v, -1, 1) + 1) / 2
        sizes = np.array(data.factor_sizes)
        expected = np.minimum(np.floor(u * (sizes - 1) + 1e-9), sizes - 1).astype(np.int64)
        np.testing.assert_array_equal(data.sample_factors(num, np.random.RandomState(seed)), expected)


def test_batch_random_state_is_a_fresh_random_state_of_seed_and_index():
    from hwkeras.data.batching import batch_random_state

    for seed, index in ((0, 0), (5, 2**32 + 3), (2**32 - 1, 17)):
        expected = np.random.RandomState([seed & 0xFFFFFFFF, index & 0xFFFFFFFF])
        state = batch_random_state(seed, index)
        np.testing.assert_array_equal(state.standard_normal(5), expected.standard_normal(5))
        state.standard_normal(1)  # an odd count leaves a cached normal behind; reseeding must drop it
        again = batch_random_state(seed, index)
        np.testing.assert_array_equal(again.standard_normal(3), np.random.RandomState(
            [seed & 0xFFFFFFFF, index & 0xFFFFFFFF]).standard_normal(3))
