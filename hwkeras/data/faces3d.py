"""3D Faces: renders of the Basel face model (Paysan et al. 2009) as used by disentanglement papers.

Input: one array of 64x64 renders in a ``.npy`` (memory-mapped) or ``.npz`` (its member is
streamed once into an .npy cache next to it, then memory-mapped). ``data_dir`` is the file or
a folder holding exactly one such file. In an .npz the array is ``images``, ``imgs`` or the only
member. Pixels: uint8 0..255, or floats in [0, 1].

- Shape (identity, azimuth, elevation, lighting, 64, 64[, C]), e.g. (50, 21, 11, 11, 64, 64)
  for the renders used by beta-VAE and its successors: a grid, so the dataset has ground-truth
  factors (``Faces3D``, a ``GroundTruthData``) with the four leading axes as factor sizes;
  image i of the flattened array has the factors of the mixed-radix index i.
- Any (N, 64, 64[, C]) array: images without factors (``ArrayImages``).
"""

import glob
import os

import numpy as np

from hwkeras.data.arrays import npy_header, npz_member_header, npz_member_memmap, npz_members
from hwkeras.data.dsprites import index_bases
from hwkeras.data.ground_truth import GroundTruthData, as_random_state
from hwkeras.data.image_dataset import ArrayImages, ArrayRows

FACTOR_NAMES = ("identity", "azimuth", "elevation", "lighting")
FACTOR_SIZES = (50, 21, 11, 11)
ARRAY_KEYS = ("images", "imgs")
LAYOUT = "one .npy/.npz array of 64x64 renders, (50, 21, 11, 11, 64, 64) with factors or (N, 64, 64) without"


def locate_faces3d(data_dir):
    """The array file at ``data_dir``, or in it: the one whose name has "face", else the only one."""
    if os.path.isfile(data_dir):
        return data_dir
    files = sorted(glob.glob(os.path.join(data_dir, "*.npy")) + glob.glob(os.path.join(data_dir, "*.npz")))
    faces = [f for f in files if "face" in os.path.basename(f).lower()]
    if len(faces) == 1:
        return faces[0]
    # Never mistake dSprites (same folder as the faces in some setups) for faces.
    others = [f for f in files if not os.path.basename(f).startswith("dsprites")]
    return others[0] if len(others) == 1 and not faces else None


class Faces3D(ArrayRows, GroundTruthData):
    """3D faces on the (identity, azimuth, elevation, lighting) grid: ``images[i, j, k, l]``."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observations_fixed_by_factors = True  # images[i, j, k, l]

    def __init__(self, images, source=""):
        self.source = source
        self.factor_sizes = tuple(int(s) for s in images.shape[:4])
        self.images = images.reshape((-1,) + images.shape[4:])  # a view of the memory map, no copy
        self.observation_shape = tuple(self.images.shape[1:3]) + (
            (self.images.shape[3],) if self.images.ndim == 4 else (1,))

    def sample_factors(self, num, random_state):
        rs = as_random_state(random_state)
        return np.stack([rs.randint(size, size=num) for size in self.factor_sizes], axis=1).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state=None):
        factors = np.asarray(factors, np.int64)
        sizes = self.factor_sizes
        if factors.ndim != 2 or factors.shape[1] != 4 or np.any(factors < 0) or np.any(factors >= sizes):
            raise ValueError(f"factors must be integer rows (n, 4) within {sizes}")
        return self.images_at(factors @ index_bases(sizes))


def open_faces3d(data_dir, image_size=64, cache_dir=None):
    """``Faces3D`` when the array has the factor grid's shape, else factorless ``ArrayImages``."""
    path = locate_faces3d(data_dir)
    if path is None:
        raise ValueError(f"faces3d: expected {LAYOUT} in {data_dir}")
    if path.endswith(".npz"):
        members = npz_members(path)
        keys = [k for k in ARRAY_KEYS if k in members] or (members if len(members) == 1 else [])
        if not keys:
            raise ValueError(f"faces3d: {path} has arrays {', '.join(members) or 'none'}; expected one "
                             f"named {' or '.join(ARRAY_KEYS)} ({LAYOUT})")
        shape, dtype = npz_member_header(path, keys[0])
    elif path.endswith(".npy"):
        shape, dtype = npy_header(path)
    else:
        raise ValueError(f"faces3d: {path} is neither .npy nor .npz; expected {LAYOUT}")
    grid = len(shape) in (6, 7)
    image_shape = tuple(shape[4 if grid else 1:])
    channels_ok = len(image_shape) == 2 or (len(image_shape) == 3 and image_shape[2] in (1, 3))
    if image_shape[:2] != (64, 64) or not channels_ok:
        raise ValueError(f"faces3d: {path} holds an array of shape {tuple(shape)}; expected {LAYOUT}")
    if dtype.kind not in "uifb":
        raise ValueError(f"faces3d: {path} holds {dtype} values; expected uint8 or floats in [0, 1]")
    if int(image_size) != 64:
        raise ValueError(f"faces3d renders are 64x64; got image_size={image_size} (use 64)")
    if path.endswith(".npz"):
        images = npz_member_memmap(path, keys[0], cache_dir=cache_dir)
    else:
        images = np.load(path, mmap_mode="r")
    _check_range(path, images)
    if grid:
        return Faces3D(images, source=path)
    dataset = ArrayImages(images, name="faces3d")
    dataset.source = path
    return dataset


def _check_range(path, images):
    """Floats must already be in [0, 1]: a 0..255 float array would train on saturated pixels."""
    if images.dtype.kind == "f":
        peak = float(np.max(np.asarray(images.reshape(-1)[: 1 << 20])))
        if peak > 1.0 + 1e-6:
            raise ValueError(f"faces3d: {path} holds floats up to {peak:g}; expected values in [0, 1] "
                             f"(or uint8 0..255)")
