"""SmallNORB: NYU's binary matrix files (both chunks; dat sparse at full size, cat and info whole) read
back to disentanglement_lib's images, factors and sampling; bad or missing files one line each.

The ORACLE_* numbers were produced by disentanglement_lib's own norb.py (google-research/
disentanglement_lib 86a644d, run outside this repository: tensorflow.compat.v1.gfile shimmed to open,
PIL.Image.ANTIALIAS set to LANCZOS, which Pillow 10 removed; numpy 1.26.4, as its int() of a 1-element
array needs numpy < 2; Pillow 13.0.0 as here) on the files ``write_norb`` writes:
``tests/data/oracle_disentanglement_lib.py DLIB WORK norb`` (it imports write_norb and QUERY from this
module and prints them). It reported factor_sizes [5, 10, 9, 18, 6], latent_factor_indices [0, 2, 3, 4],
factors_num_values [5, 9, 18, 6], images (48600, 64, 64) float64 in [-0.165, 1.157] (Lanczos overshoot).
"""

import hashlib
import os
import warnings

import numpy as np
import pytest

from hwkeras.data import get_dataset
from hwkeras.data.smallnorb import CHUNKS, FILES, SmallNORB, resize
from tests.data.published import norb_matrix, sparse_norb_dat

SIZES = (5, 10, 9, 18, 6)  # category, instance, elevation, azimuth / 2, lighting
INSTANCES = ((4, 6, 7, 8, 9), (0, 1, 2, 3, 5))  # training, testing chunk
# Latent points (category, elevation, azimuth index, lighting) whose 10 instances carry images.
FILLED_LATENT = ((0, 0, 0, 0), (4, 8, 17, 5), (2, 3, 9, 1), (1, 5, 4, 3))


def chunk_features(k):
    """The chunk's rows in a seeded shuffled order: (category, instance, elevation, azimuth 0..34, lighting)."""
    grid = np.stack(np.meshgrid(np.arange(5), INSTANCES[k], np.arange(9), np.arange(0, 36, 2), np.arange(6),
                                indexing="ij"), axis=-1).reshape(-1, 5)
    return grid[np.random.RandomState(10 + k).permutation(len(grid))]


def pair(seed):
    """A stereo pair: two different 96x96 images (camera 1 must never show)."""
    rs = np.random.RandomState(seed)
    smooth = np.cumsum(rs.randint(-20, 21, (2, 96, 96)), axis=2)
    return np.clip(128 + smooth, 0, 255).astype(np.uint8)


