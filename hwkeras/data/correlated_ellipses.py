"""CorrelatedEllipses, the procedural dataset of Ansari & Soh (2019) with correlated factors.

Factors x, y, scale, rotation on grids of 32, 32, 6, 40 values. A draw takes
v ~ N(0, C) with C = [[1,.5,0,0],[.5,1,0,0],[0,0,1,.5],[0,0,.5,1]] (x with y, scale with
rotation), clips v to [-1, 1], maps it to u = (v + 1) / 2 in [0, 1] and snaps each u down to
its grid, as the authors' generator does. The image is a filled ellipse with half-axes
(50 s, 25 s) px, s in linspace(0.5, 1, 6), rotated by linspace(0, 360, 40)[r] degrees and
centred at (50 + 156 x, 50 + 156 y) on a 256 x 256 canvas, then area-downsampled (so edges
are grey, not binary). x runs along the width (columns), y along the height (rows).

Rendering counts, for each image pixel, the canvas pixels whose centres fall inside the ellipse
(``u^2 + v^2 <= 1`` in float64). Only the few canvas pixels within half a pixel of the ellipse's
edge on each canvas row are tested; the pixels between them are inside for certain (their
``u^2 + v^2`` is below 1 by more than 1e-4, far beyond rounding), so the images are identical,
pixel for pixel, to testing every canvas pixel, at about twice the speed.

Grid cache: an image depends only on its grid factors, so the 32 x 32 x 6 x 40 = 245,760 images
are rendered once (``prepare()``, which ``batches`` calls; worker threads) into
``<cache_dir>/correlated-ellipses-<size>px-<key>.npy`` (pixel counts, uint8; uint16 at 16 px)
and gathered from its memory map afterwards: the same pixels, at memory speed (1.0 GB at 64 px,
252 MB at 32, 126 MB at 16). ``cache=None`` (the default, up to 64 px) uses a grid that exists and
builds one only for an accelerator (``prepare(accelerated=True)``, which ``hwkeras fit`` calls
when it trains on a GPU): on-the-fly rendering already outpaces training on a CPU several times,
while a GPU consumes 16,000-32,000 images/s. ``cache=True`` always builds it, ``cache=False``
never uses it. The cache directory defaults to ``$XDG_CACHE_HOME/hwkeras`` (``~/.cache/hwkeras``).
"""

import hashlib
import json
import os

import numpy as np

from hwkeras.data.arrays import built_once, user_cache_dir, writable_cache_dir
from hwkeras.data.ground_truth import GroundTruthData, as_random_state

CANVAS = 256
CORRELATION = np.array(
    [[1.0, 0.5, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.5, 1.0]]
)
# v ~ N(0, C) is drawn as RandomState.multivariate_normal does it (standard normals times
# sqrt(s) v from the SVD of C), bit for bit, without its per-call SVD and checks.
_U, _S, _V = np.linalg.svd(CORRELATION)
CORRELATION_FACTOR = np.sqrt(_S)[:, None] * _V
SCALES = np.linspace(0.5, 1.0, 6)
ANGLES_DEG = np.linspace(0.0, 360.0, 40)
# Canvas pixels whose centre lies within this distance (px, along the row) of the ellipse's edge
# are tested exactly; the others are decided by the row's roots (see ellipse_pixel_counts).
EDGE_BAND = 0.5
BAND_PIXELS = 4  # candidates per side: enough for a band of 2 * EDGE_BAND px, or a short chord
#: Bumped whenever rendered pixels could change; part of the grid cache's name.
RENDERER_VERSION = 2
CACHE_LIMIT_PX = 64  # the grid cache is on by default up to this image size


