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


def test_celeba_partition_file_crops_and_gray(tmp_path):
    """The split follows list_eval_partition.txt, beside the images or under Eval/, name by name;
    without it, the MD5 of the name mod 10 (DATASETS.md); crop=N and channels=1 as documented."""
    import hashlib
    import shutil

    write_celeba(tmp_path)

    def split_names(root, split):
        return sorted(os.path.basename(k) for k in get_dataset("celeba", data_dir=str(root), split=split,
                                                              cache=False).keys)

    expected = {"train": [f"{i:06d}.jpg" for i in range(1, 17)], "valid": [f"{i:06d}.jpg" for i in range(17, 21)],
                "test": [f"{i:06d}.jpg" for i in range(21, 25)]}
    assert {s: split_names(tmp_path, s) for s in expected} == expected
    (tmp_path / "Eval").mkdir()
    shutil.move(tmp_path / "list_eval_partition.txt", tmp_path / "Eval" / "list_eval_partition.txt")
    assert {s: split_names(tmp_path, s) for s in expected} == expected
    os.remove(tmp_path / "Eval" / "list_eval_partition.txt")
    bucket = {f"{i:06d}.jpg": int(hashlib.md5(f"{i:06d}.jpg".encode()).hexdigest(), 16) % 10 for i in range(1, 25)}
    by_hash = {"train": sorted(n for n, b in bucket.items() if b < 8),
               "valid": sorted(n for n, b in bucket.items() if b == 8),
               "test": sorted(n for n, b in bucket.items() if b == 9)}
    assert {s: split_names(tmp_path, s) for s in expected} == by_hash != expected

    def corner(**options):  # the top-left output pixel, which covers the crop's corner
        data = get_dataset("celeba", data_dir=str(tmp_path), image_size=32, cache=False, **options)
        return data.sample_observations(1, np.random.RandomState(0))[0, 0, 0]

    # The fixture is red outside the centred 140 square: a 148 crop keeps a 4 px red border (an
    # output pixel covers 4.6 px), a 108 crop lies inside the green. 4:4:4 JPEG at quality 100
    # keeps colours within a few levels; red and green are over 150 levels apart.
    np.testing.assert_allclose(corner(crop=148), np.array(RED) / 255, atol=0.06)
    np.testing.assert_allclose(corner(crop=108), np.array(GREEN) / 255, atol=0.06)
    gray = corner(channels=1)
    assert gray.shape == (1,)
    np.testing.assert_allclose(gray * 255, luma(GREEN), atol=3)  # luma 128, channel mean 87


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


def chair_colour(c):
    """The render colour of chair c: its channels all differ, so a gray image copied 3 times cannot pass."""
    return np.array([40 + 60 * c, 120, 200 - 50 * c])


def luma(rgb):
    """ITU-R 601 luma, Pillow's "L" conversion (DATASETS.md), in 0..255."""
    return np.asarray(rgb) @ [0.299, 0.587, 0.114]


def write_chairs(root, chairs=3, views=4, size=96):
    for c in range(chairs):
        folder = root / "rendered_chairs" / f"chair_{c:04d}" / "renders"
        folder.mkdir(parents=True)
        for v in range(views):
            pixels = np.full((size, size, 3), 255, np.uint8)
            pixels[20 + 5 * v : 70, 30 : 60 + 8 * c] = chair_colour(c)
            Image.fromarray(pixels).save(folder / f"image_{v:03d}_p020_t{v * 15:03d}_r096.png")
    return root


def test_chairs_tree_in_gray_and_rgb(tmp_path):
    """Lossless PNGs, so every pixel is known: output pixel (15, 12) of 32 (rows 45-47, columns 36-38
    of 96) and (30, 24) of 64 lie inside every chair; (0, 0) is white background."""
    write_chairs(tmp_path)
    gray = get_dataset("chairs", data_dir=str(tmp_path), cache=False)
    assert gray.observation_shape == (64, 64, 1) and len(gray) == 12
    batch = take(gray.batches(12, seed=0), 1)[0]  # one epoch: each render once
    assert batch.shape == (12, 64, 64, 1) and np.all(batch[:, 0, 0] == 1.0)
    # Each chair's 4 views show its luma (rounded by Pillow to a whole level): gray is the luma,
    # not the mean of the channels (3 to 15 levels away here) nor one channel.
    levels = np.sort(np.rint(batch[:, 30, 24, 0] * 255))
    expected = np.sort(np.repeat(np.rint([luma(chair_colour(c)) for c in range(3)]), 4))
    np.testing.assert_allclose(levels, expected, atol=0.5)
    rgb = get_dataset("chairs", data_dir=str(tmp_path / "rendered_chairs"), channels=3, image_size=32)
    images = take(rgb.batches(12, seed=0), 1)[0]
    assert images.shape == (12, 32, 32, 3) and np.all(images[:, 0, 0] == 1.0)  # white background kept
    colours = np.rint(images[:, 15, 12] * 255).astype(int)
    # The true colour of every chair, 4 times each: a gray image copied 3 times has equal channels.
    np.testing.assert_array_equal(colours[np.argsort(colours[:, 0])],
                                  np.repeat([chair_colour(c) for c in range(3)], 4, axis=0))


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
    # Floats in [0, 1] are taken as they are: one epoch (a batch of 10) holds exactly the stored
    # images, so dividing floats by 255 like uint8, or any other rescaling, fails.
    batch = take(data.batches(10, seed=0), 1)[0]
    assert batch.shape == (10, 64, 64, 1) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[np.argsort(batch[:, 0, 0, 0])], images[..., None])
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


