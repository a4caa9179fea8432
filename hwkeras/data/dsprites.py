"""dSprites (Matthey et al. 2017) read from the official .npz, through the ground-truth API.

File: ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` with arrays ``imgs`` (737280, 64, 64)
uint8 in {0, 1}, ``latents_values`` and ``latents_classes`` (737280, 6) and a pickled
``metadata`` dict (Python 2 pickle: loaded with ``allow_pickle=True, encoding="latin1"``).
Latents: color (1), shape (3), scale (6), orientation (40), posX (32), posY (32); the factors
are those with more than one value, so index = 245760*shape + 40960*scale + 1024*orientation
+ 32*posX + posY, the mixed-radix number the file's ordering encodes.

Memory: ``imgs`` is streamed once into an .npy cache of bit-packed rows (8 pixels a byte:
737280 x 512 bytes = 377 MB instead of 3 GB), memory-mapped read-only; a batch unpacks only
its own rows. The cache goes next to the .npz (or ``cache_dir``, or ``~/.cache/hwkeras``).
"""

import os

import numpy as np

from hwkeras.data.arrays import npz_member_header, npz_member_memmap, npz_members
from hwkeras.data.batching import Indexed
from hwkeras.data.ground_truth import FactorGrid, check_image_size, index_bases  # noqa: F401 - index_bases re-exported

FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
REQUIRED_ARRAYS = ("imgs", "latents_classes", "latents_values", "metadata")
LAYOUT = f"{FILENAME} (arrays imgs, latents_values, latents_classes, metadata)"

# The official grid, as in the file's metadata['latents_possible_values'] (shape is 1, 2, 3 for
# square, ellipse, heart). Shared with the procedural renderer.
FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
FACTOR_VALUES = (
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2.0 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)


class DSpritesGrid(Indexed, FactorGrid):
    """Factor sampling and indexing shared by the file loader and the procedural renderer."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (64, 64, 1)

    def images_at(self, indices):
        """Images at flat indices, float32 (n, 64, 64, 1) in {0, 1}; training epochs visit each once."""
        raise NotImplementedError


class DSprites(DSpritesGrid):
    """The official dSprites file. ``path``: the .npz or the folder holding it."""

    def __init__(self, path, image_size=64, cache_dir=None):
        check_image_size("dsprites", image_size)
        self.path = path
        members = npz_members(path)
        missing = [key for key in REQUIRED_ARRAYS if key not in members]
        if missing:
            raise ValueError(
                f"dsprites: {path} lacks array(s) {', '.join(missing)} (it has {', '.join(members) or 'none'}); "
                f"expected {LAYOUT}"
            )
        metadata = _load_metadata(path)
        sizes = np.asarray(metadata["latents_sizes"], np.int64)
        names = [_as_str(n) for n in metadata.get("latents_names", [f"latent{i}" for i in range(len(sizes))])]
        shape, _ = npz_member_header(path, "imgs")
        if tuple(shape[1:]) != (64, 64) or shape[0] != int(np.prod(sizes)):
            raise ValueError(
                f"dsprites: {path} has imgs of shape {tuple(shape)}, but metadata latents_sizes "
                f"{sizes.tolist()} needs ({int(np.prod(sizes))}, 64, 64)"
            )
        classes = np.load(path, allow_pickle=False)["latents_classes"]
        if classes.shape != (shape[0], len(sizes)) or np.any(classes @ index_bases(sizes) != np.arange(shape[0])):
            # The whole API rests on image i having the factors of the mixed-radix index i.
            raise ValueError(f"dsprites: {path}: latents_classes do not follow the index order of latents_sizes")
        # Factors are the latents that vary (colour has a single value).
        self._latent_sizes = sizes
        self._varying = np.flatnonzero(sizes > 1)
        self.factor_sizes = tuple(int(s) for s in sizes[self._varying])
        self.factor_names = tuple(names[i] for i in self._varying)
        values = metadata.get("latents_possible_values", {})
        self.factor_values = tuple(np.asarray(values.get(n, np.arange(s)), np.float64)
                                   for n, s in zip(self.factor_names, self.factor_sizes))
        self._packed = npz_member_memmap(path, "imgs", cache_dir=cache_dir, transform=_pack_rows, tag="packbits")

    def images_at(self, indices):
        indices = np.asarray(indices, np.int64)
        order = np.argsort(indices, kind="stable")
        packed = np.empty((len(indices), self._packed.shape[1]), np.uint8)
        packed[order] = self._packed[indices[order]]  # sorted reads are friendlier to the page cache
        bits = np.unpackbits(packed, axis=1, count=64 * 64)
        return bits.reshape(-1, 64, 64, 1).astype(np.float32)


def _pack_rows(rows):
    """(n, 64, 64) images -> (n, 512) bytes; any non-zero pixel counts as on."""
    return np.packbits(rows.reshape(len(rows), -1) != 0, axis=1)


def _load_metadata(path):
    try:
        with np.load(path, allow_pickle=True, encoding="latin1") as data:
            metadata = data["metadata"][()]
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a foreign file
        raise ValueError(f"dsprites: {path}: metadata is not readable ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(metadata, dict) or "latents_sizes" not in metadata:
        raise ValueError(f"dsprites: {path}: metadata is not a dict with latents_sizes; expected {LAYOUT}")
    return metadata


def _as_str(name):
    return name.decode("latin1") if isinstance(name, bytes) else str(name)


def locate_dsprites(data_dir):
    """The .npz inside ``data_dir`` (or ``data_dir`` itself if it is a file), else None."""
    if os.path.isfile(data_dir):
        return data_dir
    candidate = os.path.join(data_dir, FILENAME)
    return candidate if os.path.isfile(candidate) else None