def write_norb(folder):
    for k, chunk in enumerate(CHUNKS):
        features = chunk_features(k)
        filled = {row: pair(1000 * k + row) for row, f in enumerate(features)
                  if (f[0], f[2], f[3] // 2, f[4]) in FILLED_LATENT}
        sparse_norb_dat(os.path.join(folder, f"smallnorb-{chunk}-dat.mat"), len(features), filled)
        norb_matrix(os.path.join(folder, f"smallnorb-{chunk}-cat.mat"), features[:, 0].astype("<i4"), 0x1E3D4C54)
        norb_matrix(os.path.join(folder, f"smallnorb-{chunk}-info.mat"), features[:, 1:].astype("<i4"), 0x1E3D4C54)
    return folder


QUERY = np.array(FILLED_LATENT * 3 + ((3, 2, 11, 4),))
# disentanglement_lib: sha256 of sample_observations_from_factors(QUERY, RandomState(0)).astype(float32).
ORACLE_QUERY_SHA256 = "dfa09df7b9363a4a19c963e76f460769815cf8ee915f6b71c19e281c3bf99e0f"
# disentanglement_lib: sample_factors(6, RandomState(3)), then sha256 of the observations of those factors
# drawn from the same state, as float32.
ORACLE_SAMPLED = [[2, 0, 0, 2], [0, 5, 12, 4], [1, 3, 7, 1], [3, 5, 14, 3], [0, 7, 17, 2], [0, 6, 2, 5]]
ORACLE_SAMPLED_SHA256 = "3a3ed164e42500a1c5b2d0093f0a813d27dc50d038f330cc100a7e70ece2e6e4"


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def norb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data") / "small_norb"
    folder.mkdir()
    return write_norb(str(folder))


def test_equal_to_disentanglement_lib(norb):
    data = get_dataset("smallnorb", data_dir=os.path.dirname(norb))
    assert isinstance(data, SmallNORB) and len(data) == 48600
    assert data.factor_sizes == (5, 9, 18, 6) and data.full_factor_sizes == SIZES
    assert data.latent_factor_indices == (0, 2, 3, 4) and data.observation_shape == (64, 64, 1)
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    observations = data.sample_observations_from_factors(QUERY, np.random.RandomState(0))
    assert observations.dtype == np.float32 and observations.shape == (13, 64, 64, 1)
    assert sha(observations) == ORACLE_QUERY_SHA256
    assert np.all(observations[:12].std(axis=(1, 2, 3)) > 0.01) and np.all(observations[12] == 0)
    # The instance is drawn per observation: no encode-once table (hwkeras.metrics.table) for SmallNORB.
    assert not data.observations_fixed_by_factors
    again = data.sample_observations_from_factors(QUERY, np.random.RandomState(1))
    assert not np.array_equal(again[:12], observations[:12])
    rs = np.random.RandomState(3)
    factors = data.sample_factors(6, rs)
    assert factors.tolist() == ORACLE_SAMPLED
    assert sha(data.sample_observations_from_factors(factors, rs)) == ORACLE_SAMPLED_SHA256


def test_rows_images_and_batches(norb):
    data = SmallNORB(norb)
    training, testing = chunk_features(0), chunk_features(1)
    halved = np.concatenate([training, testing])
    halved[:, 3] //= 2
    # Every row is found from its own factors, the training chunk first.
    np.testing.assert_array_equal(data.rows_of(halved), np.arange(48600))
    row = next(r for r, f in enumerate(testing) if (f[0], f[2], f[3] // 2, f[4]) == FILLED_LATENT[1])
    image = data.images_at([24300 + row])[0, ..., 0]
    np.testing.assert_array_equal(image, resize(pair(1000 + row)[:1])[0])  # camera 0
    assert not np.array_equal(image, resize(pair(1000 + row)[1:])[0])
    batch = data.batch(32, seed=2, index=3)
    assert batch.shape == (32, 64, 64, 1) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, data.batch(32, seed=2, index=3))


def test_resize_is_lanczos_on_32_bit_integers():
    from PIL import Image

    image = pair(7)[0]
    want = np.asarray(Image.fromarray(image.astype(np.int32)).resize((64, 64), Image.LANCZOS)) / 255.0
    np.testing.assert_array_equal(resize(image[None])[0], want.astype(np.float32))
    # Not the 8-bit path, which clips Lanczos' overshoot and rounds differently.
    eight = np.asarray(Image.fromarray(image).resize((64, 64), Image.LANCZOS)) / 255.0
    assert not np.array_equal(want, eight)


def one_line(folder, match):
    with pytest.raises(ValueError) as info:
        SmallNORB(str(folder))
    message = str(info.value)
    assert "\n" not in message and match in message, message


def test_bad_or_missing_files_are_one_line_and_write_nothing(norb, tmp_path):
    folder = tmp_path / "small_norb"
    folder.mkdir()

    def copy(name, data=None):
        """The fixture's file (a link: the dat files are 448 MB once filled in), or ``data`` of its bytes."""
        target = fresh(name)
        if data is None:
            target.symlink_to(os.path.join(norb, name))
        else:
            with open(os.path.join(norb, name), "rb") as source:
                target.write_bytes(data(source.read()))

    def fresh(name):  # never write through a link into the fixture
        if os.path.lexists(folder / name):
            os.remove(folder / name)
        return folder / name

    for name in FILES[:3]:
        copy(name)
    one_line(folder, f"lacks {', '.join(FILES[3:])}; get them from https://cs.nyu.edu/~ylclab/")
    for name in FILES[3:]:
        copy(name)
    fresh(FILES[4])
    (folder / (FILES[4] + ".gz")).write_bytes(b"gzipped")
    one_line(folder, f"lacks {FILES[4]}; gunzip {FILES[4]}.gz")
    os.remove(folder / (FILES[4] + ".gz"))
    copy(FILES[4], lambda data: data[:-4])  # truncated cat file
    one_line(folder, f"{FILES[4]} is truncated: header int32 (24300,) needs 97,220 bytes, the file has 97,216")
    copy(FILES[4], lambda data: b"\x00" * 8 + data[8:])
    one_line(folder, "is not a NORB binary matrix (magic 0x00000000, ndim 0)")
    copy(FILES[4], lambda data: data[:3])
    one_line(folder, "is too short for a NORB binary matrix header (3 bytes)")
    copy(FILES[4])
    norb_matrix(fresh(FILES[3]), np.zeros((24300, 2, 32, 32), np.uint8), 0x1E3D4C55)  # wrong image size
    one_line(folder, "holds uint8 (24300, 2, 32, 32); expected uint8 (N, 2, 96, 96)")
    copy(FILES[3])
    norb_matrix(fresh(FILES[5]), np.zeros((24300, 4), "<i4"), 0x1E3D4C54)  # the testing info all zeros
    one_line(folder, "do not cover the 48600-point grid (5, 10, 9, 18, 6) once each")
    norb_matrix(fresh(FILES[5]), (np.full((24300, 4), 99) * np.array([1, 1, 2, 1])).astype("<i4"), 0x1E3D4C54)
    one_line(folder, "cat/info values out of range for the grid (5, 10, 9, 18, 6)")
    norb_matrix(fresh(FILES[5]), np.ones((24300, 4), "<i4"), 0x1E3D4C54)
    one_line(folder, "the info files hold odd azimuths")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="smallnorb: expected the six smallnorb-5x46789x9x18x6x2x96x96-training"):
        get_dataset("smallnorb", data_dir=str(tmp_path / "elsewhere"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_no_warning_without_known_sums(norb):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SmallNORB(norb)


@pytest.mark.parametrize("pipeline", ["py", "tf"])
def test_both_pipelines_stream_the_batch_function(norb, pipeline):
    """Images are resized in the pipelines' worker threads; the stream is still batch(seed, i), in order."""
    from hwkeras.data import take

    data = SmallNORB(norb)
    streamed = take(data.batches(8, seed=3, start=2, pipeline=pipeline, workers=4), 3)
    for k, batch in enumerate(streamed):
        np.testing.assert_array_equal(np.asarray(batch), data.batch(8, seed=3, index=2 + k))
