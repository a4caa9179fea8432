"""Shapes3D (Kim & Mnih 2018, "Disentangling by Factorising") read from DeepMind's file or
disentanglement_lib's .npz, through the ground-truth API.

Files (either one):

- ``3dshapes.h5`` as DeepMind publishes it (https://github.com/deepmind/3d-shapes): HDF5 datasets
  ``images`` (480000, 64, 64, 3) uint8 and ``labels`` (480000, 6) float64, the factor values.
  Read lazily with h5py: a batch reads only its own images.
- disentanglement_lib's ``look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz``
  (in its ``3dshapes`` folder): members ``images`` and ``labels``, the images either flat
  (480000, 64, 64, 3) or on the grid (10, 10, 10, 8, 4, 15, 64, 64, 3), labels likewise with a
  trailing axis of 6. An uncompressed member is memory-mapped where it lies in the zip; a
  compressed one is streamed once into an .npy cache beside it (or ``cache_dir``), then
  memory-mapped.

Factors: floor_hue, wall_hue, object_hue, scale, shape, orientation, of sizes (10, 10, 10, 8, 4,
15); image ``i`` has the factors of the mixed-radix index ``i`` (orientation varies fastest), the
order of DeepMind's files and of disentanglement_lib's ``factor_bases``. The loader derives each
factor's values from ``labels`` (distinct values, sorted) and refuses a file whose labels do not
follow that order over a complete grid, so a smaller grid in the same layout loads too. Pixels are
``uint8 / 255`` as float32, disentanglement_lib's preprocessing.
"""

import os
import warnings

import numpy as np

from hwkeras.data.arrays import npz_member_header, npz_member_in_place, npz_member_memmap, npz_members
from hwkeras.data.batching import Indexed
from hwkeras.data.ground_truth import FactorGrid, check_image_size, index_bases

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
H5_FILENAME = "3dshapes.h5"
NPZ_FILENAME = "look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz"
DL_FOLDER = "3dshapes"  # disentanglement_lib's folder under $DISENTANGLEMENT_LIB_DATA
PUBLISHER = "https://github.com/deepmind/3d-shapes"
URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5"
# Of the published 3dshapes.h5. DeepMind states no checksum: the MD5 is the one disent
# (nmichlo/disent, Shapes3dData) records for this URL; the size and SHA-256 are those a third
# party records next to the same MD5. Checked against the file by `sha256sum 3dshapes.h5`.
PUBLISHED_SIZE = 267_573_662
PUBLISHED_MD5 = "099a2078d58cec4daad0702c55d06868"
PUBLISHED_SHA256 = "0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785"
LAYOUT = (f"{H5_FILENAME} (HDF5: images (480000, 64, 64, 3) uint8, labels (480000, 6)) "
          f"or disentanglement_lib's {NPZ_FILENAME} (arrays images, labels)")


class Shapes3DGrid(Indexed, FactorGrid):
    """Factor sampling and indexing shared by the file loader and the procedural renderer."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (64, 64, 3)


class Shapes3D(Shapes3DGrid):
    """The Shapes3D file: ``path`` is ``3dshapes.h5`` or disentanglement_lib's .npz (or a folder holding one)."""

    def __init__(self, path, image_size=64, cache_dir=None):
        check_image_size("shapes3d", image_size)
        located = locate_shapes3d(path) if os.path.isdir(path) else path
        if located is None:
            raise ValueError(f"shapes3d: expected {LAYOUT} in {path}")
        self.path = located
        if located.endswith(".npz"):
            self._images, labels = _open_npz(located, cache_dir)
        else:
            self._images, labels = _open_h5(located)
        try:
            self.factor_sizes, self.factor_values = grid_from_labels(labels, located)
        except ValueError:
            self.close()
            raise
        del labels
        if self.factor_sizes == FACTOR_SIZES and located.endswith(".h5"):
            size = os.path.getsize(located)
            if size != PUBLISHED_SIZE:
                warnings.warn(f"shapes3d: {located} has {size:,} bytes, the published {H5_FILENAME} "
                              f"{PUBLISHED_SIZE:,} (sha256 {PUBLISHED_SHA256}): a re-saved or different file",
                              stacklevel=2)

    def close(self):
        """Closes the HDF5 file (a no-op for an .npz); the dataset cannot read images afterwards."""
        file = getattr(self._images, "file", None)
        if file is not None and hasattr(file, "close"):
            file.close()

    def images_at(self, indices):
        """Float32 images (n, 64, 64, 3) in [0, 1]: the stored uint8 / 255, reading only these rows."""
        indices = np.asarray(indices, np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)  # h5py reads increasing indices only
        rows = np.asarray(self._images[unique] if len(unique) else np.zeros((0, 64, 64, 3), np.uint8))
        return rows[inverse.reshape(-1)].astype(np.float32) / 255.0


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ValueError("shapes3d: reading 3dshapes.h5 needs h5py (pip install h5py)") from None
    return h5py


