"""Encoding pictures for a page: PNG and animated GIF bytes, and ``data:`` URIs to inline them.

Pillow only; the pictures arrive as uint8 arrays (``hwkeras.viz.image_grid`` makes them).
"""

import base64
import io

import numpy as np
from PIL import Image

#: Milliseconds per GIF frame: ten traversal values sweep in about a second and a half.
GIF_FRAME_MS = 150
#: Height in pixels of the position bar under each GIF frame.
GIF_BAR_HEIGHT = 3


def png_bytes(pixels):
    """uint8 (H, W) or (H, W, 3) -> PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def with_position_bar(frames):
    """Frames (n, H, W[, 3]) uint8 -> the same frames with a bar underneath marking frame i of n.

    The bar tells a viewer where in the sweep a frame is, and it keeps the frames distinct:
    Pillow merges identical consecutive GIF frames, which would give a collapsed latent (whose
    frames are all alike) fewer frames than traversal values.
    """
    frames = np.asarray(frames, np.uint8)
    n, _, w = frames.shape[:3]
    bar = np.full((n, GIF_BAR_HEIGHT, w) + frames.shape[3:], 255, np.uint8)
    for i in range(n):
        left = (w * i) // n
        right = max(left + 1, (w * (i + 1)) // n)
        bar[i, :, left:right] = 0
    return np.concatenate([frames, bar], axis=1)


def gif_bytes(frames, frame_ms=GIF_FRAME_MS):
    """Frames (n, H, W[, 3]) uint8 -> a looping animated GIF with exactly n frames."""
    images = [Image.fromarray(frame) for frame in with_position_bar(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=frame_ms, loop=0, optimize=False)
    return buffer.getvalue()


def data_uri(data, mime):
    """Bytes -> a ``data:`` URI, so a page carries its pictures inside one file."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_uri(pixels):
    return data_uri(png_bytes(pixels), "image/png")


def gif_uri(frames):
    return data_uri(gif_bytes(frames), "image/gif")
