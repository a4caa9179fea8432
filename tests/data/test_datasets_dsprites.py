"""dSprites: the official-file loader on a small file of the same schema, and the procedural renderer
(grid, determinism, factor sensitivity, calibration against the real frames of dsprites.gif)."""

import os
import time

import numpy as np
import pytest

from hwkeras.data import DSprites, ProceduralDSprites, get_dataset, take
from hwkeras.data.dsprites import FACTOR_SIZES, index_bases
from hwkeras.data.dsprites_procedural import render, sprite_tiles
from tests.helpers import shared_data

SMALL_SIZES = [1, 3, 2, 2, 4, 4]  # colour, shape, scale, orientation, posX, posY: 192 images


def write_small_dsprites(path, sizes=SMALL_SIZES):
    """A consistent dSprites-schema file: image i carries its index i in its first 16 pixels."""
    num = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(num), sizes), axis=1).astype(np.int64)
    imgs = np.zeros((num, 64, 64), np.uint8)
    imgs[:, 0, :16] = (np.arange(num)[:, None] >> np.arange(16)) & 1
    imgs[:, 32, 32] = 1
    names = ("color", "shape", "scale", "orientation", "posX", "posY")
    values = {n: np.linspace(0, 1, s) for n, s in zip(names, sizes)}
    metadata = {"latents_sizes": np.array(sizes), "latents_names": names, "latents_possible_values": values,
                "title": "dSprites dataset (test fixture)"}
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64),
                        metadata=np.array(metadata, dtype=object))
    return path


def decode_index(images):
    bits = images[:, 0, :16, 0].astype(np.int64)
    return (bits << np.arange(16)).sum(axis=1)


def test_official_index_formula():
    np.testing.assert_array_equal(index_bases(FACTOR_SIZES), [245760, 40960, 1024, 32, 1])
    data = ProceduralDSprites()
    assert len(data) == 737280 == data.num_images
    assert data.index_of([[2, 5, 39, 31, 31]])[0] == 737279
    assert data.index_of([[1, 2, 3, 4, 5]])[0] == 245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5
    rs = np.random.RandomState(0)
    idx = rs.randint(737280, size=1000)
    np.testing.assert_array_equal(data.index_of(data.factors_of(idx)), idx)


