"""3D Chairs (Aubry et al. 2014): 86,366 renders (1,393 chairs x 62 views), 600 x 600 PNGs.

Layout (``data_dir`` is the folder holding ``rendered_chairs/``, or that folder itself)::

    rendered_chairs/<chair id>/renders/image_001_p020_t000_r096.png ...

Images are area-resized to ``image_size`` (the chairs are centred on a white background, so
no crop by default; ``crop=N`` takes a centred N x N square first). Grayscale by default
(``channels=1``), as in the disentanglement papers' 64x64x1 setting; ``channels=3`` for RGB.
The extracted tar is expected; the .tar itself is not read.
"""

import glob
import os

from hwkeras.data.image_files import ImageFiles

FOLDER = "rendered_chairs"
LAYOUT = f"{FOLDER}/<chair>/renders/*.png"


def locate_chairs(data_dir):
    """The ``rendered_chairs`` folder under or at ``data_dir``, else None."""
    for candidate in (os.path.join(data_dir, FOLDER), data_dir):
        if os.path.isdir(candidate) and glob.glob(os.path.join(candidate, "*", "renders")):
            return candidate
    return None


class Chairs3D(ImageFiles):
    """3D Chairs renders. Options: ``channels`` (1 or 3), ``crop``, ``cache``, ``cache_dir``."""

    def __init__(self, data_dir, image_size=64, channels=1, crop=None, cache=True, cache_dir=None):
        root = locate_chairs(data_dir)
        if root is None:
            raise ValueError(f"chairs: expected {LAYOUT} in {data_dir}")
        paths = glob.glob(os.path.join(root, "*", "renders", "*.png"))
        if not paths:
            raise ValueError(f"chairs: {root} holds no PNG renders; expected {LAYOUT}")
        super().__init__(paths, "chairs", image_size=image_size, channels=channels, crop=crop, cache=cache,
                         cache_dir=cache_dir, cache_parent=os.path.dirname(os.path.abspath(root)))
        self.source = root
