"""The files of runs and sweeps. Written whole or not at all: the content goes to ``PATH.partial``,
then is renamed over ``PATH``, so that a reader (or a run killed mid-write) never sees half a file.
Read back: a CSV cell (history.csv, results.csv, summary.csv) is a number only when it is a finite
one. What a command may replace: only what it writes itself (a SavedModel export, a report page).
Standard library only."""

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


#: The mark in the <head> of every page ``hwkeras report`` writes (its template's generator meta tag):
#: what tells a report page from any other file that ``report --output`` might be pointed at.
REPORT_GENERATOR = "hwkeras report"


def is_report_page(path):
    """A file ``hwkeras report`` wrote: its head carries the generator mark."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{REPORT_GENERATOR}">' in head


def is_saved_model(path):
    """A SavedModel directory: it holds ``saved_model.pb``."""
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def is_saved_model_export(path):
    """What ``hwkeras export --overwrite`` may replace: a SavedModel directory, or an empty one."""
    return os.path.isdir(path) and (not os.listdir(path) or is_saved_model(path))


def what_is_at(path):
    """``path`` in words, for a refusal: what would have been lost."""
    if os.path.isdir(path):
        names = set(os.listdir(path))
        from hwkeras.runs.layout import CONFIG  # here: layout writes through this module

        if CONFIG in names:
            return "a run directory of hwkeras fit (it has config.json)"
        if "sweep.json" in names:
            return "a sweep directory of hwkeras sweep (it has sweep.json)"
        return f"a directory of {len(names)} entries, none of them saved_model.pb, config.json or sweep.json"
    return "a file"