class CorrelatedEllipses(GroundTruthData):
    factor_sizes = (32, 32, 6, 40)
    factor_names = ("x", "y", "scale", "rotation")
    observations_fixed_by_factors = True  # rendered from the factor indices alone

    def __init__(self, image_size=64, cache=None, cache_dir=None):
        image_size = int(image_size)
        if image_size not in (16, 32, 64, 128, 256):
            raise ValueError(
                f"CorrelatedEllipses renders at 16, 32, 64, 128 or 256 pixels, got {image_size}; use 64"
            )
        self.image_size = image_size
        self.observation_shape = (image_size, image_size, 1)
        self._supersample = CANVAS // image_size
        # None: "auto" (see the module docstring); False beyond CACHE_LIMIT_PX.
        self.cache = (None if image_size <= CACHE_LIMIT_PX else False) if cache is None else bool(cache)
        self.cache_dir = cache_dir
        self._grid = None
        self._looked = False

    def __len__(self):
        # The stream is unbounded; this is the size of the authors' published set, the N that
        # BF-VAE's 1/N prior term needs.
        return 200_000

    def sample_factors(self, num, random_state):
        rs = as_random_state(random_state)
        v = np.dot(rs.standard_normal((num, 4)), CORRELATION_FACTOR)
        u = (np.clip(v, -1.0, 1.0) + 1.0) / 2.0
        sizes = np.array(self.factor_sizes)
        # Snap down to the grid linspace(0, 1, size); the epsilon keeps u = 1 on the last point.
        return np.minimum(np.floor(u * (sizes - 1) + 1e-9), sizes - 1).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state=None):
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != 4:
            raise ValueError(f"factors must have shape (n, 4), got {factors.shape}")
        grid = self._open_grid(build=False)
        if grid is not None:
            rows = grid_rows(factors)
            order = np.argsort(rows, kind="stable")
            counts = np.empty((len(rows),) + grid.shape[1:], grid.dtype)
            counts[order] = grid[rows[order]]  # sorted reads are friendlier to the page cache
        else:
            counts = factor_pixel_counts(factors, self._supersample)
        return (counts.astype(np.float32) / np.float32(self._supersample**2))[..., None]

    # ---- the grid cache -------------------------------------------------------------------------

    def prepare(self, accelerated=False):
        """Renders the grid cache once (``cache=True``, or the default for an accelerator) so that
        training batches are gathers; otherwise opens an existing one."""
        self._open_grid(build=self.cache is True or (self.cache is None and accelerated))

    def cache_path(self, create=True):
        """Where the grid cache of this image size is kept: ``cache_dir`` (default: the user cache
        directory), else the user cache directory if that one is not writable. ``create=False``
        only looks (returns the existing file, or None) and creates no directory."""
        key = json.dumps([RENDERER_VERSION, CANVAS, self.factor_sizes, SCALES.tolist(), ANGLES_DEG.tolist(),
                          np.__version__.rsplit(".", 1)[0]])
        name = f"correlated-ellipses-{self.image_size}px-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"
        if create:
            return os.path.join(writable_cache_dir(self.cache_dir or user_cache_dir()), name)
        found = [os.path.join(d, name) for d in (self.cache_dir or user_cache_dir(), user_cache_dir())]
        return next((path for path in found if os.path.exists(path)), None)

    def _open_grid(self, build):
        """The grid cache's memory map: opened if it exists (looked for once), built first if
        ``build``; else None."""
        if self._grid is None and self.cache is not False and (build or not self._looked):
            self._looked = True
            path = self.cache_path(create=False)
            if path is not None or build:
                self._grid = build_grid(path or self.cache_path(), self._supersample)
        return self._grid


def grid_rows(factors):
    """Row of each factor tuple (x, y, scale, rotation) in the grid cache, ordered (scale, rotation, x, y)."""
    factors = np.asarray(factors, np.int64)
    return ((factors[:, 2] * 40 + factors[:, 3]) * 32 + factors[:, 0]) * 32 + factors[:, 1]


def build_grid(path, supersample):
    """Memory map of the whole grid's pixel counts, rendered once: one part per (scale, rotation)."""
    size = CANVAS // supersample
    dtype = np.uint8 if supersample**2 <= 255 else np.uint16
    x, y = (a.ravel() for a in np.meshgrid(np.arange(32), np.arange(32), indexing="ij"))

    def fill(part, out):
        scale, rotation = divmod(part, 40)
        factors = np.stack([x, y, np.full(1024, scale), np.full(1024, rotation)], axis=1)
        for start in range(0, 1024, 128):  # chunks that keep the temporaries in cache
            out[part * 1024 + start : part * 1024 + start + 128] = factor_pixel_counts(
                factors[start : start + 128], supersample)

    from hwkeras.data.pipeline import default_workers

    return built_once(path, dtype, (6 * 40 * 1024, size, size), fill, 6 * 40,
                      f"correlated-ellipses {size}px grid", workers=default_workers())


def factor_pixel_counts(factors, supersample):
    """Canvas pixels inside the ellipse per image pixel, (n, size, size), for grid factor rows."""
    factors = np.asarray(factors, np.int64)
    return ellipse_pixel_counts(factors[:, 0] / 31.0, factors[:, 1] / 31.0, SCALES[factors[:, 2]],
                                ANGLES_DEG[factors[:, 3]], supersample)


def render_ellipses(x, y, scale, angle_deg, supersample=4):
    """Filled ellipses on the 256 canvas, area-averaged over supersample^2 blocks -> (n, H, W, 1)."""
    counts = ellipse_pixel_counts(x, y, scale, angle_deg, supersample)
    return (counts.astype(np.float32) / np.float32(supersample**2))[..., None]


