"""What a command may write over: the one rule for replacing an output (``check_replaceable``),
and what is at a path in words (``what_is_at``), for the line that refuses."""

import os

from hwkeras.errors import UserError
from hwkeras.runs import layout


def what_is_at(path):
    """``path`` in words, for a refusal: what would have been lost."""
    if os.path.isdir(path):
        names = set(os.listdir(path))
        if layout.CONFIG in names:
            return "a run directory of hwkeras fit (it has config.json)"
        if layout.SWEEP_JSON in names:
            return "a sweep directory of hwkeras sweep (it has sweep.json)"
        if "saved_model.pb" in names:  # what --format onnx refuses to replace, named as what it is
            return "a SavedModel export (it has saved_model.pb)"
        return f"a directory of {len(names)} entries, none of them saved_model.pb, config.json or sweep.json"
    return "a file"


def check_replaceable(path, option, overwrite, is_own, own_kind):
    """The one rule of every command that replaces an output: an existing ``path`` is replaced only
    with --overwrite, and only when ``is_own(path)`` (it is ``own_kind``, what this command writes).
    A run directory, a sweep directory or any other file is never replaced, --overwrite or not."""
    if not os.path.lexists(path):
        return
    if not is_own(path):
        raise UserError(f"{option} {path} is {what_is_at(path)}, not {own_kind}; it is never replaced: choose "
                         f"another {option}")
    if not overwrite:
        raise UserError(f"{path} already exists; pass --overwrite (it holds {own_kind}) or choose another {option}")
