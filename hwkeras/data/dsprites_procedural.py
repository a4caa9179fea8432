"""Procedural dSprites: squares, ellipses and hearts on the official dSprites grid, offline.

Same factors, order, value sets and index as the real file (``hwkeras.data.dsprites``):
shape (square, ellipse, heart), scale linspace(0.5, 1, 6), orientation linspace(0, 2 pi, 40),
posX and posY linspace(0, 1, 32); binary 64x64 images. The pixels are NOT those of the original
(DeepMind's renderer is unpublished); the geometry was calibrated against the 320 real frames of
``dsprites.gif`` (see docs/DATASETS.md for the numbers), with these conventions:

- sizes at scale 1, in pixels of the 64x64 image: square side 19.2 (0.3 of the image);
  ellipse semi-axes 12.8 and 7.2; heart = the convex hulls of each of two discs (radius 5.06,
  centres 4.75 px either side of the axis and 4.0 px above the reference point) with the tip
  8.75 px below it. Everything scales linearly with the scale factor.
- the reference point sits at 16 + 32 * pos pixels (pixel edges at integers), so positions span
  the middle half of the image; posX runs along the width (columns), posY along the height.
- orientation turns the sprite counter-clockwise as seen on screen.
- a pixel is on when its centre falls inside the shape (no anti-aliasing): this reproduces the
  real squares pixel for pixel at the gif's scales and orientations.

Only 3 * 6 * 40 = 720 distinct sprites exist, so they are rasterised once (about 0.1 s) into
32x32 tiles and a batch is a scatter of tiles at integer offsets round(32 * pos): real dSprites
positions fall between pixels (31 steps over 32 px), which this rounds to the nearest pixel.
"""

import functools

import numpy as np

from hwkeras.data.dsprites import FACTOR_VALUES, DSpritesGrid
from hwkeras.data.ground_truth import check_image_size

IMAGE = 64
TILE = 32  # side of a sprite tile; its reference point is the tile's centre (a pixel corner)
POSITION_SPAN = 32.0  # pixels between posX = 0 and posX = 1
SQUARE_SIDE = 19.2
ELLIPSE_SEMI_AXES = (12.8, 7.2)
HEART_LOBE_OFFSET = (4.75, 4.0)  # (sideways, upwards) from the reference point to a lobe centre
HEART_LOBE_RADIUS = 5.06
HEART_TIP = 8.75  # below the reference point


class ProceduralDSprites(DSpritesGrid):
    """dSprites rendered on demand; ``data_dir`` does not apply (nothing is read from disk)."""

    factor_values = FACTOR_VALUES

    def __init__(self, image_size=64):
        check_image_size("dsprites-procedural", image_size)

    def images_at(self, indices):
        return render(self.factors_of(indices))


@functools.lru_cache(maxsize=1)
def sprite_tiles():
    """uint8 (3, 6, 40, TILE, TILE) binary tiles of every (shape, scale, orientation)."""
    scales, angles = FACTOR_VALUES[1], FACTOR_VALUES[2]
    s = np.arange(TILE, dtype=np.float32) + 0.5 - TILE / 2  # pixel centres
    x, y = np.meshgrid(s, s)  # x to the right, y downwards, origin at the reference point
    scale = np.repeat(scales, len(angles)).astype(np.float32)[:, None, None]
    theta = np.tile(angles, len(scales)).astype(np.float32)[:, None, None]
    # Coordinates in the sprite's own frame: undo a counter-clockwise (on screen) rotation.
    cos, sin = np.cos(theta), np.sin(theta)
    u = (x * cos - y * sin) / scale
    v = (x * sin + y * cos) / scale
    masks = [
        (np.abs(u) <= SQUARE_SIDE / 2) & (np.abs(v) <= SQUARE_SIDE / 2),
        (u / ELLIPSE_SEMI_AXES[0]) ** 2 + (v / ELLIPSE_SEMI_AXES[1]) ** 2 <= 1.0,
        _heart(u, v),
    ]
    out = np.stack(masks).reshape(3, len(scales), len(angles), TILE, TILE).astype(np.uint8)
    out.setflags(write=False)
    return out


def _heart(u, v):
    """Union of the convex hulls of (lobe disc, tip point) for the two lobes (v points down)."""
    dx, dy = HEART_LOBE_OFFSET
    inside = np.zeros(np.broadcast_shapes(u.shape, v.shape), bool)
    for side in (-1.0, 1.0):
        inside |= _disc_hull(u, v, side * dx, -dy, HEART_LOBE_RADIUS, 0.0, HEART_TIP)
    return inside


def _disc_hull(u, v, cu, cv, r, tu, tv):
    """Points inside the convex hull of the disc (cu, cv, r) and the point (tu, tv)."""
    axis = np.array([cu - tu, cv - tv])
    length = np.hypot(*axis)
    axis /= length
    pu, pv = u - tu, v - tv
    along = pu * axis[0] + pv * axis[1]
    across = np.abs(pu * axis[1] - pv * axis[0])
    # The hull's straight sides touch the disc where the tangents from the tip do.
    tangent_along = (length * length - r * r) / length
    slope = r / np.sqrt(length * length - r * r)
    in_cone = (along >= 0) & (along <= tangent_along) & (across <= along * slope)
    return in_cone | ((u - cu) ** 2 + (v - cv) ** 2 <= r * r)


def tile_offsets(position_index):
    """Top-left pixel of the tile for position grid indices: round(32 * pos)."""
    return np.rint(np.asarray(position_index) * (POSITION_SPAN / 31.0)).astype(np.int64)


def render(factors):
    """float32 images (n, 64, 64, 1) in {0, 1} for integer factor rows (shape, scale, orient, x, y)."""
    factors = np.asarray(factors, np.int64)
    n = len(factors)
    tiles = sprite_tiles()[factors[:, 0], factors[:, 1], factors[:, 2]]  # (n, TILE, TILE)
    rows, cols = tile_offsets(factors[:, 4]).tolist(), tile_offsets(factors[:, 3]).tolist()
    images = np.zeros((n, IMAGE, IMAGE), np.float32)
    for i, (row, col) in enumerate(zip(rows, cols)):  # slice copies: ~8x faster than one fancy scatter
        images[i, row : row + TILE, col : col + TILE] = tiles[i]
    return images[..., None]
