"""Cars3D (Reed et al. 2015, "Deep Visual Analogy-Making") read from its ``*_mesh.mat`` files.

Files: the ``cars/`` folder of Scott Reed's ``nips2015-analogy-data.tar.gz`` (disentanglement_lib's
folder name; ``cars3d/`` is hwkeras's default), 183 MATLAB files ``car_NNN_mesh.mat``, each with an
array ``im`` of shape (H, W, 3, 24, 4) uint8: 24 azimuths by 4 elevations of one car (128x128 in the
published files). As disentanglement_lib's ``cars3d.py``: factors elevation (4), azimuth (24), object
type (183), all latent, image ``i`` at the mixed-radix index (elevation, azimuth, object); the
object type of a file is its position among the ``.mat`` files of the folder. disentanglement_lib
takes them in directory-listing order (``gfile.ListDirectory``, which the file system decides);
hwkeras sorts the names, so object ``k`` is the k-th file by name on every machine. Each view is
``PIL`` ``thumbnail((64, 64), ANTIALIAS)`` (Lanczos) of the RGB image, then ``/ 255``.

Memory: the 17,568 resized images are held as uint8 (216 MB; disentanglement_lib holds them as
float64, 1.7 GB), built by reading one file at a time (4.7 MB each); a batch converts its own rows.
"""

import os

import numpy as np

from hwkeras.data.batching import Indexed
from hwkeras.data.ground_truth import FactorGrid, check_image_size

FACTOR_NAMES = ("elevation", "azimuth", "object_type")
FACTOR_SIZES = (4, 24, 183)
FOLDERS = ("cars3d", "cars")  # hwkeras's default folder, disentanglement_lib's (and the archive's)
PUBLISHER = ("http://www.scottreed.info/ (file: http://www.scottreed.info/files/nips2015-analogy-data.tar.gz, "
             "its data/cars/ folder)")
LAYOUT = "183 car_NNN_mesh.mat files (MATLAB, array im of shape (128, 128, 3, 24, 4) uint8)"


def mat_files(folder):
    """The ``.mat`` files of ``folder`` by name (disentanglement_lib takes every name containing '.mat')."""
    return sorted(name for name in os.listdir(folder) if ".mat" in name and os.path.isfile(os.path.join(folder, name)))


def load_mesh(path):
    """uint8 (96, 64, 64, 3): the 24 x 4 views of one file, elevation varying fastest, resized to 64x64."""
    import scipy.io
    from PIL import Image

    try:
        im = scipy.io.loadmat(path)["im"]
    except KeyError:
        raise ValueError(f"cars3d: {path} has no array im; expected {LAYOUT}") from None
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for a damaged or foreign file
        raise ValueError(f"cars3d: {path} is not a readable MATLAB file ({exc.__class__.__name__}: {exc})") from None
    if im.ndim != 5 or im.shape[2:] != (3, 24, 4) or im.dtype != np.uint8 or im.shape[0] != im.shape[1] \
            or im.shape[0] < 64:
        raise ValueError(f"cars3d: {path} has im of shape {im.shape} and dtype {im.dtype}; "
                         f"expected (H, H, 3, 24, 4) uint8 with H >= 64")
    # (H, W, 3, azimuth, elevation) -> (azimuth, elevation, H, W, 3): row 4 * azimuth + elevation.
    views = np.einsum("abcde->deabc", im).reshape((-1,) + im.shape[:3])
    out = np.empty((len(views), 64, 64, 3), np.uint8)
    for i, view in enumerate(views):
        picture = Image.fromarray(view)
        picture.thumbnail((64, 64), Image.LANCZOS)
        out[i] = np.asarray(picture)
    return out


class Cars3D(Indexed, FactorGrid):
    """The Cars3D folder: ``path`` holds the ``*_mesh.mat`` files (or is one of its parents' roots).

    ``num_objects``: how many files the folder must hold (183 for the published set).
    """

    factor_names = FACTOR_NAMES
    observation_shape = (64, 64, 3)

    def __init__(self, path, image_size=64, num_objects=FACTOR_SIZES[2]):
        check_image_size("cars3d", image_size)
        folder = locate_cars3d(path)
        if folder is None:
            raise ValueError(f"cars3d: expected {LAYOUT} in {path}")
        names = mat_files(folder)
        if len(names) != num_objects:
            raise ValueError(f"cars3d: {folder} holds {len(names)} .mat files; expected {num_objects} "
                             f"(car_001_mesh.mat ... of the archive's data/cars/)")
        self.path, self.files = folder, tuple(names)
        self.factor_sizes = FACTOR_SIZES[:2] + (num_objects,)
        images = np.empty((int(np.prod(self.factor_sizes)), 64, 64, 3), np.uint8)
        views = np.arange(96)
        for k, name in enumerate(names):
            # View v of object k has elevation v % 4 and azimuth v // 4 (the file's order).
            images[self.index_of(np.stack([views % 4, views // 4, np.full(96, k)], axis=1))] = \
                load_mesh(os.path.join(folder, name))
        self._images = images

    def images_at(self, indices):
        """float32 (n, 64, 64, 3): uint8 / 255 in float64, cast (disentanglement_lib's ``* 1. / 255``)."""
        return (self._images[np.asarray(indices, np.int64)] / 255.0).astype(np.float32)


def locate_cars3d(data_dir):
    """The folder at or under ``data_dir`` (also ``cars3d/``, ``cars/``) holding ``*_mesh.mat``, else None."""
    if os.path.isfile(data_dir):
        data_dir = os.path.dirname(data_dir)
    for where in (data_dir,) + tuple(os.path.join(data_dir, f) for f in FOLDERS):
        if os.path.isdir(where) and any(name.endswith("_mesh.mat") for name in os.listdir(where)):
            return where
    return None