def test_loader_reads_the_schema_through_the_factor_api(tmp_path, monkeypatch):
    monkeypatch.setattr("hwkeras.data.arrays.CHUNK_ROWS", 50)  # stream 192 images in 4 chunks
    path = write_small_dsprites(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    data = get_dataset("dsprites", data_dir=str(tmp_path))  # the folder; the file itself works too
    assert isinstance(data, DSprites) and isinstance(data._packed, np.memmap)
    assert data.factor_sizes == (3, 2, 2, 4, 4)
    assert data.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert data.observation_shape == (64, 64, 1)
    factors = data.sample_factors(50, np.random.RandomState(1))
    images = data.sample_observations_from_factors(factors)
    assert images.shape == (50, 64, 64, 1) and images.dtype == np.float32
    assert set(np.unique(images)) <= {0.0, 1.0}
    # Image i carries i: the factors map to 64*shape + 32*scale + 16*orientation + 4*posX + posY.
    np.testing.assert_array_equal(decode_index(images), factors @ np.array([64, 32, 16, 4, 1]))
    # The bit-packed cache is built once, next to the file, and reused.
    caches = [p for p in os.listdir(tmp_path) if p.endswith(".npy")]
    assert len(caches) == 1 and "packbits" in caches[0]
    again = get_dataset("dsprites", data_dir=str(path))
    np.testing.assert_array_equal(again.sample_observations_from_factors(factors), images)
    batch = take(data.batches(16, seed=3), 1)[0]
    assert batch.shape == (16, 64, 64, 1) and batch.max() == 1.0 and batch.min() == 0.0


def test_loader_rejects_foreign_files(tmp_path):
    np.savez(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", arr_0=np.zeros(3))
    with pytest.raises(ValueError, match=r"lacks array\(s\) imgs, latents_classes, latents_values, metadata") as err:
        get_dataset("dsprites", data_dir=str(tmp_path))
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad"
    bad.mkdir()
    path = write_small_dsprites(bad / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", sizes=[1, 3, 2, 2, 4, 4])
    with np.load(path, allow_pickle=True) as f:
        arrays = dict(f)
    arrays["imgs"] = arrays["imgs"][:100]
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"imgs of shape \(100, 64, 64\)"):
        get_dataset("dsprites", data_dir=str(path))
    expected = r"dsprites: expected dsprites_ndarray.*; looked in .*nowhere \(does not exist\)$"
    with pytest.raises(ValueError, match=expected):
        get_dataset("dsprites", data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="images are 64x64"):
        get_dataset("dsprites-procedural", image_size=32)


def test_procedural_images_are_binary_deterministic_and_fast():
    data = get_dataset("dsprites-procedural", image_size=64)
    factors = data.sample_factors(64, np.random.RandomState(0))
    images = data.sample_observations_from_factors(factors)
    assert images.shape == (64, 64, 64, 1) and images.dtype == np.float32
    assert set(np.unique(images)) == {0.0, 1.0}
    np.testing.assert_array_equal(images, data.sample_observations_from_factors(factors))
    start = time.perf_counter()
    for i in range(50):
        data.sample_observations(64, np.random.RandomState(i))
    rate = 50 * 64 / (time.perf_counter() - start)
    assert rate > 5000, f"{rate:.0f} images/s"  # ~100k/s on one core; generous for a shared CPU
    first = take(data.batches(8, seed=1), 2)
    again = take(data.batches(8, seed=1), 2)
    np.testing.assert_array_equal(first[1], again[1])


def _symmetry_period(shape):
    return {0: 90.0, 1: 180.0, 2: 360.0}[shape]


def test_every_factor_changes_the_image():
    """Changing one factor changes the pixels, unless the new orientation is (nearly) a symmetry."""
    data = ProceduralDSprites()
    rs = np.random.RandomState(4)
    angles = np.degrees(data.factor_values[2])
    for base in data.sample_factors(150, rs):
        image = render(base[None])[0]
        for k, size in enumerate(FACTOR_SIZES):
            changed = base.copy()
            changed[k] = (base[k] + rs.randint(1, size)) % size
            if k == 2:
                period = _symmetry_period(base[0])
                delta = abs(angles[changed[2]] - angles[base[2]]) % period
                if min(delta, period - delta) < 15.0:
                    continue
            assert not np.array_equal(render(changed[None])[0], image), (base, changed)


def test_shapes_are_distinguishable():
    tiles = sprite_tiles().astype(int)  # (shape, scale, orientation, 32, 32)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        differing = np.abs(tiles[a] - tiles[b]).sum(axis=(-1, -2))
        assert differing.min() >= 8, (a, b, differing.min())
    # At every scale the square is the largest and the heart the smallest, as in the real frames.
    area = tiles[:, :, 0].sum(axis=(-1, -2))
    assert np.all(area[0] > area[1]) and np.all(area[1] > area[2])


@pytest.fixture(scope="module")
def gif_frames():
    from PIL import Image

    image = Image.open(shared_data("dsprites-sample", "dsprites.gif"))
    frames = []
    for i in range(image.n_frames):
        image.seek(i)
        frames.append(np.array(image.convert("L")) > 127)
    return np.stack(frames)


# The gif shows hearts (frames 0-191), ellipses (192-255), squares (256-319): per shape, a scale
# sweep at orientation 0 and a 40-frame orientation sweep at scale 1, all at posX = posY = 0.
GIF_SHAPES = {0: range(256, 320), 1: range(192, 256), 2: range(0, 192)}
GIF_SWEEPS = {0: (256, 274), 1: (192, 210), 2: (0, 18)}


def _measure(masks):
    area = masks.sum(axis=(1, 2))
    centre = np.arange(64) + 0.5
    rows = (masks.sum(axis=2) * centre).sum(axis=1) / area
    cols = (masks.sum(axis=1) * centre).sum(axis=1) / area
    return area, rows, cols, masks.any(axis=2).sum(axis=1), masks.any(axis=1).sum(axis=1)


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_calibration_against_the_real_frames(gif_frames, shape):
    """The real frames' areas, extents and centroids lie within the renderer's range over the grid."""
    real = _measure(gif_frames[list(GIF_SHAPES[shape])])
    tiles = np.pad(sprite_tiles()[shape].reshape(-1, 32, 32).astype(bool), ((0, 0), (0, 32), (0, 32)))
    ours = _measure(tiles)
    area, rows, cols, heights, widths = real
    assert ours[0].min() * 0.95 <= area.min() and area.max() <= ours[0].max() * 1.05
    assert ours[3].min() - 1 <= heights.min() and heights.max() <= ours[3].max() + 1
    assert ours[4].min() - 1 <= widths.min() and widths.max() <= ours[4].max() + 1
    # Positions shift tiles by 0..32 px: centroids span the tile's centroid range plus 32.
    assert ours[1].min() - 0.5 <= rows.min() and rows.max() <= ours[1].max() + 32 + 0.5
    assert ours[2].min() - 0.5 <= cols.min() and cols.max() <= ours[2].max() + 32 + 0.5
    # Frame by frame, the sweeps overlap the renderer's sprite at the same factors.
    scale_start, turn_start = GIF_SWEEPS[shape]
    labelled = [(scale_start + i, [shape, i, 0, 0, 0]) for i in range(6)]
    labelled += [(turn_start + k, [shape, 5, k, 0, 0]) for k in range(40)]
    ious = []
    for frame, factors in labelled:
        ours_image = render([factors])[0, ..., 0] > 0
        ious.append((ours_image & gif_frames[frame]).sum() / (ours_image | gif_frames[frame]).sum())
    assert np.mean(ious) >= (0.99 if shape < 2 else 0.95) and np.min(ious) >= 0.85, np.round(ious, 3)
