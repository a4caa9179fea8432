"""Pictures of a trained model: latent traversals and reconstructions, as PNG grids."""

import numpy as np
from keras import ops
from PIL import Image

TRAVERSAL_RANGE = (-3.0, 3.0)
TRAVERSAL_STEPS = 10


def image_grid(images, rows, cols, pad=2):
    """(rows*cols, H, W, C) floats in [0, 1] -> one uint8 grid (grayscale or RGB) with padding."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
    for i in range(n):
        r, q = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    grid = (grid * 255.0 + 0.5).astype(np.uint8)
    return grid[..., 0] if c == 1 else grid


def traversal_latents(mean, values):
    """Latent codes (p, steps, p): row d is ``mean`` (p,) with coordinate d swept over ``values``."""
    p = mean.shape[-1]
    mask = ops.expand_dims(ops.eye(p), 1)  # (p, 1, p): which coordinate each row sweeps
    swept = ops.reshape(values, (1, -1, 1))
    return ops.reshape(mean, (1, 1, p)) * (1.0 - mask) + swept * mask


def traversal_images(model, image, steps=TRAVERSAL_STEPS, value_range=TRAVERSAL_RANGE):
    """One row per latent: the posterior mean of ``image`` with that latent swept over value_range."""
    mean = ops.convert_to_numpy(model.encode(np.asarray(image, np.float32)[None])[0])[0]
    values = np.linspace(*value_range, steps, dtype=np.float32)
    p = mean.shape[0]
    z = traversal_latents(mean, values)
    decoded = ops.convert_to_numpy(model.decode(ops.reshape(z, (p * steps, p))))
    return decoded, p, steps


def save_traversal_grid(model, image, path, steps=TRAVERSAL_STEPS):
    decoded, rows, cols = traversal_images(model, image, steps)
    Image.fromarray(image_grid(decoded, rows, cols)).save(path)
    return path


def save_reconstruction_grid(model, images, path):
    """Top row: the inputs; bottom row: their reconstructions from the posterior mean."""
    images = np.asarray(images, np.float32)
    recon = ops.convert_to_numpy(model(images))
    Image.fromarray(image_grid(np.concatenate([images, recon]), 2, len(images))).save(path)
    return path
