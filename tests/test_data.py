"""CorrelatedEllipses: factor distribution, rendering geometry, determinism, tf.data stream."""

import numpy as np
import pytest

from hwkeras.data import CorrelatedEllipses, get_dataset, take
from hwkeras.data.correlated_ellipses import render_ellipses


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
    v = rs.multivariate_normal(np.zeros(4), np.array([[1, .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, .5], [0, 0, .5, 1]]), size=500)
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


def test_images_are_deterministic_for_a_seed_and_in_range():
    data = CorrelatedEllipses(image_size=32)
    a = data.sample_observations(6, np.random.RandomState(3))
    b = data.sample_observations(6, np.random.RandomState(3))
    c = data.sample_observations(6, np.random.RandomState(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (6, 32, 32, 1) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_tf_data_stream_is_deterministic():
    data = CorrelatedEllipses(image_size=32)
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