def test_decoded_cache_reuse_invalidation_fallback_and_interrupted_builds(tmp_path, monkeypatch):
    """DATASETS.md's cache rules, on 12 chair PNGs at 16 px."""
    from hwkeras.data.image_files import ImageFiles

    write_chairs(tmp_path)
    cache_dir = tmp_path / ".hwkeras-cache"

    def npys(folder=cache_dir):
        return sorted(p for p in os.listdir(folder) if p.endswith(".npy"))

    def epoch(**options):
        data = get_dataset("chairs", data_dir=str(tmp_path), image_size=16, **options)
        return data, take(data.batches(12, seed=0), 1)[0]

    # An interrupted build (a failure while decoding) leaves nothing behind: no .npy under the real
    # name, no sidecar, no partial file.
    real_load = ImageFiles.load
    calls = []

    def failing_load(self, position):
        calls.append(position)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_load(self, position)

    monkeypatch.setattr(ImageFiles, "load", failing_load)
    with pytest.raises(KeyboardInterrupt):
        epoch()
    assert os.listdir(cache_dir) == []
    monkeypatch.setattr(ImageFiles, "load", real_load)
    # A build that dies after the .npy but before the sidecar marks it complete is built again.
    import hwkeras.data.image_files as image_files

    def no_sidecar(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(image_files.json, "dump", no_sidecar)
    with pytest.raises(KeyboardInterrupt):
        epoch()
    monkeypatch.undo()
    (first,) = npys()
    assert not os.path.exists(cache_dir / (first[:-4] + ".json"))
    reference = np.stack([np.asarray(Image.open(p).convert("L").resize((16, 16), Image.BOX))
                          for p in sorted(tmp_path.glob("rendered_chairs/*/renders/*.png"))])
    data, images = epoch()
    assert os.path.exists(cache_dir / (first[:-4] + ".json")) and npys() == [first]
    # The cache rows follow the sorted file names. 96 -> 16 is a whole 6x6 block per pixel, where
    # Pillow's BOX filter is the area mean too (its rounding may differ by one level).
    np.testing.assert_allclose(data.cached_images()[..., 0], reference, atol=1)
    assert sorted(map(bytes, (images * 255).round().astype(np.uint8))) == sorted(map(bytes, data.cached_images()))

    # Reuse: another dataset object reads the cache and decodes nothing.
    def no_decoding(self, position):
        raise AssertionError("decoded a file although the cache is complete")

    monkeypatch.setattr(ImageFiles, "load", no_decoding)
    _, again = epoch()
    np.testing.assert_array_equal(again, images)
    monkeypatch.undo()

    # Invalidation: other options, or a changed file, give another cache with the new pixels.
    epoch(channels=3)
    assert len(npys()) == 2 and any("-3ch-" in n for n in npys())
    changed = sorted(tmp_path.glob("rendered_chairs/*/renders/*.png"))[0]
    Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(changed)  # an all-black render
    os.utime(changed, ns=(1, 1))
    _, after = epoch()
    assert len(npys()) == 3
    assert (after.reshape(12, -1).max(axis=1) == 0).sum() == 1 and (images.reshape(12, -1).max(axis=1) == 0).sum() == 0

    # Read-only data folder: the cache goes to $XDG_CACHE_HOME/hwkeras. (Tests may run as root,
    # whom chmod does not stop, so the data folder's cache directory is made impossible to create.)
    other = tmp_path / "ro"
    write_chairs(other, chairs=1, views=2)
    (other / ".hwkeras-cache").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    data = get_dataset("chairs", data_dir=str(other), image_size=16)
    assert take(data.batches(2, seed=0), 1)[0].shape == (2, 16, 16, 1)
    assert len(npys(tmp_path / "xdg" / "hwkeras")) == 1
    assert (other / ".hwkeras-cache").read_text() == "not a directory"
