"""CorrelatedEllipses, the procedural dataset of Ansari & Soh (2019) with correlated factors.

Factors x, y, scale, rotation on grids of 32, 32, 6, 40 values. A draw takes
v ~ N(0, C) with C = [[1,.5,0,0],[.5,1,0,0],[0,0,1,.5],[0,0,.5,1]] (x with y, scale with
rotation), clips v to [-1, 1], maps it to u = (v + 1) / 2 in [0, 1] and snaps each u down to
its grid, as the authors' generator does. The image is a filled ellipse with half-axes
(50 s, 25 s) px, s in linspace(0.5, 1, 6), rotated by linspace(0, 360, 40)[r] degrees and
centred at (50 + 156 x, 50 + 156 y) on a 256 x 256 canvas, then area-downsampled (so edges
are grey, not binary). x runs along the width (columns), y along the height (rows).
"""

import numpy as np

from hwkeras.data.ground_truth import GroundTruthData, as_random_state

CANVAS = 256
CORRELATION = np.array(
    [[1.0, 0.5, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.5, 1.0]]
)
SCALES = np.linspace(0.5, 1.0, 6)
ANGLES_DEG = np.linspace(0.0, 360.0, 40)
# Side of the square window (in canvas pixels) that holds any ellipse: the largest half-axis is
# 50 px. Rendering only this window instead of the whole canvas is ~5x faster.
WINDOW = 112


class CorrelatedEllipses(GroundTruthData):
    factor_sizes = (32, 32, 6, 40)
    factor_names = ("x", "y", "scale", "rotation")

    def __init__(self, image_size=64):
        image_size = int(image_size)
        if image_size not in (16, 32, 64, 128, 256):
            raise ValueError(
                f"CorrelatedEllipses renders at 16, 32, 64, 128 or 256 pixels, got {image_size}; use 64"
            )
        self.image_size = image_size
        self.observation_shape = (image_size, image_size, 1)
        self._supersample = CANVAS // image_size

    def __len__(self):
        # The stream is unbounded; this is the size of the authors' published set, the N that
        # BF-VAE's 1/N prior term needs.
        return 200_000

    def sample_factors(self, num, random_state):
        rs = as_random_state(random_state)
        v = rs.multivariate_normal(np.zeros(4), CORRELATION, size=num)
        u = (np.clip(v, -1.0, 1.0) + 1.0) / 2.0
        sizes = np.array(self.factor_sizes)
        # Snap down to the grid linspace(0, 1, size); the epsilon keeps u = 1 on the last point.
        return np.minimum(np.floor(u * (sizes - 1) + 1e-9), sizes - 1).astype(np.int64)

    def sample_observations_from_factors(self, factors, random_state=None):
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != 4:
            raise ValueError(f"factors must have shape (n, 4), got {factors.shape}")
        return render_ellipses(
            factors[:, 0] / 31.0,
            factors[:, 1] / 31.0,
            SCALES[factors[:, 2]],
            ANGLES_DEG[factors[:, 3]],
            self._supersample,
        )


def render_ellipses(x, y, scale, angle_deg, supersample=4):
    """Filled ellipses on the 256 canvas, area-averaged over supersample^2 blocks -> (n, H, W, 1)."""
    n = len(x)
    k = supersample
    size = CANVAS // k
    cx = 50.0 + 156.0 * np.asarray(x, np.float32)
    cy = 50.0 + 156.0 * np.asarray(y, np.float32)
    a = 50.0 * np.asarray(scale, np.float32)
    b = 25.0 * np.asarray(scale, np.float32)
    theta = np.deg2rad(np.asarray(angle_deg, np.float32))
    # Window origins: block-aligned and inside the canvas.
    ox = np.clip(np.floor((cx - 50.0) / k) * k, 0, CANVAS - WINDOW).astype(np.int64)
    oy = np.clip(np.floor((cy - 50.0) / k) * k, 0, CANVAS - WINDOW).astype(np.int64)
    grid = np.arange(WINDOW, dtype=np.float32) + 0.5
    dx = (ox[:, None] + grid[None, :] - cx[:, None])[:, None, :]  # (n, 1, W) along columns
    dy = (oy[:, None] + grid[None, :] - cy[:, None])[:, :, None]  # (n, W, 1) along rows
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u = (dx * cos + dy * sin) / a[:, None, None]
    v = (dy * cos - dx * sin) / b[:, None, None]
    inside = (u * u + v * v <= 1.0).astype(np.float32)
    w = WINDOW // k
    blocks = inside.reshape(n, w, k, w, k).mean(axis=(2, 4))
    images = np.zeros((n, size, size), np.float32)
    for i in range(n):
        r, c = oy[i] // k, ox[i] // k
        images[i, r : r + w, c : c + w] = blocks[i]
    return images[..., None]
