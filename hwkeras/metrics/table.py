"""Dataset-scale evaluation: each distinct image of a finite dataset encoded once, every draw looked up.

The metrics draw their images through the ground-truth API and encode every draw: the dlib suite
encodes about 2.95 million images, while dSprites has 737,280 distinct ones (Shapes3D 480,000).
When an image is a function of its factor indices alone and the representation is deterministic
(the encoder mean), a draw can be named by its flat grid index instead of its pixels:

* ``IndexedFactors`` wraps the dataset: ``sample_factors`` is the dataset's own (the same
  ``random_state`` calls), and ``sample_observations_from_factors`` returns the flat indices of
  the factor rows (``np.ravel_multi_index``: the last factor varies fastest, the order of
  ``FactorGrid`` and disentanglement_lib), drawing nothing, as the dataset's own draws nothing.
* ``CodeTable.representation_function`` takes those indices and returns their codes, encoding
  (batched, through the model's compiled representation function) only the indices not yet in
  the table, each once, and keeping them for every later draw and metric.

The metric modules are unchanged: they see a dataset and a representation function. The random
stream is consumed call for call as on the sampled path, so every metric draws the same factors;
its codes are the representation's codes of the same images, computed in other batches. Whether
that changes a bit depends only on the representation: a numpy function that encodes each image
on its own gives bit-identical numbers (tests/metrics/test_table.py, every metric), and so does
hwkeras' compiled encoder on TensorFlow's CPU kernels as measured there; a backend whose kernels
round differently with a row's place in a batch would agree within that float rounding (the
same as the sampled path's own 4096-image chunks; docs/METRICS.md).

Which datasets: those that declare ``observations_fixed_by_factors = True`` (``FactorGrid`` and
its loaders, the procedural ones, CorrelatedEllipses, Faces3D), checked at run time: a probe draw
must leave the random state untouched and return the same image twice. Color-, Noisy- and
Scream-dSprites draw a colour, noise or a patch of the painting per observation from the
metric's ``random_state`` (disentanglement_lib's definition): an index cannot name their image,
and skipping those draws would shift every later draw, so they keep the sampled path.

The table can be kept on disk (``save_table``/``load_table``): one ``.npz`` per model and
dataset, holding the codes, which grid points are filled, and the key it was made for (the model
file's SHA-256, the backend, the dataset's identity). A file whose key differs (the model was
retrained) is stale, one that does not read back whole is corrupt: both are said and ignored,
never used. Written atomically, so an interrupted run leaves the previous file or none.
"""

import hashlib
import json
import os
import tempfile
import time
import zipfile

import numpy as np

from hwkeras.metrics import utils

#: Largest grid whose table is kept as one dense array (dSprites 737,280; MPI3D 1,036,800 points).
MAX_GRID_POINTS = 1 << 26
#: Format of the cache file; bumped when its layout changes (an old file is then stale).
CACHE_FORMAT = 1


def table_refusal(ground_truth_data):
    """Why the table cannot serve this dataset (one sentence), or None when it can."""
    name = type(ground_truth_data).__name__
    if not getattr(ground_truth_data, "observations_fixed_by_factors", False):
        return (f"{name} does not declare that an image is a function of its factor indices alone "
                f"(observations_fixed_by_factors)")
    sizes = tuple(int(s) for s in ground_truth_data.factor_sizes)
    if int(np.prod(sizes, dtype=np.float64)) > MAX_GRID_POINTS:
        return f"{name}'s factor grid has {np.prod(sizes, dtype=np.float64):,.0f} points, more than a table holds"
    # The declaration is checked: a dataset that draws per observation from the metric's random
    # state would have those draws skipped by the table, shifting every later draw.
    probe = np.zeros((2, len(sizes)), np.int64)
    probe[1] = np.asarray(sizes) - 1
    state = np.random.RandomState(0)
    first = np.asarray(ground_truth_data.sample_observations_from_factors(probe, state))
    if not _same_state(state.get_state(), np.random.RandomState(0).get_state()):
        return f"{name} draws from the random state for each observation (its images are random given the factors)"
    again = np.asarray(ground_truth_data.sample_observations_from_factors(probe, np.random.RandomState(1)))
    if not np.array_equal(first, again):
        return f"{name} returns different images for the same factors"
    return None


