"""MPI3D toy, realistic and real (Gondal et al. 2019) read from the published .npz, memory-mapped.

Files: ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz`` (the names disentanglement_lib
gives them, in its folders ``mpi3d_toy/`` ...), one array ``images`` (N, 64, 64, 3) uint8 whose row
``i`` has the factors of the mixed-radix index ``i`` (second_dof varying fastest); a plain ``.npy``
of that array (``mpi3d_toy.npy``) loads too. Factors: object_color, object_shape, object_size,
camera_height, background_color, first_dof, second_dof, all latent, as disentanglement_lib's
``MPI3D``. Their sizes follow the file: 460,800 images are the (4, 4, 2, 3, 3, 40, 40) grid that
disentanglement_lib states for toy and realistic (its download script's
``sim_toy_64x_ordered_without_heldout_factors.npz``); 1,036,800 images are (6, 6, 2, 3, 3, 40, 40),
its grid for real and the one the publisher's README states for all three of its current
``Final_Dataset`` files. Pixels are ``uint8 / 255``.

Memory: ``np.savez`` stores ``images.npy`` uncompressed inside the zip, so its bytes are memory-mapped
where they lie (the local file header gives the offset): opening reads a few hundred bytes and a
batch pages in only its own images. A compressed member cannot be mapped and would need the whole
array in memory (12.7 GB for real), so it is refused with the fix: re-save with ``np.savez`` or
unzip ``images.npy``.
"""

import os
import zipfile

import numpy as np

from hwkeras.data.arrays import npy_header, npz_member_header, npz_member_in_place, npz_members
from hwkeras.data.batching import Indexed
from hwkeras.data.checksums import Published, check_published
from hwkeras.data.ground_truth import FactorGrid, check_image_size

VARIANTS = ("toy", "realistic", "real")
FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height", "background_color",
                "first_dof", "second_dof")
# disentanglement_lib's mpi3d.py: [4, 4, 2, 3, 3, 40, 40] for toy and realistic, 6 colours and 6 shapes for real.
GRIDS = {460_800: (4, 4, 2, 3, 3, 40, 40), 1_036_800: (6, 6, 2, 3, 3, 40, 40)}
PUBLISHER = "https://github.com/rr-learning/disentanglement_dataset"
URL = "https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/mpi3d_{}.npz"
# The publisher states no checksum and none could be computed here (no download). disent
# (nmichlo/disent, Mpi3dData) records these MD5s for the URLs above; they are shown, not checked.
THIRD_PARTY_MD5 = {"toy": "55889cb7c7dfc655d6e0277beee88868", "realistic": "59a6225b88b635365f70c91b3e52f70f",
                   "real": "0f33f609918fb5c97996692f91129802"}
PUBLISHED = {variant: Published() for variant in VARIANTS}


def filename(variant):
    return f"mpi3d_{variant}.npz"


def folder(variant):
    """disentanglement_lib's folder under $DISENTANGLEMENT_LIB_DATA."""
    return f"mpi3d_{variant}"


def layout(variant):
    return (f"{filename(variant)} (np.savez: images (N, 64, 64, 3) uint8 in factor order, "
            f"N = 460,800 or 1,036,800) or mpi3d_{variant}.npy")


class MPI3D(Indexed, FactorGrid):
    """One MPI3D file. ``path``: the .npz or .npy, or the folder holding it."""

    factor_names = FACTOR_NAMES
    observation_shape = (64, 64, 3)

    def __init__(self, path, variant="toy", image_size=64):
        if variant not in VARIANTS:
            raise ValueError(f"mpi3d: unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        name = f"mpi3d-{variant}"
        check_image_size(name, image_size)
        located = locate_mpi3d(path, variant)
        if located is None:
            raise ValueError(f"{name}: expected {layout(variant)} in {path}")
        self.path, self.variant = located, variant
        self._images = _open_images(name, located, variant)
        self.factor_sizes = GRIDS[len(self._images)]
        check_published(name, located, PUBLISHED[variant])

    def images_at(self, indices):
        """float32 (n, 64, 64, 3): the stored uint8 / 255 in float64, cast (disentanglement_lib's ``/ 255.``)."""
        indices = np.asarray(indices, np.int64)
        order = np.argsort(indices, kind="stable")
        rows = np.empty((len(indices), 64, 64, 3), np.uint8)
        rows[order] = self._images[indices[order]]  # increasing offsets: sequential reads of the map
        return (rows / 255.0).astype(np.float32)


def _open_images(name, path, variant):
    """The images as a read-only memory map, after checking layout, shape and dtype."""
    if path.endswith(".npy"):
        try:
            shape, dtype = npy_header(path)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{name}: {path} is not a readable .npy file ({exc})") from None
        _check_shape(name, path, shape, dtype)
        if os.path.getsize(path) < _nbytes(shape, dtype):
            raise ValueError(f"{name}: {path} is truncated: its header says {tuple(shape)} but the file is "
                             f"{os.path.getsize(path):,} bytes")
        return np.load(path, mmap_mode="r")
    try:
        members = npz_members(path)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if "images" not in members:
        raise ValueError(f"{name}: {path} lacks the array images (it has {', '.join(members) or 'none'}); "
                         f"expected {layout(variant)}")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("images.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{name}: {path} stores images.npy compressed, which cannot be memory-mapped; "
                         f"re-save it with np.savez (uncompressed) or unzip images.npy next to it as "
                         f"mpi3d_{variant}.npy")
    try:
        shape, dtype = npz_member_header(path, "images")
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{name}: {path}: the images header is not readable ({exc})") from None
    _check_shape(name, path, shape, dtype)
    images = npz_member_in_place(path, "images")
    if images is None:
        raise ValueError(f"{name}: {path}: images.npy does not lie whole inside the file (truncated?); "
                         f"expected {_nbytes(shape, dtype):,} bytes of images")
    return images


def _nbytes(shape, dtype):
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _check_shape(name, path, shape, dtype):
    if len(shape) != 4 or tuple(shape[1:]) != (64, 64, 3) or np.dtype(dtype) != np.uint8 or shape[0] not in GRIDS:
        raise ValueError(f"{name}: {path} has images of shape {tuple(shape)} and dtype {dtype}; expected "
                         f"(460800 or 1036800, 64, 64, 3) uint8")


def locate_mpi3d(data_dir, variant):
    """The file at or in ``data_dir`` (also its ``mpi3d_<variant>/`` sub-folder): .npz first, else None."""
    if os.path.isfile(data_dir):
        return data_dir
    for where in (data_dir, os.path.join(data_dir, folder(variant))):
        for name in (filename(variant), f"mpi3d_{variant}.npy"):
            candidate = os.path.join(where, name)
            if os.path.isfile(candidate):
                return candidate
    return None
