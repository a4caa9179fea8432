"""The published file's size and SHA-256, and the one warning a different file gets.

A loader states what it knows of each published file as ``Published(size, sha256)``; ``None``
means "not known here": never a guessed value. ``check_published`` compares what is known with
the file on disk and warns in one line naming both values (the file still loads: a re-saved copy
can be correct). The SHA-256 of a file is computed once per process (keyed by path, size and
modification time), and only when a sum is known.
"""

import hashlib
import os
import warnings
from typing import NamedTuple, Optional

NOT_KNOWN = "not known here"


class Published(NamedTuple):
    size: Optional[int] = None
    sha256: Optional[str] = None

    def describe(self):
        """What ``hwkeras datasets`` prints under "check"."""
        size = f"{self.size:,} bytes" if self.size is not None else f"size {NOT_KNOWN}"
        sha = f"sha256 {self.sha256}" if self.sha256 else f"sha256 {NOT_KNOWN}"
        return f"{size}, {sha}"


_SUMS = {}


def sha256_of(path):
    """Hex SHA-256 of a file, read in 16 MB blocks (constant memory); memoised per process."""
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SUMS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
        _SUMS[key] = digest.hexdigest()
    return _SUMS[key]


def check_published(name, path, published):
    """Warns (one line, both values) if ``path`` differs from a known published size or SHA-256."""
    if published is None:
        return
    if published.size is not None:
        size = os.path.getsize(path)
        if size != published.size:
            warnings.warn(f"{name}: {path} has {size:,} bytes, the published file {published.size:,}: "
                          f"a re-saved or different file", stacklevel=3)
            return
    if published.sha256:
        found = sha256_of(path)
        if found != published.sha256:
            warnings.warn(f"{name}: {path} has sha256 {found}, the published file {published.sha256}: "
                          f"a re-saved or different file", stacklevel=3)