def _same_state(a, b):
    """Two ``RandomState.get_state()`` tuples describe the same point of the stream."""
    return all(np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))


class IndexedFactors:
    """The dataset's factors and random draws, with each observation replaced by its flat grid index."""

    observations_fixed_by_factors = True

    def __init__(self, ground_truth_data):
        self.dataset = ground_truth_data
        self.factor_sizes = tuple(int(s) for s in ground_truth_data.factor_sizes)
        self.factor_names = tuple(getattr(ground_truth_data, "factor_names", ()) or ())
        self.num_factors = len(self.factor_sizes)
        self.num_images = int(np.prod(self.factor_sizes))

    def sample_factors(self, num, random_state):
        return self.dataset.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors, random_state=None):
        """Flat indices ``(n,)`` of the factor rows; draws nothing, as the dataset draws nothing."""
        factors = np.asarray(factors, np.int64)
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes).astype(np.int64)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num, random_state):
        return self.sample(num, random_state)[1]

    def images_at(self, indices):
        """The dataset's images at flat indices (its own renderer or file)."""
        factors = np.stack(np.unravel_index(np.asarray(indices, np.int64), self.factor_sizes), axis=1)
        return self.dataset.sample_observations_from_factors(factors, None)


class CodeTable:
    """Codes of a finite dataset's images, filled on demand, each image encoded at most once.

    Args:
      ground_truth_data: a dataset for which ``table_refusal`` is None.
      representation_function: ``observations -> codes``, deterministic (the encoder mean).
      codes, filled: a table read back by ``load_table`` (None: empty).
      progress: optional callable ``(table)`` after each encoded chunk (``filled_count``,
        ``num_images``, ``encoded``, ``encode_seconds`` tell how far it is).
    """

    def __init__(self, ground_truth_data, representation_function, codes=None, filled=None, progress=None,
                 chunk=utils.ENCODE_CHUNK):
        refusal = table_refusal(ground_truth_data)
        if refusal is not None:
            raise ValueError(f"no code table for this dataset: {refusal}; evaluate it on the sampled path")
        self.ground_truth_data = IndexedFactors(ground_truth_data)
        self.num_images = self.ground_truth_data.num_images
        self._encode = utils.checked_representation(representation_function)
        self.codes = codes
        self.filled = np.zeros(self.num_images, bool) if filled is None else filled
        self.loaded = int(self.filled.sum())
        self.progress = progress
        self.chunk = chunk
        #: Images encoded by this table (not read from a cache), draws looked up, seconds encoding.
        self.encoded, self.lookups, self.encode_seconds = 0, 0, 0.0

    @property
    def filled_count(self):
        return int(self.filled.sum())

    def representation_function(self, indices):
        """Codes of the images at flat indices; encodes those not in the table yet."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        missing = np.unique(indices[~self.filled[indices]])
        for start in range(0, len(missing), self.chunk):
            self._fill(missing[start:start + self.chunk])
        self.lookups += len(indices)
        return self.codes[indices]

    def _fill(self, indices):
        start = time.perf_counter()
        codes = self._encode(self.ground_truth_data.images_at(indices))
        if self.codes is None:
            self.codes = np.zeros((self.num_images, codes.shape[1]), codes.dtype)
        elif codes.shape[1:] != self.codes.shape[1:] or codes.dtype != self.codes.dtype:
            raise ValueError(f"the representation returned codes of shape {codes.shape[1:]} and dtype {codes.dtype}; "
                             f"the table holds {self.codes.shape[1:]} {self.codes.dtype} (a cache of another model?)")
        self.codes[indices] = codes
        self.filled[indices] = True
        self.encoded += len(indices)
        self.encode_seconds += time.perf_counter() - start
        if self.progress is not None:
            self.progress(self)

    def summary(self):
        """What the table did, for the evaluation record."""
        return {"path": "table", "distinct_images": self.num_images, "draws_looked_up": self.lookups,
                "images_encoded": self.encoded, "codes_from_cache": self.loaded}


def progress_line(table, what="encoding"):
    """``encoding: 245,760 of 737,280 images (33%), 2,400 images/s, at most 3 min 25 s left``.

    The time left is an upper bound: it assumes that every image not yet encoded will be drawn
    (nearly so for the dlib protocol on dSprites; a smaller protocol draws fewer).
    """
    filled, total = table.filled_count, table.num_images
    rate = table.encoded / table.encode_seconds if table.encode_seconds > 0 else 0.0
    text = f"{what}: {filled:,} of {total:,} images ({100 * filled / total:.0f}%)"
    if rate > 0:
        left = (total - filled) / rate
        text += f", {rate:,.0f} images/s, at most {_duration(left)} left"
    return text


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --------------------------------------------------------------------------------------------
# The table on disk.
# --------------------------------------------------------------------------------------------

def file_digest(path):
    """SHA-256 of a file, or of a directory's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, name) for root, _, names in os.walk(path) for name in names)
    for name in files:
        if name != path:
            digest.update(os.path.relpath(name, path).encode() + b"\0")
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def dataset_identity(ground_truth_data, name, options):
    """What makes two datasets give the same image at the same index: name, options, class, grid,
    and for a file dataset its file's size and modification time."""
    identity = {"name": name, "options": options, "class": type(ground_truth_data).__name__,
                "factor_sizes": [int(s) for s in ground_truth_data.factor_sizes],
                "observation_shape": [int(s) for s in getattr(ground_truth_data, "observation_shape", ())]}
    source = getattr(ground_truth_data, "path", None) or getattr(ground_truth_data, "source", None)
    if isinstance(source, str) and os.path.isfile(source):
        status = os.stat(source)
        identity["file"] = {"path": os.path.abspath(source), "size": status.st_size, "mtime_ns": status.st_mtime_ns}
    return identity


