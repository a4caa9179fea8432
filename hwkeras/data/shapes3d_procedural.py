"""Procedural Shapes3D: a room with a floor, walls and one object, on the Shapes3D grid, offline.

Same factors, sizes, order and index as the real file (``hwkeras.data.shapes3d``): floor_hue,
wall_hue, object_hue (10 hues each, 0, 0.1, ..., 0.9), scale (8 values, 0.75 to 1.25), shape (4:
cube, cylinder, sphere, capsule), orientation (15 values, -30 to 30 degrees); RGB 64x64 images.
The pixels are NOT DeepMind's (its renderer is unpublished): this is a simple ray-cast scene,
deterministic, meant for demos and tests that need a colour dataset without a download.

The scene (y up, the object standing on the floor at the origin): a floor (y = 0), a back wall
(z = -ROOM) and two side walls (x = +-ROOM), seen by an orthographic camera looking at the object
from elevation ELEVATION and azimuth ``orientation`` (the camera turns around the room, so the
walls' corner and the cube's and capsule's faces move with it). The object: a cube of side
``s``, an upright cylinder (diameter and height ``s``), a sphere (diameter ``s``), a capsule
lying along x (length ``s``, diameter ``0.6 s``), with ``s = scale``. Colours are HSV hues at
full saturation and value, shaded (object: ambient + Lambert under a fixed light; floor and walls:
a fixed brightness each), and stored as uint8 like the real file: pixels are ``uint8 / 255``.

Rendering: an image is a per-pixel weighted sum of three colours (floor, wall, object), the
weights being shading times coverage, 2x2 supersampled. The weights depend only on (scale,
shape, orientation): all 480 maps are ray-cast once (1.3 s on one core, 24 MB as float32) and a
batch is that weighted sum, about 4,500 images/s on one core (64-image batches).
"""

import colorsys
import functools

import numpy as np

from hwkeras.data.ground_truth import check_image_size
from hwkeras.data.shapes3d import Shapes3DGrid

IMAGE = 64
SUPERSAMPLE = 2
ROOM = 3.0  # the walls' distance from the object
ELEVATION = np.deg2rad(25.0)
LOOK_AT_HEIGHT = 0.9
VIEW_HALF_WIDTH = 1.9  # half the image's width in scene units
CAMERA_DISTANCE = 20.0  # where the rays start, behind the look-at point (far enough to be above the floor)
LIGHT = np.array([-0.45, 0.8, 0.4]) / np.linalg.norm([-0.45, 0.8, 0.4])
AMBIENT = 0.35
FLOOR_SHADE, BACK_WALL_SHADE, SIDE_WALL_SHADE = 0.95, 0.85, 0.7
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
CAPSULE_RADIUS = 0.3  # times the scale

FACTOR_VALUES = (
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.arange(4.0),
    np.linspace(-30.0, 30.0, 15),
)


class ProceduralShapes3D(Shapes3DGrid):
    """Shapes3D rendered on demand; ``data_dir`` does not apply (nothing is read from disk)."""

    factor_values = FACTOR_VALUES

    def __init__(self, image_size=64):
        check_image_size("shapes3d-procedural", image_size)

    def images_at(self, indices):
        return render(self.factors_of(indices))


def hue_colours():
    """float64 (10, 3): the RGB of each hue on the grid, full saturation and value."""
    return np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in FACTOR_VALUES[0]])


def render(factors):
    """float32 images (n, 64, 64, 3) in [0, 1] for integer factor rows of the Shapes3D grid."""
    factors = np.asarray(factors, np.int64)
    weights = scene_weights()[factors[:, 3], factors[:, 4], factors[:, 5]]  # (n, 64, 64, 3)
    colours = hue_colours()[factors[:, :3]].astype(np.float32)  # (n, 3 surfaces, 3 channels)
    images = sum(weights[..., k, None] * colours[:, None, None, k, :] for k in range(3))
    return np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0


@functools.lru_cache(maxsize=1)
def scene_weights():
    """float32 (8 scales, 4 shapes, 15 orientations, 64, 64, 3): shading x coverage of floor, walls, object."""
    scales, azimuths = FACTOR_VALUES[3], np.deg2rad(FACTOR_VALUES[5])
    out = np.zeros((len(scales), 4, len(azimuths), IMAGE, IMAGE, 3), np.float32)
    for k, azimuth in enumerate(azimuths):
        origins, direction = camera_rays(azimuth)
        room_t, room_weights = _room(origins, direction)
        for shape in range(4):
            for i, scale in enumerate(scales):
                t, shade = _object(shape, scale, origins, direction)
                hit = t < room_t
                weights = np.where(hit[:, None], 0.0, room_weights)
                weights[:, 2] = np.where(hit, shade, 0.0)
                fine = weights.reshape(IMAGE, SUPERSAMPLE, IMAGE, SUPERSAMPLE, 3)
                out[i, shape, k] = fine.mean(axis=(1, 3))
    out.setflags(write=False)
    return out