def _open_h5(path):
    """``(images, labels)``: the h5py dataset of the images (nothing read) and the labels array."""
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"shapes3d: {path} is not a readable HDF5 file ({exc}); expected {LAYOUT}") from None
    missing = [key for key in ("images", "labels") if not isinstance(handle.get(key), h5py.Dataset)]
    if missing:
        has = ", ".join(handle.keys()) or "none"
        handle.close()
        raise ValueError(f"shapes3d: {path} lacks dataset(s) {', '.join(missing)} (it has {has}); expected {LAYOUT}")
    images, labels = handle["images"], handle["labels"]
    try:
        _check_shapes(path, images.shape, images.dtype, labels.shape, labels.dtype)
        try:
            return images, np.asarray(labels[()], np.float64)
        except OSError as exc:  # truncated or corrupt data
            raise ValueError(f"shapes3d: {path}: labels are not readable ({exc})") from None
    except ValueError:
        handle.close()
        raise


def _open_npz(path, cache_dir):
    members = npz_members(path)
    missing = [key for key in ("images", "labels") if key not in members]
    if missing:
        raise ValueError(f"shapes3d: {path} lacks array(s) {', '.join(missing)} "
                         f"(it has {', '.join(members) or 'none'}); expected {LAYOUT}")
    shape, dtype = npz_member_header(path, "images")
    label_shape, label_dtype = npz_member_header(path, "labels")
    leading = len(shape) - 3
    flat = (int(np.prod(shape[:leading], dtype=np.int64)),) + tuple(shape[leading:])
    flat_labels = (int(np.prod(label_shape[:-1], dtype=np.int64)),) + tuple(label_shape[-1:])
    _check_shapes(path, flat, dtype, flat_labels, label_dtype)
    images = npz_member_in_place(path, "images")
    if images is None:
        images = npz_member_memmap(path, "images", cache_dir=cache_dir, leading=leading)
    images = images.reshape(flat)
    with np.load(path, allow_pickle=False) as data:
        labels = np.asarray(data["labels"], np.float64).reshape(flat_labels)
    return images, labels


def _check_shapes(path, shape, dtype, label_shape, label_dtype):
    if len(shape) != 4 or tuple(shape[1:]) != (64, 64, 3) or np.dtype(dtype) != np.uint8:
        raise ValueError(f"shapes3d: {path} has images of shape {tuple(shape)} and dtype {dtype}; "
                         f"expected (N, 64, 64, 3) uint8 ({LAYOUT})")
    if len(label_shape) != 2 or label_shape[1] != 6 or np.dtype(label_dtype).kind not in "uif":
        raise ValueError(f"shapes3d: {path} has labels of shape {tuple(label_shape)} ({label_dtype}); "
                         f"expected (N, 6) numbers ({LAYOUT})")
    if label_shape[0] != shape[0]:
        raise ValueError(f"shapes3d: {path} has {shape[0]} images but {label_shape[0]} labels")


def grid_from_labels(labels, source=""):
    """``(factor_sizes, factor_values)`` of labels that enumerate a complete grid in index order.

    Each column's distinct values (told apart at 6 decimals) are that factor's values; row ``i`` must
    carry the factors of the mixed-radix index ``i`` (the last column varying fastest), else
    ValueError. Works a column at a time: a few arrays of one int64 per image besides the labels.
    """
    labels = np.asarray(labels, np.float64)
    values, classes = [], []
    for column in labels.T:
        _, first, inverse = np.unique(np.round(column, 6), return_index=True, return_inverse=True)
        values.append(column[first])  # the stored values, not their rounding
        classes.append(inverse.reshape(-1))
    sizes = tuple(len(v) for v in values)
    if int(np.prod(sizes)) == len(labels):
        index = np.zeros(len(labels), np.int64)
        for base, factor in zip(index_bases(sizes), classes):
            index += base * factor
        if np.array_equal(index, np.arange(len(labels))):
            return sizes, tuple(values)
    raise ValueError(f"shapes3d: {source}: labels do not enumerate a complete grid in the order "
                     f"{', '.join(FACTOR_NAMES)} (orientation varying fastest); found {sizes} distinct values "
                     f"for {len(labels)} images")


def locate_shapes3d(data_dir):
    """The Shapes3D file at or in ``data_dir`` (also in its ``3dshapes`` sub-folder), else None."""
    if os.path.isfile(data_dir):
        return data_dir
    for folder in (data_dir, os.path.join(data_dir, DL_FOLDER)):
        for name in (H5_FILENAME, NPZ_FILENAME):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
    return None
