"""The files of runs and sweeps. Written whole or not at all: the content goes to ``PATH.partial``,
then is renamed over ``PATH``, so that a reader (or a run killed mid-write) never sees half a file.
Read back: a CSV cell (history.csv, results.csv, summary.csv) is a number only when it is a finite
one. Standard library only."""

import contextlib
import json
import math
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


def csv_number(text):
    """A CSV cell -> float, or None when it is empty, not a number, NaN or infinite."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