def cache_path(cache_dir, model_path, identity):
    """One file per model (its absolute path) and dataset: a retrained model at the same path finds
    its former table there, stale."""
    where = hashlib.sha256(os.path.abspath(model_path).encode()).hexdigest()[:16]
    which = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return os.path.join(cache_dir, f"codes-{identity['name']}-{where}-{which}.npz")


def load_table(path, key, num_images):
    """``(codes, filled, None)`` read from ``path`` when it holds a table made for ``key``, else
    ``(None, None, why)`` with why it is not used (None when there is no file)."""
    if not os.path.exists(path):
        return None, None, None
    key = json.loads(json.dumps(key, sort_keys=True))  # tuples as lists, as the file holds them
    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and say so
        return None, None, "corrupt (not an .npz file)"
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(str(data["key"]))
            codes, filled = np.asarray(data["codes"]), np.asarray(data["filled"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        return None, None, f"corrupt ({exc.__class__.__name__}: {_one_line(exc)})"
    if stored != key:
        changed = sorted(k for k in set(stored) | set(key) if stored.get(k) != key.get(k))
        return None, None, f"stale (made for another {', '.join(changed)})"
    if (codes.ndim != 2 or len(codes) != num_images or filled.shape != (num_images,) or filled.dtype != bool
            or not np.all(np.isfinite(codes[filled]))):
        return None, None, f"corrupt (codes {codes.shape}, filled {filled.shape} for {num_images:,} images)"
    return codes, filled, None


def save_table(table, path, key):
    """Writes the table at ``path``, whole or not at all (a temporary file renamed over it)."""
    if table.codes is None:
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".partial-", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, key=np.array(json.dumps(key, sort_keys=True)), codes=table.codes, filled=table.filled)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def cache_key(model_digest, representation, identity):
    """What a stored table must have been made for: the model's bytes, how it was encoded, the data."""
    return {"format": CACHE_FORMAT, "model_sha256": model_digest, "representation": representation,
            "dataset": identity}


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
