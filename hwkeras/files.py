"""The files of runs and sweeps. Written whole or not at all (``atomic_path``, the one way hwkeras
writes a file): the content goes to a hidden temporary file beside ``PATH``, then is renamed over it,
so that a reader (or a run killed mid-write) never sees half a file.
Read back: a CSV cell (history.csv, results.csv, summary.csv) is a number only when it is a finite
one. What a command may replace: only what it writes itself (a SavedModel export, a report page).
Output places are proved writable before any work (``check_creatable_dir``). Standard library only
(and hwkeras.errors)."""

import contextlib
import json
import math
import os
import tempfile

from hwkeras.errors import UserError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside ``path`` to write (by any writer: ``open``, ``model.save``, numpy,
    matplotlib); once the block ends without error it is renamed over ``path``, else removed.

    The name is unique (``.NAME.partial-XXXXXX``: two writers never share one) and hidden, and the file gets
    the mode of one ``open`` would create, under the user's umask (e.g. 0644): mkstemp's 0600 would hide a
    model, a page or a cache from a web server or a colleague. ``suffix``: for writers that pick the format
    by extension (``.keras``, ``.npz``, ``.png``).
    """
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.partial-", suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", newline=None, encoding=None):
    """``open(path, mode)`` whose file appears at ``path`` only once the block ends without error."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, newline=newline, encoding=encoding) as f:
            yield f


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


#: An export's model card (SavedModel or ONNX): what a client and ``hwkeras serve`` / ``predict`` read first.
EXPORT_CARD = "model.json"


def read_json(path, fix=None):
    """The JSON object in ``path``; UserError naming the file (and ``fix``, what to do) when it is missing,
    unreadable or not a JSON object."""
    then = f"; {fix}" if fix else ""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is missing or not readable JSON ({exc.__class__.__name__}){then}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} must hold a JSON object{then}")
    return value


def read_export_card(path, fix):
    """The model card of the export at ``path`` (``read_json`` of its ``EXPORT_CARD``)."""
    return read_json(os.path.join(path, EXPORT_CARD), fix)


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


def one_line(exc):
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


# --------------------------------------------------------------------------------------------
# Output paths: checked before any work, so that a bad one costs nothing.
# --------------------------------------------------------------------------------------------

def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_creatable_dir(path, option):
    """``path`` is a directory this process can write in, or can create: proved by doing it (the
    directories it lacks made, a probe file written in it), then undone. Permission bits cannot
    tell: root passes every ``os.access`` check, and read-only mounts or special file systems
    (/sys, /proc) refuse what the bits allow."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{option} {path}: exists and is not a directory")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UserError(f"{option} {path}: {existing} is a file, not a directory")
    missing, parent = [], os.path.abspath(path)
    while parent != existing:
        missing.append(parent)
        parent = os.path.dirname(parent)
    made = []
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            made.append(directory)
        descriptor, probe = tempfile.mkstemp(prefix=".hwkeras-probe-", dir=path)
        os.close(descriptor)
        os.remove(probe)
    except OSError as exc:
        what = "cannot create it" if len(made) < len(missing) else "cannot write in it"
        raise UserError(f"{option} {path}: {what} ({exc.strerror or exc}); choose a writable place") from None
    finally:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def check_output_file(path, option, must_exist_dir=True):
    """A file ``path`` can be written: not a directory; its folder exists (or can be made) and is writable."""
    if os.path.isdir(path):
        raise UserError(f"{option} {path}: is a directory, expected a file")
    directory = os.path.dirname(os.path.abspath(path))
    if must_exist_dir and not os.path.isdir(directory):
        what = "is a file, not a directory" if os.path.exists(directory) else "does not exist"
        raise UserError(f"{option}: directory {directory} {what}")
    check_creatable_dir(directory, option)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: the file is not writable")


def check_plain_name(name, option):
    """A file or directory name that stays inside its parent: no separators, not '.' or '..'."""
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    if not name or name in (".", "..") or any(sep in name for sep in separators) or "\0" in name:
        raise UserError(f"{option} {name!r} must be a plain name (no '/', not '.' or '..'): "
                         f"it names a directory inside its parent")
