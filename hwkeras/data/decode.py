"""Image files to uint8 arrays without TensorFlow: Pillow decodes, numpy crops and area-resizes.

One decoder for every pipeline and for the on-disk caches, so the pixels a model trains on do
not depend on which pipeline or backend read them. Pillow releases the GIL while it decodes, so
worker threads decode in parallel.

Area resize: output pixel (i, j) is the mean of the input pixels weighted by how much of each
lies inside the output pixel's footprint (what ``tf.image.resize(method="area")`` and OpenCV's
INTER_AREA compute), rounded half to even. Pillow's own BOX filter weighs whole pixels by their
centres, which is not an area mean when the factor is not an integer (178x218 -> 64, 600 -> 64).
"""

import functools
import io

import numpy as np
from PIL import Image

#: Bumped whenever the decoded pixels could change; part of the decoded caches' names.
DECODER_VERSION = "pillow-area-1"


@functools.lru_cache(maxsize=16)
def area_weights(in_size, out_size):
    """(out_size, in_size) float64 matrix: the share of input pixel j inside output pixel i."""
    scale = in_size / out_size
    low = np.arange(out_size)[:, None] * scale
    pixel = np.arange(in_size)[None, :]
    overlap = np.minimum(low + scale, pixel + 1) - np.maximum(low, pixel)
    weights = np.clip(overlap, 0.0, None) / scale
    weights.setflags(write=False)
    return weights


def area_resize(image, size):
    """uint8 (H, W, C) -> uint8 (size, size, C), each output pixel the area mean of its footprint."""
    height, width, channels = image.shape
    if (height, width) == (size, size):
        return image
    rows, cols = area_weights(height, size), area_weights(width, size)
    out = np.einsum("ih,hwc,jw->ijc", rows, image.astype(np.float64), cols, optimize=True)
    return np.rint(np.clip(out, 0, 255)).astype(np.uint8)


def centre_crop(image, crop):
    """The centred ``crop`` x ``crop`` square (smaller if the image is); the whole image for None."""
    if crop is None:
        return image
    height, width = image.shape[:2]
    side = min(crop, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side]


def decode_image(data, size, channels, crop=None):
    """Encoded bytes (JPEG, PNG, ...) -> uint8 (size, size, channels). Raises on unreadable data."""
    with Image.open(io.BytesIO(data)) as picture:
        pixels = np.asarray(picture.convert("L" if channels == 1 else "RGB"))
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return area_resize(centre_crop(pixels, crop), size)
