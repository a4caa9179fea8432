"""Large arrays on disk without loading them: .npy memory maps and streamed .npz members.

``np.load`` cannot memory-map a member of an .npz (a zip file, usually deflated), and loading
dSprites' ``imgs`` whole would take 3 GB of RAM. So an .npz member is streamed once, chunk by
chunk, into a plain .npy cache file, which is then opened with ``mmap_mode="r"``: the operating
system pages in only the images a batch touches. The cache is named after the member's CRC-32
(stored in the zip directory, so free to read), which changes whenever the member does.
"""

import contextlib
import logging
import os
import struct
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger("hwkeras.data")

#: Rows copied per chunk while streaming an .npz member (a few tens of MB at 64x64).
CHUNK_ROWS = 8192


def user_cache_dir():
    """Where caches go when the data folder is read-only: ``$XDG_CACHE_HOME/hwkeras``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hwkeras")


def writable_cache_dir(preferred, fallback=None):
    """``preferred`` if it can be created and written to, else ``fallback`` (the user cache)."""
    for directory in (preferred, fallback or user_cache_dir()):
        try:
            os.makedirs(directory, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-")
            probe.close()
            return directory
        except OSError:
            continue
    raise ValueError(f"no writable cache directory: tried {preferred} and {fallback or user_cache_dir()}")


@contextlib.contextmanager
def atomic_npy(target, dtype, shape):
    """Yields a writable .npy memmap that appears at ``target`` only if the block completes.

    The file is written beside ``target`` and renamed into place, so an interrupted build never
    leaves a half-written cache under the real name (``hwkeras.files.atomic_path``: the user's umask,
    so a cache in a shared data folder is readable by others as an ordinary file would be).
    """
    from hwkeras.files import atomic_path

    with atomic_path(target, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield out
        out.flush()
        del out


def built_once(target, dtype, shape, fill, num_parts, what, workers=1):
    """A read-only memory map of ``target``, first built by ``fill(part, out)`` for each part.

    The parts run on ``workers`` threads (numpy releases the GIL in its array loops) and write
    disjoint rows of ``out``; a line on the ``hwkeras.data`` logger reports every tenth of them.
    Written through ``atomic_npy``: an interrupted build leaves nothing under ``target``.
    """
    if not os.path.exists(target):
        size_mb = np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)) / 1e6
        log.info("%s: building once into %s (%.0f MB) ...", what, target, size_mb)
        every = max(1, num_parts // 10)
        with atomic_npy(target, dtype, shape) as out, ThreadPoolExecutor(max(1, workers)) as pool:
            for done, _ in enumerate(pool.map(lambda part: fill(part, out), range(num_parts)), 1):
                if done % every == 0 or done == num_parts:
                    log.info("%s: %d%% built", what, 100 * done // num_parts)
    return np.load(target, mmap_mode="r")


def npz_members(path):
    """Names of the arrays in an .npz (without ``.npy``); ValueError if it is no zip file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({exc})") from None


def _read_header(stream):
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def npz_member_header(path, key):
    """``(shape, dtype)`` of one .npz member, read from its header alone."""
    with zipfile.ZipFile(path) as archive, archive.open(key + ".npy") as stream:
        shape, fortran, dtype = _read_header(stream)
    return shape, dtype


def npy_header(path):
    """``(shape, dtype)`` of an .npy file, read from its header alone."""
    with open(path, "rb") as stream:
        shape, fortran, dtype = _read_header(stream)
    return shape, dtype


def npz_member_memmap(path, key, cache_dir=None, transform=None, tag="raw", leading=1):
    """A read-only memory map of ``transform(member)``, built once into an .npy cache.

    ``transform`` maps a chunk of rows to the stored form (dSprites packs its binary pixels
    8 to a byte) and must act row by row. ``leading``: how many leading axes make a row (2 reads
    a (10, 10, 64, 64) member as 100 images of 64x64, streamed a chunk of images at a time).
    The cache sits in ``cache_dir``, by default next to the .npz if that folder is writable,
    else in the user cache directory. Writing goes to a temporary file renamed at the end, so
    an interrupted build leaves no half-written cache.
    """
    transform = transform or (lambda rows: rows)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(key + ".npy")
        stem = os.path.splitext(os.path.basename(path))[0]
        directory = writable_cache_dir(cache_dir or os.path.dirname(os.path.abspath(path)))
        target = os.path.join(directory, f"{stem}.{key}.{tag}.{info.CRC:08x}.npy")
        if not os.path.exists(target):
            log.info("extracting %s from %s once into %s", key, path, target)
            with archive.open(info) as stream:
                _stream_rows(stream, target, transform, leading)
    return np.load(target, mmap_mode="r")


def npz_member_in_place(path, key):
    """A read-only memory map of an uncompressed .npz member where it lies in the zip, else None.

    ``np.savez`` stores members uncompressed (``ZIP_STORED``): their bytes are an .npy file at a
    fixed offset of the .npz, so they can be memory-mapped with no copy and no cache. Compressed
    (``np.savez_compressed``) or encrypted members, Fortran order and object arrays give None.
    """
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
        return None
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        # The local file header: 30 fixed bytes ending with the name's and the extra field's lengths.
        signature, name_length, extra_length = struct.unpack("<I22xHH", handle.read(30))
        if signature != 0x04034B50:
            return None
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        shape, fortran, dtype = _read_header(handle)
        offset = handle.tell()
    if (fortran or dtype.hasobject
            or offset + dtype.itemsize * int(np.prod(shape, dtype=np.int64)) > os.path.getsize(path)):
        return None
    return np.memmap(path, dtype, mode="r", offset=offset, shape=tuple(shape))


def _stream_rows(stream, target, transform, leading=1):
    shape, fortran, dtype = _read_header(stream)
    if fortran or len(shape) < leading or dtype.hasobject:
        raise ValueError(f"cannot stream {target}: the array must be C-ordered, not empty, not objects")
    row_shape, num_rows = shape[leading:], int(np.prod(shape[:leading], dtype=np.int64))
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    sample = transform(np.zeros((1,) + row_shape, dtype))
    with atomic_npy(target, sample.dtype, (num_rows,) + sample.shape[1:]) as out:
        for start in range(0, num_rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, num_rows - start)
            raw = _read_exactly(stream, count * row_bytes)
            rows = np.frombuffer(raw, dtype).reshape((count,) + row_shape)
            out[start : start + count] = transform(rows)


def _read_exactly(stream, num_bytes):
    chunks, remaining = [], num_bytes
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise ValueError("the .npz member ends before its header's shape says it should (truncated file?)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
