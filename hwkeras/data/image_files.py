"""Folders (or zips) of image files, decoded by one shared tf.data pipeline, with an optional cache.

Decoding: TensorFlow's JPEG/PNG decoders run in parallel (``num_parallel_calls=AUTOTUNE``);
each image is centre-cropped to a square of ``crop`` pixels (the whole image when ``crop`` is
None; a JPEG decodes only that window), area-resized to ``image_size`` and kept as uint8
until batching.

Cache (``cache=True``, the default): the first call to ``batches`` or ``sample_observations``
decodes every file once into ``<cache_dir>/<name>-<size>px-<channels>ch-crop<crop>-<key>.npy``
(uint8, N x size x size x channels; CelebA at 64x64 RGB is 2.5 GB on disk), read afterwards
as a memory map, so no later epoch or run decodes a JPEG again. ``key`` hashes the decoding
options and every file's name, size and modification time: change any and a new cache is built.
A JSON sidecar, written last, marks the cache complete and records the skipped files.
With ``cache=False`` every pass decodes the files again (no disk used).

Corrupt files: ``ignore_errors`` drops a file that fails to read or decode, so training never
stops half-way through an epoch; a ``SkippedFilesWarning`` gives the count (once per dataset).
"""

import hashlib
import json
import logging
import os
import threading
import zipfile

import numpy as np

from hwkeras.data.arrays import atomic_npy, user_cache_dir, writable_cache_dir
from hwkeras.data.ground_truth import as_random_state
from hwkeras.data.image_dataset import ImageDataset, to_float_images, warn_skipped

log = logging.getLogger("hwkeras.data")


class ZipMembers:
    """Reads members of a zip file from TensorFlow's threads (one handle per thread)."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()

    def read(self, member):
        archive = getattr(self._local, "archive", None)
        if archive is None:
            archive = self._local.archive = zipfile.ZipFile(self.path)
        return archive.read(member.decode("utf-8"))


class ImageFiles(ImageDataset):
    """Factorless images from files. ``keys``: file paths, or member names when ``zip_path`` is set."""

    def __init__(self, keys, name, image_size=64, channels=3, crop=None, cache=True, cache_dir=None,
                 zip_path=None, decoder="auto", cache_parent=None):
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
        self.decoder = decoder
        self.cache = bool(cache)
        self.cache_dir = cache_dir
        self._cache_parent = cache_parent or os.path.dirname(zip_path or os.path.commonpath(self.keys[:1] or ["."]))
        self._zip = ZipMembers(zip_path) if zip_path else None
        self._cached = None
        self._warned = False
        self.num_skipped = None  # known after the first full pass or the cache build

    def __len__(self):
        return len(self._cached) if self._cached is not None else len(self.keys)

    # ---- decoding --------------------------------------------------------------------------

    def loader(self):
        """The TensorFlow function ``key -> uint8 image`` shared by every pass and the cache."""
        import tensorflow as tf

        size, channels, crop = self.image_size, self.channels, self.crop
        decode = {
            "jpeg": lambda data: tf.io.decode_jpeg(data, channels=channels),
            "png": lambda data: tf.io.decode_png(data, channels=channels),
        }.get(self.decoder, lambda data: tf.io.decode_image(data, channels=channels, expand_animations=False))
        zip_reader = self._zip

        def read(key):
            if zip_reader is None:
                return tf.io.read_file(key)
            return tf.ensure_shape(tf.numpy_function(zip_reader.read, [key], tf.string, stateful=False), [])

        def window(shape):
            height, width = shape[0], shape[1]
            side = tf.minimum(crop, tf.minimum(height, width))
            return tf.stack([(height - side) // 2, (width - side) // 2, side, side])

        def load(key):
            data = read(key)
            if crop is not None and self.decoder == "jpeg":
                # Decodes only the crop window: the same pixels, ~20% less CPU for CelebA.
                box = window(tf.io.extract_jpeg_shape(data))
                image = tf.io.decode_and_crop_jpeg(data, box, channels=channels)
            else:
                image = decode(data)
                if crop is not None:
                    top, left, side = tf.unstack(window(tf.shape(image)))[:3]
                    image = image[top : top + side, left : left + side]
            image = tf.image.resize(image, [size, size], method="area")
            return tf.ensure_shape(tf.cast(tf.round(image), tf.uint8), (size, size, channels))

        return load

    def _on_pass_end(self, num_decoded):
        self._report(len(self.keys) - num_decoded, len(self.keys))

    def _report(self, num_skipped, num_files, examples=()):
        self.num_skipped = num_skipped
        if num_skipped and not self._warned:
            self._warned = True
            warn_skipped(self.name, num_skipped, num_files, examples)

    # ---- training stream and samples ---------------------------------------------------------

    def batches(self, batch_size, seed=0):
        from hwkeras.data.pipeline import file_batches, indexed_batches

        if self.cache:
            images = self.cached_images()
            return indexed_batches(len(images), self._gather, self.observation_shape, batch_size, seed=seed)
        return file_batches(self.keys, self.loader(), self.observation_shape, batch_size, seed=seed,
                            on_pass_end=self._on_pass_end)

    def sample_observations(self, num, random_state):
        rs = as_random_state(random_state)
        if self.cache:
            return self._gather(rs.randint(len(self.cached_images()), size=num))
        from hwkeras.data.pipeline import decoded_images

        images = []
        for _ in range(10):  # redraw for files that fail to decode
            picks = rs.randint(len(self.keys), size=num - len(images))
            images += [image for _, image in decoded_images([self.keys[i] for i in picks], self.loader())]
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
        digest = hashlib.sha1(json.dumps([self.image_size, self.channels, self.crop, self.decoder,
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
        from hwkeras.data.pipeline import decoded_images

        log.info("%s: decoding %d images once into the cache %s", self.name, len(self.keys), path)
        count, decoded = 0, np.zeros(len(self.keys), bool)
        with atomic_npy(path, np.uint8, (len(self.keys),) + self.observation_shape) as out:
            stream = decoded_images(self.keys, self.loader()).batch(256).prefetch(2)
            for positions, images in stream.as_numpy_iterator():
                out[count : count + len(images)] = images
                decoded[positions] = True
                count += len(images)
        skipped = [os.path.basename(k) for k, ok in zip(self.keys, decoded) if not ok]
        info = {"num_images": count, "num_files": len(self.keys), "num_skipped": len(skipped),
                "skipped": skipped[:100], "options": {"image_size": self.image_size, "channels": self.channels,
                                                      "crop": self.crop}}
        with open(sidecar + ".partial", "w") as f:
            json.dump(info, f, indent=1)
        os.replace(sidecar + ".partial", sidecar)
