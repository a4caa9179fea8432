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
def area_taps(in_size, out_size):
    """``(index, weight)``, each (taps, out_size): the input pixels under each output pixel and the
    share of each inside it (weights of an output pixel sum to 1; unused taps have weight 0)."""
    scale = in_size / out_size
    low = np.arange(out_size) * scale
    first = np.floor(low).astype(np.int64)
    taps = int(np.ceil(scale)) + 1
    index = np.minimum(first[None, :] + np.arange(taps)[:, None], in_size - 1)
    pixel = first[None, :] + np.arange(taps)[:, None]
    overlap = np.minimum(low + scale, pixel + 1) - np.maximum(low, pixel)
    weight = np.where(pixel < in_size, np.clip(overlap, 0.0, None), 0.0) / scale
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


def _resize_axis0(values, out_size):
    index, weight = area_taps(values.shape[0], out_size)
    out = np.zeros((out_size,) + values.shape[1:])
    for taps, share in zip(index, weight):  # a few passes; no BLAS, so worker threads do not contend
        out += share.reshape((-1,) + (1,) * (values.ndim - 1)) * values[taps]
    return out


def area_resize(image, size):
    """uint8 (H, W, C) -> uint8 (size, size, C), each output pixel the area mean of its footprint."""
    if image.shape[:2] == (size, size):
        return image
    rows = _resize_axis0(image.astype(np.float64), size)
    out = _resize_axis0(rows.transpose(1, 0, 2), size).transpose(1, 0, 2)
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
