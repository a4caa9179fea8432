"""Scream-dSprites: dSprites (an npz of the official schema holding the 320 real frames of
dsprites.gif) on patches of a painting (a synthetic JPEG standing in for the user's scream.jpg),
equal to disentanglement_lib's ScreamDSprites given the same random state; missing or bad painting
one line each.

The ORACLE_* numbers were produced by disentanglement_lib's own dsprites.py ScreamDSprites([1, 2, 3,
4, 5]) (google-research/disentanglement_lib 86a644d, outside this repository, numpy 1.26.4, Pillow
13.0.0, tensorflow.compat.v1.gfile shimmed to open, thumbnail given (350, 274) of its (350, 274, 3),
as Pillow < 7 read it) on the files ``write_real_dsprites`` and ``write_painting`` write:
``tests/data/oracle_disentanglement_lib.py DLIB WORK scream``.
"""

import hashlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.data import get_dataset
from hwkeras.data.scream import ScreamDSprites, load_painting
from tests.helpers import DSPRITES_FILE, write_real_dsprites

DSPRITES = DSPRITES_FILE


def write_painting(path, size=(740, 912)):
    """A portrait JPEG with smooth colour gradients and some texture (like a painting's photograph)."""
    from PIL import Image

    y, x = np.mgrid[0 : size[1], 0 : size[0]] / np.array([size[1], size[0]])[:, None, None]
    rgb = np.stack([np.sin(6 * x + 2 * y), np.cos(5 * y - 3 * x), np.sin(9 * x * y)], axis=-1)
    texture = np.random.RandomState(0).uniform(-0.15, 0.15, rgb.shape)
    pixels = np.clip((rgb + 1) / 2 + texture, 0, 1)
    Image.fromarray((pixels * 255).astype(np.uint8)).save(path, quality=90)
    return path


# dSprites latent factors (shape, scale, orientation, posX, posY) queried of both.
QUERY = np.array([[0, 0, 0, 0, 0], [1, 1, 4, 3, 3], [0, 1, 2, 1, 3], [1, 0, 3, 2, 0]])
# disentanglement_lib: sha256 of sample_observations_from_factors(QUERY, RandomState(0)) twice from the
# same state (float32), its painting's shape after the thumbnail, and sample_factors(5, RandomState(3)),
# then the sha256 of the observations of those factors drawn from the same state.
ORACLE_QUERY_SHA256 = "d7a93ab63661bd25acd5ab19027e94dd2aa32586800adeff046593d410048972"
ORACLE_PAINTING_SHAPE = [274, 222, 3]
ORACLE_SAMPLED = [[0, 0, 2, 1, 0], [0, 0, 3, 3, 1], [1, 1, 1, 2, 3], [1, 1, 1, 0, 2], [0, 1, 2, 0, 0]]
ORACLE_SAMPLED_SHA256 = "cd3ae92c43cf3c4a1909c19c509b1a1293827a60aaf9dfbd88e286a540ef936d"


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array, np.float32).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """disentanglement_lib's layout: <root>/dsprites/<npz> and <root>/scream/scream.jpg."""
    root = tmp_path_factory.mktemp("data")
    (root / "dsprites").mkdir()
    (root / "scream").mkdir()
    write_real_dsprites(root / "dsprites" / DSPRITES)
    write_painting(root / "scream" / "scream.jpg")
    return root


def test_equal_to_disentanglement_lib(root, tmp_path):
    data = get_dataset("scream-dsprites", data_dir=str(root), cache_dir=str(tmp_path))
    assert isinstance(data, ScreamDSprites) and data.factor_sizes == (2, 2, 5, 4, 4)
    assert data.observation_shape == (64, 64, 3) and data.scream.shape == tuple(ORACLE_PAINTING_SHAPE)
    rs = np.random.RandomState(0)
    observations = np.concatenate([data.sample_observations_from_factors(QUERY, rs) for _ in range(2)])
    assert observations.dtype == np.float32 and sha(observations) == ORACLE_QUERY_SHA256
    factors, observations = data.sample(5, np.random.RandomState(3))
    assert factors.tolist() == ORACLE_SAMPLED and sha(observations) == ORACLE_SAMPLED_SHA256
    assert not data.observations_fixed_by_factors  # a patch and a colour drawn per observation


def test_sprite_inverts_the_patch_and_batches(root, tmp_path):
    data = get_dataset("scream-dsprites", data_dir=str(root / "dsprites"), cache_dir=str(tmp_path))
    shapes = data.base.sample_observations_from_factors(QUERY)[..., 0] == 1
    # The same draws as the recolouring: crop, crop, colour per image; rebuild the background.
    rs, check = np.random.RandomState(5), np.random.RandomState(5)
    observations = data.sample_observations_from_factors(QUERY, rs)
    for i, mask in enumerate(shapes):
        x, y = check.randint(0, data.scream.shape[0] - 64), check.randint(0, data.scream.shape[1] - 64)
        background = (data.scream[x : x + 64, y : y + 64] + check.uniform(0, 1, size=3)) / 2
        np.testing.assert_allclose(observations[i][~mask], background[~mask], atol=1e-7)
        np.testing.assert_allclose(observations[i][mask], 1 - background[mask], atol=1e-7)
    batch = data.batch(16, seed=1, index=2)
    assert batch.shape == (16, 64, 64, 3) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, data.batch(16, seed=1, index=2))


def test_painting_missing_or_bad_is_one_line(root, tmp_path):
    folder = tmp_path / "dsprites"
    folder.mkdir()
    os.symlink(root / "dsprites" / DSPRITES, folder / DSPRITES)
    with pytest.raises(ValueError) as info:
        get_dataset("scream-dsprites", data_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "and the painting scream.jpg beside it, in scream/ there or in ../scream/" \
        in message and str(tmp_path) in message
    (folder / "scream.jpg").write_bytes(b"not a picture")
    with pytest.raises(ValueError, match="scream.jpg is not a readable image .* from https://commons.wikimedia"):
        get_dataset("scream-dsprites", data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    write_painting(folder / "scream.jpg", size=(60, 300))
    with pytest.raises(ValueError, match=r"is 55x274 after the thumbnail to 350x274; a 64x64 patch needs more"):
        load_painting(str(folder / "scream.jpg"))


def test_listing_says_the_painting_is_yours(root):
    from hwkeras.cli.datasets import datasets_command

    result = CliRunner().invoke(datasets_command, ["--data-dir", str(root)])
    assert result.exit_code == 0, result.output
    block = result.output.split("\nscream-dsprites ")[1].split("\n\n")[0]
    assert block.lstrip().startswith("FOUND") and "your copy of the painting" in block
    assert "https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg" in block
    assert "the painting's sha256 not known here" in block
