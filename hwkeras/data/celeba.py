"""CelebA (Liu et al. 2015), aligned and cropped faces: 202,599 JPEGs of 178 x 218 pixels.

Layout (``data_dir`` is the folder holding it, or the image folder / zip itself)::

    img_align_celeba/000001.jpg ...   or   img_align_celeba.zip
    list_eval_partition.txt           (optional; also looked for under Eval/)

Crop: a centred ``crop`` x ``crop`` square, then area-resized to ``image_size``. The default
140 keeps the whole face with some hair and background (rows 39-178, columns 19-158 of the
178 x 218 image), the crop of many VAE codebases; 108 (DCGAN-tensorflow, many GAN papers) is a
tighter face crop; 148 is used by PyTorch-VAE; ``crop=None`` squashes the whole image.

Split: ``list_eval_partition.txt`` (``000001.jpg 0``; 0 train, 1 valid, 2 test) when present.
Without it, a file is placed by a hash of its name (MD5 mod 10: 0-7 train, 8 valid, 9 test),
which is fixed and does not depend on which other files are present. ``split="all"`` takes
every image (the usual choice for unsupervised training, the default here).
"""

import hashlib
import os
import zipfile

from hwkeras.data.image_files import ImageFiles

FOLDER, ZIPNAME, PARTITION = "img_align_celeba", "img_align_celeba.zip", "list_eval_partition.txt"
LAYOUT = f"{FOLDER}/*.jpg (178x218 JPEGs) or {ZIPNAME}, optional {PARTITION}"
SPLITS = {"train": 0, "valid": 1, "test": 2}
DEFAULT_CROP = 140


def locate_celeba(data_dir):
    """``(kind, path)`` with kind 'folder' or 'zip', or None: accepts the parent, the folder or the zip."""
    if os.path.isfile(data_dir) and data_dir.endswith(".zip"):
        return "zip", data_dir
    for kind, candidate in (("folder", os.path.join(data_dir, FOLDER)), ("zip", os.path.join(data_dir, ZIPNAME))):
        if (kind == "folder" and os.path.isdir(candidate)) or (kind == "zip" and os.path.isfile(candidate)):
            return kind, candidate
    if os.path.isdir(data_dir) and any(_is_jpeg(e.name) for e in os.scandir(data_dir)):
        return "folder", data_dir
    return None


def _is_jpeg(name):
    return name.lower().endswith((".jpg", ".jpeg"))


def hash_split(filename):
    """0 (train), 1 (valid) or 2 (test) from the MD5 of the bare file name: 80/10/10."""
    bucket = int(hashlib.md5(os.path.basename(filename).encode()).hexdigest(), 16) % 10
    return 0 if bucket < 8 else (1 if bucket == 8 else 2)


def read_partition(path):
    """``{filename: 0|1|2}`` from list_eval_partition.txt."""
    partition = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(f"celeba: {path} line {number} is not 'NAME.jpg 0|1|2': {line.strip()!r}")
            partition[fields[0]] = int(fields[1])
    return partition


class CelebA(ImageFiles):
    """CelebA faces, RGB by default. Options: ``crop``, ``split``, ``channels``, ``cache``, ``cache_dir``."""

    def __init__(self, data_dir, image_size=64, crop=DEFAULT_CROP, split="all", channels=3, cache=True,
                 cache_dir=None):
        found = locate_celeba(data_dir)
        if found is None:
            raise ValueError(f"celeba: expected {LAYOUT} in {data_dir}")
        kind, path = found
        if kind == "zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    names = [n for n in archive.namelist() if _is_jpeg(n)]
            except (zipfile.BadZipFile, OSError) as exc:
                raise ValueError(f"celeba: {path} is not a readable zip ({exc})") from None
        else:
            names = [e.path for e in os.scandir(path) if _is_jpeg(e.name)]
        if not names:
            raise ValueError(f"celeba: {path} holds no JPEG images; expected {LAYOUT}")
        root = os.path.dirname(os.path.abspath(path))
        self.partition_file = _find_partition(root, os.path.abspath(data_dir))
        names = self._select(names, split)
        super().__init__(names, "celeba", image_size=image_size, channels=channels, crop=crop, cache=cache,
                         cache_dir=cache_dir, zip_path=path if kind == "zip" else None,
                         cache_parent=root)
        self.split, self.source = split, path

    def _select(self, names, split):
        if split == "all":
            return names
        if split not in SPLITS:
            raise ValueError(f"celeba: split must be one of all, train, valid, test; got {split!r}")
        partition = read_partition(self.partition_file) if self.partition_file else {}
        chosen = [n for n in names if partition.get(os.path.basename(n), hash_split(n)) == SPLITS[split]]
        if not chosen:
            raise ValueError(f"celeba: the {split} split is empty ({len(names)} images in all)")
        return chosen


def _find_partition(*folders):
    for folder in folders:
        for candidate in (os.path.join(folder, PARTITION), os.path.join(folder, "Eval", PARTITION)):
            if os.path.isfile(candidate):
                return candidate
    return None
