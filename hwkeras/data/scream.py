"""Scream-dSprites (Locatello et al. 2019): dSprites on a random patch of Munch's *The Scream*.

As disentanglement_lib's ``ScreamDSprites([1, 2, 3, 4, 5])`` (``data/ground_truth/dsprites.py``): the
painting, the user's own copy (``scream.jpg``; disentanglement_lib's script fetches
https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg), is opened with PIL and
shrunk once with ``thumbnail((350, 274))`` (PIL's defaults: bicubic, and for a JPEG the decoder's
draft scaling), then ``/ 255``. Each observation draws, after the factors and from the same
``random_state``: ``x = randint(0, H - 64)``, ``y = randint(0, W - 64)``, a colour
``uniform(0, 1, size=3)``; the background is ``(painting[x:x+64, y:y+64] + colour) / 2`` and the
sprite's pixels are that background inverted (``1 - background``). So, given the same
``np.random.RandomState``, the observations are disentanglement_lib's cast to float32 (with the
same Pillow: its resampling decides the painting's pixels).

The painting is looked for as ``scream.jpg`` beside the dSprites file, in ``scream/`` there, or in
``scream/`` next to the dSprites folder (disentanglement_lib's ``$DISENTANGLEMENT_LIB_DATA/scream/``).
"""

import os

import numpy as np

from hwkeras.data.dsprites import locate_dsprites
from hwkeras.data.dsprites_variants import DSpritesVariant

FILENAME = "scream.jpg"
PUBLISHER = ("https://commons.wikimedia.org/wiki/File:The_Scream.jpg (file: "
             "https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg)")
THUMBNAIL = (350, 274)


def painting_places(dsprites_file):
    """Where ``scream.jpg`` is looked for, given the dSprites file, in order."""
    folder = os.path.dirname(os.path.abspath(dsprites_file))
    return [os.path.join(folder, FILENAME), os.path.join(folder, "scream", FILENAME),
            os.path.join(os.path.dirname(folder), "scream", FILENAME)]


def locate_painting(dsprites_file):
    return next((p for p in painting_places(dsprites_file) if os.path.isfile(p)), None)


def locate_scream_dsprites(data_dir):
    """The dSprites file at or in ``data_dir`` if the painting is found beside it, else None."""
    npz = locate_dsprites(data_dir)
    return npz if npz is not None and locate_painting(npz) is not None else None


def load_painting(path):
    """float64 (H, W, 3) in [0, 1]: the painting after ``thumbnail((350, 274))``, as disentanglement_lib."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.thumbnail(THUMBNAIL)  # before any conversion: a JPEG is then decoded at reduced scale
            if image.mode != "RGB":
                image = image.convert("RGB")
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"scream-dsprites: {path} is not a readable image ({exc}); expected the painting "
                         f"{FILENAME} from {PUBLISHER}") from None
    if pixels.shape[0] <= 64 or pixels.shape[1] <= 64:
        raise ValueError(f"scream-dsprites: {path} is {pixels.shape[1]}x{pixels.shape[0]} after the thumbnail to "
                         f"{THUMBNAIL[0]}x{THUMBNAIL[1]}; a 64x64 patch needs more than 64 pixels each way")
    return pixels * 1.0 / 255.0


class ScreamDSprites(DSpritesVariant):
    """dSprites on a random patch of the painting, the sprite drawn by inverting the patch."""

    def __init__(self, base, painting_path):
        super().__init__(base)
        self.painting_path = painting_path
        self.scream = load_painting(painting_path)

    def recolour(self, shapes, random_state):
        observations = np.repeat(shapes, 3, axis=3)
        height, width = self.scream.shape[:2]
        for i in range(len(observations)):
            x = random_state.randint(0, height - 64)
            y = random_state.randint(0, width - 64)
            background = (self.scream[x:x + 64, y:y + 64] + random_state.uniform(0, 1, size=3)) / 2.0
            mask = observations[i] == 1
            background[mask] = 1 - background[mask]
            observations[i] = background
        return observations.astype(np.float32)