def camera_rays(azimuth):
    """Orthographic rays: origins (P, 3) for the supersampled pixels in row-major order, one direction (3,)."""
    back = np.array([np.sin(azimuth) * np.cos(ELEVATION), np.sin(ELEVATION), np.cos(azimuth) * np.cos(ELEVATION)])
    right = np.array([np.cos(azimuth), 0.0, -np.sin(azimuth)])
    up = np.cross(back, right)
    size = IMAGE * SUPERSAMPLE
    s = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    sx, sy = np.meshgrid(s, -s)  # columns to the right, rows downwards
    centre = np.array([0.0, LOOK_AT_HEIGHT, 0.0]) + CAMERA_DISTANCE * back
    origins = centre + VIEW_HALF_WIDTH * (sx.reshape(-1, 1) * right + sy.reshape(-1, 1) * up)
    return origins, -back


def _room(origins, d):
    """Distance to the first of floor, back wall and side walls, and the (floor, wall, object) weights.

    The walls are seen from inside only (a wall whose inside faces away from the camera is left
    out), so the rays may start anywhere behind the scene.
    """
    planes = [(1, 0.0, -1.0, FLOOR_SHADE, 0), (2, -ROOM, -1.0, BACK_WALL_SHADE, 1),
              (0, -ROOM, -1.0, SIDE_WALL_SHADE, 1), (0, ROOM, 1.0, SIDE_WALL_SHADE, 1)]
    best = np.full(len(origins), np.inf)
    weights = np.zeros((len(origins), 3))
    for axis, offset, facing, shade, surface in planes:
        if d[axis] * facing <= 0:  # the ray does not travel towards this surface's inside
            continue
        t = (offset - origins[:, axis]) / d[axis]
        nearer = (t > 0) & (t < best)
        best = np.where(nearer, t, best)
        weights[nearer] = 0.0
        weights[nearer, surface] = shade
    return best, weights


def _lambert(normals):
    return AMBIENT + (1.0 - AMBIENT) * np.clip(normals @ LIGHT, 0.0, None)


def _object(shape, scale, o, d):
    """``(t, shade)`` of the object for each ray: distance (inf where missed) and its shading."""
    half = scale / 2.0
    if shape == 0:
        return _box(o, d, np.array([-half, 0.0, -half]), np.array([half, scale, half]))
    if shape == 1:
        return _cylinder(o, d, half, scale)
    if shape == 2:
        return _sphere(o, d, np.array([0.0, half, 0.0]), half)
    return _capsule(o, d, half, CAPSULE_RADIUS * scale)


def _box(o, d, low, high):
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (low - o) / d, (high - o) / d
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = near.max(axis=1), far.min(axis=1)
    hit = (t_in <= t_out) & (t_out > 0)
    axis = near.argmax(axis=1)
    normals = np.zeros_like(o)
    normals[np.arange(len(o)), axis] = -np.sign(d[axis])
    return np.where(hit, t_in, np.inf), _lambert(normals)


def _sphere(o, d, centre, radius):
    oc = o - centre
    b = oc @ d
    disc = b * b - (np.einsum("ij,ij->i", oc, oc) - radius * radius)
    t = np.where(disc >= 0, -b - np.sqrt(np.maximum(disc, 0.0)), np.inf)
    normals = (o + np.where(np.isfinite(t), t, 0.0)[:, None] * d - centre) / radius
    return t, _lambert(normals)


def _cylinder(o, d, radius, height):
    """An upright cylinder on the floor: the side, or the top cap (seen from above)."""
    a = d[0] ** 2 + d[2] ** 2
    b = o[:, 0] * d[0] + o[:, 2] * d[2]
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - radius * radius
    disc = b * b - a * c
    t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y_side = o[:, 1] + t_side * d[1]
    side = (disc >= 0) & (y_side >= 0) & (y_side <= height)
    t_top = (height - o[:, 1]) / d[1]
    top_point = o + t_top[:, None] * d
    top = (top_point[:, 0] ** 2 + top_point[:, 2] ** 2 <= radius * radius) & ~(side & (t_side < t_top))
    t = np.where(top, t_top, np.where(side, t_side, np.inf))
    point = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    normals = np.stack([point[:, 0] / radius, np.zeros(len(o)), point[:, 2] / radius], axis=1)
    normals[top] = (0.0, 1.0, 0.0)
    return t, _lambert(normals)


def _capsule(o, d, half_length, radius):
    """A capsule lying along x on the floor: a cylinder around the x axis capped by two spheres."""
    centre_y = radius
    oy, oz = o[:, 1] - centre_y, o[:, 2]
    a = d[1] ** 2 + d[2] ** 2
    b = oy * d[1] + oz * d[2]
    c = oy * oy + oz * oz - radius * radius
    disc = b * b - a * c
    t_body = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    x_body = o[:, 0] + t_body * d[0]
    t_body = np.where((disc >= 0) & (np.abs(x_body) <= half_length), t_body, np.inf)
    best, normals = t_body, np.stack([np.zeros(len(o)), oy + t_body * d[1], oz + t_body * d[2]], axis=1)
    for end in (-half_length, half_length):
        centre = np.array([end, centre_y, 0.0])
        t_cap, _ = _sphere(o, d, centre, radius)
        nearer = t_cap < best
        best = np.where(nearer, t_cap, best)
        normals[nearer] = o[nearer] + t_cap[nearer, None] * d - centre
    normals[~np.isfinite(best)] = 0.0
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return best, _lambert(normals)
