"""Datasets without ground-truth factors (CelebA, 3D Chairs, 3D Faces without a factor grid).

They offer what training and pictures need (``observation_shape``, ``batches``,
``sample_observations``) and ``factor_sizes = ()``: the metrics' ``check_ground_truth_data``
refuses them with a clear message instead of failing somewhere inside a metric.
"""

import warnings

import numpy as np

from hwkeras.data.batching import Batched, Indexed
from hwkeras.data.ground_truth import as_random_state


class SkippedFilesWarning(UserWarning):
    """Some image files could not be decoded and were left out of the dataset."""


class ImageDataset(Batched):
    """Base class: images only. Subclasses set ``observation_shape`` and implement the two methods."""

    name = "images"
    factor_sizes = ()
    factor_names = ()
    #: Shape of one image, ``(height, width, channels)``; pixels are float32 in [0, 1].
    observation_shape = ()

    @property
    def num_factors(self):
        return 0

    def sample_observations(self, num, random_state):
        """``num`` images drawn uniformly (with replacement), float32 in [0, 1]."""
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}: {len(self)} images of {self.observation_shape}>"


def to_float_images(rows):
    """uint8 (0..255), bool or float ([0, 1]) rows -> float32 (n, H, W, C) in [0, 1]."""
    rows = np.asarray(rows)
    if rows.ndim == 3:
        rows = rows[..., None]
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) / np.float32(255.0)
    return np.clip(rows.astype(np.float32), 0.0, 1.0)


class ArrayRows(Indexed):
    """Training batches and gathering for images held in ``self.images`` (N, H, W[, C])."""

    images = None

    def __len__(self):
        return len(self.images)

    def images_at(self, indices):
        indices = np.asarray(indices, np.int64)
        order = np.argsort(indices, kind="stable")
        rows = np.empty((len(indices),) + self.images.shape[1:], self.images.dtype)
        rows[order] = self.images[indices[order]]  # sorted reads are friendlier to a memory map
        return to_float_images(rows)


class ArrayImages(ArrayRows, ImageDataset):
    """Factorless images held in an array (often a read-only memory map) of shape (N, H, W[, C])."""

    def __init__(self, images, name="images"):
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ValueError(f"{name}: expected a non-empty (N, H, W[, C]) image array, got shape {images.shape}")
        self.name = name
        self.images = images
        self.observation_shape = tuple(images.shape[1:3]) + ((images.shape[3],) if images.ndim == 4 else (1,))

    def sample_observations(self, num, random_state):
        return self.images_at(as_random_state(random_state).randint(len(self), size=num))


def warn_skipped(name, num_skipped, num_files, examples=()):
    """One warning that counts the files left out (and names a few)."""
    if num_skipped <= 0:
        return
    shown = ", ".join(str(e) for e in list(examples)[:3])
    detail = f" (e.g. {shown})" if shown else ""
    warnings.warn(
        SkippedFilesWarning(
            f"{name}: skipped {num_skipped} of {num_files} image files that could not be decoded{detail}"
        ),
        stacklevel=2,
    )
