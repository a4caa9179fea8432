"""Pictures of a trained model: latent traversals and reconstructions, as PNG grids."""

import numpy as np
from PIL import Image

TRAVERSAL_RANGE = (-3.0, 3.0)


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


def traversal_images(model, image, steps=10, value_range=TRAVERSAL_RANGE):
    """One row per latent: the posterior mean of ``image`` with that latent swept over value_range."""
    mean = np.asarray(model.encode(np.asarray(image, np.float32)[None])[0])[0]
    values = np.linspace(*value_range, steps, dtype=np.float32)
    p = mean.shape[0]
    z = np.repeat(mean[None, None, :], p, axis=0).repeat(steps, axis=1)  # (p, steps, p)
    for d in range(p):
        z[d, :, d] = values
    decoded = np.asarray(model.decode(z.reshape(p * steps, p)))
    return decoded, p, steps


def save_traversal_grid(model, image, path, steps=10):
    decoded, rows, cols = traversal_images(model, image, steps)
    Image.fromarray(image_grid(decoded, rows, cols)).save(path)
    return path


def save_reconstruction_grid(model, images, path):
    """Top row: the inputs; bottom row: their reconstructions from the posterior mean."""
    images = np.asarray(images, np.float32)
    recon = np.asarray(model(images))
    Image.fromarray(image_grid(np.concatenate([images, recon]), 2, len(images))).save(path)
    return path
