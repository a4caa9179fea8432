"""Files written whole or not at all: the content goes to ``PATH.partial``, then is renamed over
``PATH``, so that a reader (or a run killed mid-write) never sees half a file. Standard library only."""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_open(path, newline=None):
    """``open(path, "w")`` whose file appears at ``path`` only once the block ends without error."""
    tmp = path + ".partial"
    try:
        with open(tmp, "w", newline=newline) as f:
            yield f
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomically(record, path):
    """``record`` as indented JSON at ``path``, atomically."""
    with atomic_open(path) as f:
        json.dump(record, f, indent=2)
        f.write("\n")
