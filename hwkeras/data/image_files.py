"""Folders (or zips) of image files, decoded with Pillow (``hwkeras.data.decode``), with an optional cache.

Decoding: each image is centre-cropped to a square of ``crop`` pixels (the whole image when
``crop`` is None), area-resized to ``image_size`` and kept as uint8 until batching. Worker
threads decode in parallel (Pillow releases the GIL); no TensorFlow is involved.

Cache (``cache=True``, the default): ``prepare()`` (called by ``batches``) or the first
``sample_observations`` decodes every file once into
``<cache_dir>/<name>-<size>px-<channels>ch-crop<crop>-<key>.npy`` (uint8, N x size x size x
channels; CelebA at 64x64 RGB is 2.5 GB on disk), read afterwards as a memory map, so no later
epoch or run decodes an image again. ``key`` hashes the decoder version, the options and every
file's name, size and modification time: change any and a new cache is built. A JSON sidecar,
written last, marks the cache complete and records the skipped files. With ``cache=False`` every
pass decodes the files again (no disk used).

Corrupt files never stop training: the cache leaves them out; without a cache, a slot whose file
fails takes the next file of the same epoch order that decodes (so batch i still depends only on
the seed, i and the files). A ``SkippedFilesWarning`` gives the count once per dataset.
"""

import hashlib
import json
import logging
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hwkeras.data.arrays import atomic_npy, user_cache_dir, writable_cache_dir
from hwkeras.data.batching import batch_items, batch_positions, epoch_permutation
from hwkeras.data.decode import DECODER_VERSION, decode_image
from hwkeras.data.ground_truth import as_random_state
from hwkeras.data.image_dataset import ImageDataset, to_float_images, warn_skipped
from hwkeras.data.pipeline import default_workers
from hwkeras.files import atomic_open

log = logging.getLogger("hwkeras.data")
#: Files decoded per task while building the cache (one progress line per tenth of the files).
BUILD_CHUNK = 256


