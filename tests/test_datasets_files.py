"""CelebA, 3D Chairs and 3D Faces from small fixtures in their real layouts and formats.

Every dataset is loaded through ``get_dataset``; images must have the right shape and range,
splits and crops must follow the documented rules, and corrupt files must be skipped and counted.
"""

import os
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from hwkeras.data import ArrayImages, Faces3D, SkippedFilesWarning, get_dataset, take

RED, GREEN = (220, 20, 20), (20, 200, 40)


def celeba_image(i):
    """178x218 RGB: red border outside the centred 140x140 square, green inside, a grey mark by index."""
    pixels = np.zeros((218, 178, 3), np.uint8)
    pixels[:] = RED
    pixels[39:179, 19:159] = GREEN
    pixels[100:110, 60 + 2 * (i % 40) : 70 + 2 * (i % 40)] = 128
    return Image.fromarray(pixels)


def write_celeba(root, n=24, partition=True, corrupt=()):
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        path = folder / f"{i:06d}.jpg"
        celeba_image(i).save(path, quality=100, subsampling=0)  # 4:4:4: no chroma bleed at the crop edge
        if i in corrupt:  # truncated half-way, as an interrupted download leaves it
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
    if partition:
        lines = [f"{i:06d}.jpg {0 if i <= n - 8 else (1 if i <= n - 4 else 2)}" for i in range(1, n + 1)]
        (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def test_celeba_folder_crop_split_and_range(tmp_path):
    write_celeba(tmp_path)
    data = get_dataset("celeba", data_dir=str(tmp_path), image_size=64, cache=False)
    assert data.observation_shape == (64, 64, 3) and len(data) == 24 and data.factor_sizes == ()
    images = data.sample_observations(6, np.random.RandomState(0))
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    # The default 140 crop is exactly the green square: no red border survives it.
    corners = images[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    np.testing.assert_allclose(corners, np.broadcast_to(np.array(GREEN) / 255, corners.shape), atol=0.06)
    whole = get_dataset("celeba", data_dir=str(tmp_path / "img_align_celeba"), crop=None, cache=False)
    corner = whole.sample_observations(1, np.random.RandomState(0))[0, 0, 0]
    np.testing.assert_allclose(corner, np.array(RED) / 255, atol=0.06)
    sizes = {s: len(get_dataset("celeba", data_dir=str(tmp_path), split=s, cache=False))
             for s in ("train", "valid", "test")}
    assert sizes == {"train": 16, "valid": 4, "test": 4}


def test_celeba_zip_with_hash_split_and_cache(tmp_path):
    source = write_celeba(tmp_path / "src", n=30, partition=False)
    archive = tmp_path / "celeba" / "img_align_celeba.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((source / "img_align_celeba").iterdir()):
            z.write(path, f"img_align_celeba/{path.name}")
    splits = {s: get_dataset("celeba", data_dir=str(archive.parent), split=s, cache=False)
              for s in ("train", "valid", "test")}
    names = [set(os.path.basename(k) for k in d.keys) for d in splits.values()]
    assert sum(map(len, names)) == 30 and not (names[0] & names[1]) and not (names[1] & names[2])
    data = get_dataset("celeba", data_dir=str(archive.parent), image_size=32)
    batches = take(data.batches(10, seed=5), 3)  # 3 batches of 10: one epoch
    cache = [p for p in os.listdir(archive.parent / ".hwkeras-cache") if p.endswith(".npy")]
    assert len(cache) == 1 and cache[0].startswith("celeba-32px-3ch-crop140-")
    epoch = np.concatenate(batches)
    assert epoch.shape == (30, 32, 32, 3)
    # An epoch visits every image once: 30 distinct images (the grey mark moves with the index).
    assert len({img.tobytes() for img in (epoch * 255).round().astype(np.uint8)}) == 30
    same = take(data.batches(10, seed=5), 3)
    np.testing.assert_array_equal(np.concatenate(same), epoch)  # same seed, same order
    other = np.concatenate(take(data.batches(10, seed=6), 3))
    assert not np.array_equal(other, epoch)
    # The zip itself is a valid data_dir too; another size is another cache.
    assert get_dataset("celeba", data_dir=str(archive)).sample_observations(2, 0).shape == (2, 64, 64, 3)
    assert len([p for p in os.listdir(archive.parent / ".hwkeras-cache") if p.endswith(".npy")]) == 2


@pytest.mark.parametrize("cache", [False, True])
def test_a_corrupt_jpeg_is_skipped_and_counted(tmp_path, cache):
    write_celeba(tmp_path, n=12, partition=False, corrupt=(6,))
    data = get_dataset("celeba", data_dir=str(tmp_path), image_size=32, cache=cache)
    with pytest.warns(SkippedFilesWarning, match="celeba: skipped 1 of 12 image files") as caught:
        batches = take(data.batches(4, seed=0), 6)  # 24 images: two passes
    assert len([w for w in caught if issubclass(w.category, SkippedFilesWarning)]) == 1
    assert data.num_skipped == 1 and all(b.shape == (4, 32, 32, 3) for b in batches)
    if cache:
        assert len(data) == 11
        assert "000006.jpg" in str(caught[0].message)


def write_chairs(root, chairs=3, views=4, size=96):
    for c in range(chairs):
        folder = root / "rendered_chairs" / f"chair_{c:04d}" / "renders"
        folder.mkdir(parents=True)
        for v in range(views):
            pixels = np.full((size, size, 3), 255, np.uint8)
            pixels[20 + 5 * v : 70, 30 : 60 + 8 * c] = (40 * c, 60, 200)
            Image.fromarray(pixels).save(folder / f"image_{v:03d}_p020_t{v * 15:03d}_r096.png")
    return root


def test_chairs_tree_in_gray_and_rgb(tmp_path):
    write_chairs(tmp_path)
    gray = get_dataset("chairs", data_dir=str(tmp_path), cache=False)
    assert gray.observation_shape == (64, 64, 1) and len(gray) == 12
    batch = take(gray.batches(12, seed=0), 1)[0]
    assert batch.shape == (12, 64, 64, 1) and batch.max() == 1.0 and batch.min() < 0.5
    rgb = get_dataset("chairs", data_dir=str(tmp_path / "rendered_chairs"), channels=3, image_size=32)
    images = rgb.sample_observations(5, np.random.RandomState(0))
    assert images.shape == (5, 32, 32, 3) and 0 <= images.min() and images.max() <= 1
    assert np.all(images[:, 0, 0] == 1.0)  # white background kept


def test_faces3d_grid_has_factors_that_follow_the_index(tmp_path):
    # The published grid, as a sparse .npy: only the images written below take disk space.
    path = tmp_path / "basel_faces.npy"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(50, 21, 11, 11, 64, 64))
    rs = np.random.RandomState(0)
    factors = np.stack([rs.randint(s, size=20) for s in (50, 21, 11, 11)], axis=1)
    for f in factors:
        images[tuple(f)][:4] = np.array(f, np.uint8)[:, None]
        images[tuple(f)][10:20, 10:20] = 255
    images.flush()
    del images
    data = get_dataset("faces3d", data_dir=str(tmp_path))
    assert isinstance(data, Faces3D) and data.factor_sizes == (50, 21, 11, 11)
    assert data.observation_shape == (64, 64, 1) and len(data) == 50 * 21 * 11 * 11
    observed = data.sample_observations_from_factors(factors)
    np.testing.assert_array_equal(np.rint(observed[:, :4, 0, 0] * 255).astype(int), factors)
    assert observed.max() == 1.0 and observed.min() == 0.0
    assert data.sample_factors(7, np.random.RandomState(1)).shape == (7, 4)


def test_faces3d_without_grid_is_factorless_and_refused_by_metrics(tmp_path):
    from hwkeras.metrics.utils import check_ground_truth_data

    images = np.linspace(0, 1, 10 * 64 * 64, dtype=np.float32).reshape(10, 64, 64)
    np.savez_compressed(tmp_path / "faces.npz", images=images)
    data = get_dataset("faces3d", data_dir=str(tmp_path / "faces.npz"))
    assert isinstance(data, ArrayImages) and data.factor_sizes == () and len(data) == 10
    batch = take(data.batches(4, seed=0), 1)[0]
    assert batch.shape == (4, 64, 64, 1) and 0 <= batch.min() and batch.max() <= 1
    with pytest.raises(ValueError, match="no ground-truth factors"):
        check_ground_truth_data(data)


def test_bad_inputs_give_one_line_errors(tmp_path):
    def error(name, **kwargs):
        with pytest.raises(ValueError) as err:
            get_dataset(name, **kwargs)
        message = str(err.value)
        assert "\n" not in message
        return message

    missing = str(tmp_path / "missing")
    message = error("celeba", data_dir=missing)
    assert "img_align_celeba/*.jpg" in message and f"{missing} (does not exist)" in message
    (tmp_path / "empty").mkdir()
    message = error("celeba", data_dir=str(tmp_path / "empty"))
    assert "expected img_align_celeba/*.jpg" in message and str(tmp_path / "empty") in message
    assert "rendered_chairs/<chair>/renders/*.png" in error("chairs", data_dir=str(tmp_path / "empty"))
    (tmp_path / "empty" / "img_align_celeba").mkdir()
    assert "holds no JPEG images" in error("celeba", data_dir=str(tmp_path / "empty"))
    np.savez(tmp_path / "faces.npz", labels=np.zeros(3), other=np.zeros(2))
    message = error("faces3d", data_dir=str(tmp_path / "faces.npz"))
    assert "has arrays labels, other; expected one named images or imgs" in message
    np.save(tmp_path / "wide.npy", np.zeros((4, 32, 32), np.uint8))
    assert "shape (4, 32, 32)" in error("faces3d", data_dir=str(tmp_path / "wide.npy"))
    np.save(tmp_path / "bright.npy", np.full((4, 64, 64), 255.0, np.float32))
    assert "floats up to 255" in error("faces3d", data_dir=str(tmp_path / "bright.npy"))
    assert "is procedural" in error("dsprites-procedural", data_dir=str(tmp_path))
    assert "does not take the option 'colour'" in error("correlated-ellipses", colour=1)
    assert "split must be one of" in error("celeba", data_dir=str(write_celeba(tmp_path / "c", n=2)), split="val")


def test_every_file_failing_stops_with_an_error_not_a_hang(tmp_path):
    write_celeba(tmp_path, n=3, partition=False, corrupt=(1, 2, 3))
    data = get_dataset("celeba", data_dir=str(tmp_path), image_size=16, cache=False)
    with warnings.catch_warnings(), pytest.raises(Exception, match="none of the 3 image files could be decoded"):
        warnings.simplefilter("ignore")
        next(iter(data.batches(2)))


@pytest.mark.parametrize("height, width, size", [(140, 140, 64), (218, 178, 64), (600, 600, 64), (96, 96, 32)])
def test_area_resize_is_the_exact_area_mean(height, width, size):
    """Oracle: replicate every pixel so that output pixels cover whole blocks, then block means."""
    from math import gcd

    from hwkeras.data.decode import area_resize

    image = np.random.RandomState(height).randint(0, 256, (height, width, 3)).astype(np.uint8)

    def block_means(values, n):  # along axis 0: replicate so each output covers whole blocks
        fine = np.repeat(values, size // gcd(n, size), axis=0)
        return fine.reshape((size, -1) + values.shape[1:]).mean(axis=1)

    expected = block_means(block_means(image.astype(np.float64), height).transpose(1, 0, 2), width).transpose(1, 0, 2)
    got = area_resize(image, size)
    assert got.dtype == np.uint8 and got.shape == (size, size, 3)
    clear = np.abs(expected % 1 - 0.5) > 1e-6  # away from ties, rounding is unambiguous
    np.testing.assert_array_equal(got[clear], np.rint(expected[clear]))
