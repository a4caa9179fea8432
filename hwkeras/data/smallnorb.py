"""SmallNORB (LeCun et al. 2004) read from NYU's binary matrix files, as disentanglement_lib reads it.

Files (both chunks, uncompressed: NYU serves them gzipped, disentanglement_lib's script gunzips them):
``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and
``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat``. Each is a binary matrix: int32
little-endian magic number (0x1E3D4C55 bytes, 0x1E3D4C54 int32), int32 ndim, max(3, ndim) int32 dims
(unused ones are 1), then the data in C order. ``dat`` is (24300, 2, 96, 96) bytes (a stereo pair
per row; camera 0 is used), ``cat`` (24300,) the category, ``info`` (24300, 4) instance, elevation,
azimuth (0, 2, ..., 34) and lighting.

As disentanglement_lib's ``norb.py``: the rows of the training then the testing chunk make 48,600
images; a row's factors are (category, instance, elevation, azimuth / 2, lighting), sizes (5, 10, 9,
18, 6); the latent factors are (0, 2, 3, 4), so ``factor_sizes`` is (5, 9, 18, 6) and
``sample_observations_from_factors`` draws the instance with ``random_state.randint(10, size=n)``
after the factors, as its ``SplitDiscreteStateSpace`` does. Images: camera 0 resized to 64x64 with
PIL's Lanczos filter on a 32-bit integer image (disentanglement_lib passes the int8-typed bytes to
``PIL.Image.fromarray``, which makes mode "I" reading them unsigned), rounded, then ``/ 255`` (values
can leave [0, 1] by a few 1/255 where Lanczos overshoots, as they do there).

Memory: the ``dat`` files are memory-mapped (448 MB each on disk); a batch resizes only its own
images, so nothing of the size of the dataset is held (disentanglement_lib holds 1.6 GB of float64).
"""

import os

import numpy as np

from hwkeras.data.batching import Indexed
from hwkeras.data.checksums import Published, check_published
from hwkeras.data.ground_truth import FactorGrid, GroundTruthData, check_image_size, index_bases

CHUNKS = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
PARTS = ("dat", "cat", "info")
TEMPLATE = "smallnorb-{}-{}.mat"
FILES = tuple(TEMPLATE.format(chunk, part) for chunk in CHUNKS for part in PARTS)
FOLDERS = ("smallnorb", "small_norb")  # hwkeras's default folder, disentanglement_lib's
FULL_FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
FULL_FACTOR_SIZES = (5, 10, 9, 18, 6)
LATENT_FACTOR_INDICES = (0, 2, 3, 4)  # the instance is not a latent factor
MAGIC = {0x1E3D4C55: np.dtype(np.uint8), 0x1E3D4C54: np.dtype("<i4"), 0x1E3D4C51: np.dtype("<f4"),
         0x1E3D4C53: np.dtype("<f8"), 0x1E3D4C56: np.dtype("<i2")}
PUBLISHER = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (the six .mat.gz files; gunzip them)"
PUBLISHED = {name: Published() for name in FILES}  # NYU states no sizes or sums for the .mat files
LAYOUT = ("the six smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat and "
          "smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat (NORB binary matrices, gunzipped)")


def read_header(path):
    """``(dtype, dims, offset)`` of a NORB binary matrix file, checked against the file's size."""
    with open(path, "rb") as handle:
        head = handle.read(20)
        if len(head) < 8:
            raise ValueError(f"smallnorb: {path} is too short for a NORB binary matrix header ({len(head)} bytes)")
        magic, ndim = np.frombuffer(head[:8], "<i4")
        magic, ndim = int(magic) & 0xFFFFFFFF, int(ndim)
        if magic not in MAGIC or not 0 < ndim <= 16:
            raise ValueError(f"smallnorb: {path} is not a NORB binary matrix (magic 0x{magic:08X}, ndim {ndim})")
        stored = max(3, ndim)  # at least 3 dims are stored, the unused ones being 1
        handle.seek(8)
        raw = handle.read(4 * stored)
    if len(raw) < 4 * stored:
        raise ValueError(f"smallnorb: {path} is truncated inside its header")
    dims = tuple(int(d) for d in np.frombuffer(raw, "<i4")[:ndim])
    dtype, offset = MAGIC[magic], 8 + 4 * stored
    expected = offset + dtype.itemsize * int(np.prod(dims, dtype=np.int64))
    size = os.path.getsize(path)
    if min(dims) < 0 or size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise ValueError(f"smallnorb: {path} is {what}: header {dtype} {dims} needs {expected:,} bytes, "
                         f"the file has {size:,}")
    return dtype, dims, offset


def read_matrix(path, expect_dtype, expect_dims, mmap=False):
    """The matrix of a NORB file, checked for dtype and dims (``None`` in ``expect_dims``: any)."""
    dtype, dims, offset = read_header(path)
    if dtype != expect_dtype or len(dims) != len(expect_dims) or any(
            want is not None and got != want for got, want in zip(dims, expect_dims)):
        shown = str(tuple(-1 if d is None else d for d in expect_dims)).replace("-1", "N")
        raise ValueError(f"smallnorb: {path} holds {dtype} {dims}; expected {np.dtype(expect_dtype)} {shown}")
    if mmap:
        return np.memmap(path, dtype, mode="r", offset=offset, shape=dims)
    return np.fromfile(path, dtype, offset=offset).reshape(dims)


def resize(images):
    """(n, 96, 96) bytes -> float32 (n, 64, 64): Lanczos on a 32-bit integer image, then / 255 in float64."""
    from PIL import Image

    out = np.empty((len(images), 64, 64), np.float64)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(np.asarray(image, np.int32)).resize((64, 64), Image.LANCZOS))
    return (out / 255.0).astype(np.float32)