class ZipMembers:
    """Reads members of a zip file from worker threads (one handle per thread)."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()

    def read(self, member):
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = self._local.archive = zipfile.ZipFile(self.path)
        return archive.read(member)


class ImageFiles(ImageDataset):
    """Factorless images from files. ``keys``: file paths, or member names when ``zip_path`` is set."""

    def __init__(self, keys, name, image_size=64, channels=3, crop=None, cache=True, cache_dir=None,
                 zip_path=None, cache_parent=None):
        image_size = int(image_size)
        if image_size < 8:
            raise ValueError(f"{name}: image_size must be at least 8, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"{name}: channels must be 1 (grayscale) or 3 (RGB), got {channels}")
        if crop is not None and int(crop) < 1:
            raise ValueError(f"{name}: crop must be a positive number of pixels or None, got {crop}")
        self.keys = sorted(keys)
        self.name = name
        self.image_size, self.channels = image_size, int(channels)
        self.crop = None if crop is None else int(crop)
        self.observation_shape = (image_size, image_size, self.channels)
        self.zip_path = zip_path
        self.cache = bool(cache)
        self.cache_dir = cache_dir
        self._cache_parent = cache_parent or os.path.dirname(zip_path or os.path.commonpath(self.keys[:1] or ["."]))
        self._zip = ZipMembers(zip_path) if zip_path else None
        self._cached = None
        self._warned = False
        self._lock = threading.Lock()
        self._tried = np.zeros(len(self.keys), bool)  # files decoded (or failed) so far, without a cache
        self._failed = set()
        self.num_skipped = None  # known once every file was tried, or after the cache build

    def __len__(self):
        return len(self._cached) if self._cached is not None else len(self.keys)

    # ---- decoding --------------------------------------------------------------------------

    def load(self, position):
        """uint8 image of ``self.keys[position]``, or None if the file cannot be read or decoded."""
        key = self.keys[position]
        try:
            if self._zip is not None:
                data = self._zip.read(key)
            else:
                with open(key, "rb") as f:
                    data = f.read()
            return decode_image(data, self.image_size, self.channels, self.crop)
        except Exception:  # noqa: BLE001 - any failure to read or decode means: skip this file
            return None

    def _load_counted(self, position):
        image = self.load(position)
        with self._lock:
            if image is None:
                self._failed.add(int(position))
            first_full_pass = not self._tried.all()
            self._tried[position] = True
            if first_full_pass and self._tried.all():
                self._report(len(self._failed), len(self.keys), [os.path.basename(self.keys[i])
                                                                 for i in sorted(self._failed)])
        return image

    def _report(self, num_skipped, num_files, examples=()):
        self.num_skipped = num_skipped
        if num_skipped and not self._warned:
            self._warned = True
            warn_skipped(self.name, num_skipped, num_files, examples)

    # ---- training batches and samples ----------------------------------------------------------

    def prepare(self, accelerated=False):
        if self.cache:
            self.cached_images()

    def batch(self, batch_size, seed, index):
        if self.cache:
            return self._gather(batch_items(len(self.cached_images()), batch_size, seed, index))
        epochs, offsets = batch_positions(len(self.keys), batch_size, index)
        return to_float_images(np.stack([self._decode_slot(seed, int(e), int(o)) for e, o in zip(epochs, offsets)]))

    def _decode_slot(self, seed, epoch, offset):
        """The image at ``offset`` of the epoch order, or the next one in that order that decodes."""
        num = len(self.keys)
        order = epoch_permutation(num, seed, epoch)
        for step in range(num):
            image = self._load_counted(order[(offset + step) % num])
            if image is not None:
                return image
        raise ValueError(f"{self.name}: none of the {num} image files could be decoded")

    def sample_observations(self, num, random_state):
        rs = as_random_state(random_state)
        if self.cache:
            return self._gather(rs.randint(len(self.cached_images()), size=num))
        images = []
        for _ in range(10):  # redraw for files that fail to decode
            picks = rs.randint(len(self.keys), size=num - len(images))
            images += [image for image in map(self._load_counted, picks) if image is not None]
            if len(images) == num:
                return to_float_images(np.stack(images))
        raise ValueError(f"{self.name}: could not decode {num} images from {len(self.keys)} files")

    def _gather(self, indices):
        indices = np.sort(np.asarray(indices, np.int64))  # sequential reads; order within a batch is moot
        return to_float_images(self._cached[indices])

    # ---- the decoded cache -----------------------------------------------------------------------

    def cache_path(self):
        """Path of the .npy cache for these files and options (the directory is created)."""
        directory = writable_cache_dir(self.cache_dir or os.path.join(self._cache_parent, ".hwkeras-cache"),
                                       user_cache_dir())
        digest = hashlib.sha1(json.dumps([DECODER_VERSION, self.image_size, self.channels, self.crop,
                                          self.zip_path and os.path.basename(self.zip_path),
                                          self._fingerprints()]).encode()).hexdigest()[:12]
        crop = "none" if self.crop is None else self.crop
        return os.path.join(directory, f"{self.name}-{self.image_size}px-{self.channels}ch-crop{crop}-{digest}.npy")

    def _fingerprints(self):
        if self._zip is not None:
            with zipfile.ZipFile(self.zip_path) as archive:
                infos = {i.filename: i for i in archive.infolist()}
            return [(k, infos[k].file_size, infos[k].CRC) for k in self.keys]
        stats = [os.stat(k) for k in self.keys]
        root = self._cache_parent
        return [(os.path.relpath(k, root), s.st_size, s.st_mtime_ns) for k, s in zip(self.keys, stats)]

    def cached_images(self):
        """The decoded uint8 images as a read-only memory map, building the cache if needed."""
        if self._cached is not None:
            return self._cached
        path = self.cache_path()
        sidecar = path[:-4] + ".json"
        if not (os.path.exists(path) and os.path.exists(sidecar)):
            self._build_cache(path, sidecar)
        with open(sidecar) as f:
            info = json.load(f)
        self._cached = np.load(path, mmap_mode="r")[: info["num_images"]]
        self._report(info["num_skipped"], info["num_files"], info["skipped"])
        if not len(self._cached):
            raise ValueError(f"{self.name}: none of the {info['num_files']} image files could be decoded")
        return self._cached

    def _build_cache(self, path, sidecar):
        num = len(self.keys)
        log.info("%s: decoding %d images once into the cache %s", self.name, num, path)
        count, decoded = 0, np.zeros(num, bool)
        chunks = [range(i, min(i + BUILD_CHUNK, num)) for i in range(0, num, BUILD_CHUNK)]
        report_every = max(1, len(chunks) // 10)
        with atomic_npy(path, np.uint8, (num,) + self.observation_shape) as out, \
                ThreadPoolExecutor(default_workers()) as pool:
            # map keeps the files' order, so the cache rows follow the sorted keys.
            for done, images in enumerate(pool.map(lambda chunk: [self.load(i) for i in chunk], chunks), 1):
                for position, image in zip(chunks[done - 1], images):
                    if image is not None:
                        out[count] = image
                        decoded[position] = True
                        count += 1
                if done % report_every == 0 or done == len(chunks):
                    log.info("%s: read %d of %d files", self.name, chunks[done - 1][-1] + 1, num)
        skipped = [os.path.basename(k) for k, ok in zip(self.keys, decoded) if not ok]
        info = {"num_images": count, "num_files": len(self.keys), "num_skipped": len(skipped),
                "skipped": skipped[:100], "options": {"image_size": self.image_size, "channels": self.channels,
                                                      "crop": self.crop}}
        with atomic_open(sidecar) as f:
            json.dump(info, f, indent=1)