def ellipse_pixel_counts(x, y, scale, angle_deg, supersample):
    """Number of canvas pixels (of supersample^2) inside each ellipse per image pixel, uint16.

    A canvas pixel is inside when ``u^2 + v^2 <= 1`` for its centre, u and v in float64 from
    float32 parameters. Along each canvas row the inside pixels lie between the two roots of
    that quadratic; pixels within ``EDGE_BAND`` of a root are tested exactly, those between the
    bands are counted as inside. (Past the band, |u^2 + v^2 - 1| >= EDGE_BAND^2 / a^2 >= 1e-4.)
    """
    k = int(supersample)
    n = len(x)
    cx = 50.0 + 156.0 * np.asarray(x, np.float32)
    cy = 50.0 + 156.0 * np.asarray(y, np.float32)
    a = 50.0 * np.asarray(scale, np.float32)
    b = 25.0 * np.asarray(scale, np.float32)
    theta = np.deg2rad(np.asarray(angle_deg, np.float32))
    cos, sin = np.cos(theta), np.sin(theta)
    # A square window of whole image pixels around every ellipse (its bounding box + the band).
    c64, s64, a64, b64 = (t.astype(np.float64) for t in (cos, sin, a, b))
    reach_x = np.sqrt((a64 * c64) ** 2 + (b64 * s64) ** 2) + 1.0
    reach_y = np.sqrt((a64 * s64) ** 2 + (b64 * c64) ** 2) + 1.0
    side = min(CANVAS, k * int(np.ceil((2 * max(reach_x.max(), reach_y.max()) + k) / k)))
    ox = np.clip(np.floor((cx - reach_x) / k) * k, 0, CANVAS - side).astype(np.int64)
    oy = np.clip(np.floor((cy - reach_y) / k) * k, 0, CANVAS - side).astype(np.int64)
    w = side // k
    dy = (oy[:, None] + np.arange(side)) + np.float32(0.5) - cy[:, None]  # (n, rows), float64
    # u^2 + v^2 - 1 = A dx^2 + B dx + C along a row, dx = column centre - cx.
    ia2, ib2 = 1.0 / (a64 * a64), 1.0 / (b64 * b64)
    quad = (c64 * c64 * ia2 + s64 * s64 * ib2)[:, None]
    lin = 2.0 * dy * (c64 * s64 * (ia2 - ib2))[:, None]
    const = dy * dy * (s64 * s64 * ia2 + c64 * c64 * ib2)[:, None] - 1.0
    half = np.sqrt(np.maximum(lin * lin - 4.0 * quad * const, 0.0)) / (2.0 * quad)
    middle = -lin / (2.0 * quad) + cx[:, None] - 0.5  # as a column index
    first_in = np.floor(middle - half + EDGE_BAND).astype(np.int64) + 1  # surely inside: first_in..last_in
    last_in = np.ceil(middle + half - EDGE_BAND).astype(np.int64) - 1
    band_lo = np.ceil(middle - half - EDGE_BAND).astype(np.int64)
    band_hi = np.floor(middle + half + EDGE_BAND).astype(np.int64)
    # The sure interior, per block column of the window.
    edges = (ox[:, None, None] + k * np.arange(w + 1)) - first_in[..., None]
    inner = np.diff(np.clip(edges, 0, np.maximum(last_in - first_in + 1, 0)[..., None]), axis=2)
    # The band: up to BAND_PIXELS candidates from each end, each tested exactly.
    steps = np.arange(BAND_PIXELS)
    column = np.concatenate([band_lo[..., None] + steps, band_hi[..., None] - steps], axis=2)
    wanted = (column >= band_lo[..., None]) & (column <= band_hi[..., None])
    wanted &= (column < first_in[..., None]) | (column > last_in[..., None])
    wanted[..., BAND_PIXELS:] &= column[..., BAND_PIXELS:] >= band_lo[..., None] + BAND_PIXELS  # no double count
    dx = column + np.float32(0.5) - cx[:, None, None]
    cos, sin = cos[:, None, None], sin[:, None, None]
    u = (dx * cos + dy[..., None] * sin) / a[:, None, None]
    v = (dy[..., None] * cos - dx * sin) / b[:, None, None]
    block = column // k - (ox // k)[:, None, None]
    hit = wanted & (u * u + v * v <= 1.0) & (block >= 0) & (block < w)
    row_ids = np.arange(n * side).reshape(n, side, 1)
    band = np.bincount((row_ids * w + block)[hit], minlength=n * side * w).reshape(n, side, w)
    blocks = (inner + band).reshape(n, w, k, w).sum(axis=2)
    counts = np.zeros((n, CANVAS // k, CANVAS // k), np.uint16)
    rows = (oy // k)[:, None, None] + np.arange(w)[:, None]
    cols = (ox // k)[:, None, None] + np.arange(w)
    counts[np.arange(n)[:, None, None], rows, cols] = blocks
    return counts