class SmallNORB(Indexed, GroundTruthData):
    """SmallNORB's 48,600 images. ``path``: the folder holding the six .mat files."""

    factor_names = tuple(FULL_FACTOR_NAMES[i] for i in LATENT_FACTOR_INDICES)
    factor_sizes = tuple(FULL_FACTOR_SIZES[i] for i in LATENT_FACTOR_INDICES)
    observation_shape = (64, 64, 1)
    full_factor_sizes = FULL_FACTOR_SIZES
    latent_factor_indices = LATENT_FACTOR_INDICES

    def __init__(self, path, image_size=64):
        check_image_size("smallnorb", image_size)
        folder = locate_smallnorb(path) or path
        missing = [name for name in FILES if not os.path.isfile(os.path.join(folder, name))]
        if missing:
            gz = [name for name in missing if os.path.isfile(os.path.join(folder, name + ".gz"))]
            fix = f"; gunzip {', '.join(n + '.gz' for n in gz)}" if gz else f"; get them from {PUBLISHER}"
            raise ValueError(f"smallnorb: {folder} lacks {', '.join(missing)}{fix}")
        self.path = folder
        images, features = [], []
        for chunk in CHUNKS:
            paths = {part: os.path.join(folder, TEMPLATE.format(chunk, part)) for part in PARTS}
            dat = read_matrix(paths["dat"], np.uint8, (None, 2, 96, 96), mmap=True)
            cat = read_matrix(paths["cat"], np.dtype("<i4"), (len(dat),))
            info = read_matrix(paths["info"], np.dtype("<i4"), (len(dat), 4))
            images.append(dat)
            features.append(np.column_stack((cat, info)).astype(np.int64))
            for part, where in paths.items():
                check_published("smallnorb", where, PUBLISHED[TEMPLATE.format(chunk, part)])
        self._dat = images
        self._starts = np.cumsum([0] + [len(d) for d in images])
        features = np.concatenate(features)
        if np.any(features[:, 3] % 2):
            raise ValueError(f"smallnorb: {folder}: the info files hold odd azimuths; expected 0, 2, ..., 34")
        features[:, 3] //= 2  # azimuth values are 0, 2, ..., 34: halved onto the grid 0..17
        self.features = features
        self._rows = _lookup(features, folder)

    def __len__(self):
        return int(self._starts[-1])

    def sample_factors(self, num, random_state):
        return FactorGrid.sample_factors(self, num, random_state)  # one randint per latent factor

    def sample_observations_from_factors(self, factors, random_state):
        """Images of latent factors; the instance is drawn from ``random_state`` after them."""
        from hwkeras.data.ground_truth import as_random_state

        factors = np.asarray(factors, np.int64)
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(f"factors must have shape (n, {len(self.factor_sizes)}), got {factors.shape}")
        if np.any(factors < 0) or np.any(factors >= np.array(self.factor_sizes)):
            raise ValueError(f"factor indices out of range for sizes {self.factor_sizes}")
        full = np.zeros((len(factors), len(FULL_FACTOR_SIZES)), np.int64)
        full[:, list(LATENT_FACTOR_INDICES)] = factors
        full[:, 1] = as_random_state(random_state).randint(FULL_FACTOR_SIZES[1], size=len(factors))
        return self.images_at(self.rows_of(full))

    def rows_of(self, full_factors):
        """Rows (training chunk first) of full factor rows (category, instance, elevation, azimuth, lighting)."""
        return self._rows[np.asarray(full_factors, np.int64) @ index_bases(FULL_FACTOR_SIZES)]

    def images_at(self, rows):
        """float32 (n, 64, 64, 1) of rows 0..48599, each resized from camera 0 when asked for."""
        rows = np.asarray(rows, np.int64)
        raw = np.empty((len(rows), 96, 96), np.uint8)
        chunk = np.searchsorted(self._starts, rows, side="right") - 1
        for k, dat in enumerate(self._dat):
            chosen = np.flatnonzero(chunk == k)
            order = chosen[np.argsort(rows[chosen], kind="stable")]  # increasing offsets in the map
            raw[order] = dat[rows[order] - self._starts[k], 0]
        return resize(raw)[..., None]


def _lookup(features, folder):
    """Row of each point of the full grid; every point must occur exactly once."""
    sizes = np.array(FULL_FACTOR_SIZES)
    if np.any(features < 0) or np.any(features >= sizes):
        raise ValueError(f"smallnorb: {folder}: cat/info values out of range for the grid {FULL_FACTOR_SIZES} "
                         f"(after halving the azimuth)")
    index = features @ index_bases(FULL_FACTOR_SIZES)
    count = int(np.prod(sizes))
    if len(index) != count or len(np.unique(index)) != count:
        raise ValueError(f"smallnorb: {folder}: the two chunks' {len(index)} rows do not cover the "
                         f"{count}-point grid {FULL_FACTOR_SIZES} once each")
    rows = np.zeros(count, np.int64)
    rows[index] = np.arange(count)
    return rows


def locate_smallnorb(data_dir):
    """The folder at or under ``data_dir`` (also ``smallnorb/``, ``small_norb/``) holding a SmallNORB
    file (plain or .gz), else None; the loader then names any file that is missing."""
    if os.path.isfile(data_dir):
        data_dir = os.path.dirname(data_dir)
    for where in (data_dir,) + tuple(os.path.join(data_dir, f) for f in FOLDERS):
        if any(os.path.isfile(os.path.join(where, n)) or os.path.isfile(os.path.join(where, n + ".gz"))
               for n in FILES):
            return where
    return None
