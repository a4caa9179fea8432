"""A request body's large arrays of numbers read straight into numpy, without a Python object a number.

TF Serving's REST API sends tensors as JSON nested lists: a batch of 64 images of 64x64x1 is
262,144 numbers in 2.6 MB, inside 266,305 lists. ``orjson.loads`` makes a Python list for each and
``np.asarray`` walks them all again; on a CPU the two took longer than the model itself
(docs/BENCHMARKS.md). :func:`loads` finds the body's long spans of JSON array text (brackets,
commas, numbers, white space), takes the shape of each regular one from its brackets and commas,
has orjson read its numbers as one flat list and reshapes them; orjson reads the rest of the body
(the keys, ``signature_name``) as usual.

It returns what ``orjson.loads`` returns with each such list replaced by ``np.asarray`` of it (the
same Python numbers, so the same array bit for bit: float64, or int64 when all are integers), or
exactly ``orjson.loads(body)`` whenever a span is anything else (ragged rows, an empty list, a
malformed or non-finite number, array-like text inside a string): every refusal is still orjson's.
"""

import functools
import re

import numpy as np
import orjson

#: Spans shorter than this are left to orjson (a few thousand numbers cost it little).
MIN_SPAN_BYTES = 16384
#: The stand-in for a span while orjson reads the rest (a JSON string); a body that already holds
#: its prefix is read whole by orjson.
_PLACEHOLDER = "hwkeras-array-{}"

_NUMBER_CHARS = b"0123456789.eE+-"
#: Numbers' characters as 'x' (white space is deleted along with this table).
_NUMBERS_AS_X = bytes.maketrans(_NUMBER_CHARS, b"x" * len(_NUMBER_CHARS))
_BRACKETS_AS_SPACES = bytes.maketrans(b"[]", b"  ")


def loads(body, min_span_bytes=MIN_SPAN_BYTES):
    """``orjson.loads(body)`` with its regular lists of numbers of at least ``min_span_bytes`` as numpy
    arrays (module docstring). Raises ``orjson.JSONDecodeError`` exactly when ``orjson.loads`` does."""
    if len(body) < min_span_bytes or b"hwkeras-array-" in body:
        return orjson.loads(body)
    arrays, pieces, last = [], [], 0
    for match in _span_pattern(min_span_bytes).finditer(body):
        start, stop = match.start(), body.rfind(b"]", match.start(), match.end()) + 1
        array = _read_array(body[start:stop]) if stop > start else None
        if array is None:
            return orjson.loads(body)
        pieces += [body[last:start], b'"' + _PLACEHOLDER.format(len(arrays)).encode() + b'"']
        arrays.append(array)
        last = stop
    if not arrays:
        return orjson.loads(body)
    pieces.append(body[last:])
    try:
        rest = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:  # a span was not a value (inside a string, say): orjson decides
        return orjson.loads(body)
    placed = []
    value = _put_back(rest, arrays, placed)
    if len(placed) != len(arrays):  # a placeholder was a key, or text that only looked like a span
        return orjson.loads(body)
    return value


@functools.lru_cache(maxsize=4)
def _span_pattern(min_bytes):
    """A run of array text of at least ``min_bytes`` from a '['."""
    return re.compile(rb"\[[\[\]0-9.eE+\-, \t\r\n]{%d,}" % (max(min_bytes, 2) - 1))


def _read_array(span):
    """The span (bytes from '[' to ']') as an array, or None when it is not one regular array of JSON
    numbers.

    The shape comes from the brackets and commas alone (they must be exactly those of a regular
    array, with a number between every two); the numbers from orjson reading the span with its
    brackets blanked out, one flat list: the same Python numbers it would give nested, so
    ``np.asarray`` makes the same array (float64, int64 when all are integers), without the nested
    lists that cost most of the time. orjson also judges each number's spelling and the white space.
    """
    marked = span.translate(_NUMBERS_AS_X, b" \t\r\n")
    if b"]x" in marked or b"x[" in marked:
        return None  # a number against the outside of a bracket: "[1]2", "1[2]"
    skeleton = marked.translate(None, b"x")  # brackets and commas
    dims = _dims(skeleton)
    if dims is None or skeleton != _regular_skeleton(dims):
        return None
    try:
        values = np.asarray(orjson.loads(b"[" + span.translate(_BRACKETS_AS_SPACES) + b"]"))
    except orjson.JSONDecodeError:  # ",,", "[1 2]", "01", NaN: orjson's refusal, for the whole body
        return None
    if values.shape != (int(np.prod(dims)),) or values.dtype == object:
        return None
    return values.reshape(dims)


def _dims(skeleton):
    """The shape a regular array with this skeleton (its brackets and commas) would have, from its
    first list at each depth, or None."""
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if rank == 0:
        return None
    lengths = []  # the length of the first list at each depth, innermost last
    for depth in range(rank):
        end = skeleton.find(b"]" * (rank - depth))
        if end < 0:
            return None
        lengths.append(end + (rank - depth) - depth)
    dims = [lengths[-1] - 1]  # "[,,]": commas + 1
    for k in range(rank - 2, -1, -1):
        inner = lengths[k + 1]
        dims.insert(0, (lengths[k] - 1) // (inner + 1))
    return dims if all(d > 0 for d in dims) else None


def _regular_skeleton(dims):
    text = b"," * (dims[-1] - 1)
    text = b"[" + text + b"]"
    for size in reversed(dims[:-1]):
        text = b"[" + b",".join([text] * size) + b"]"
    return text


def _put_back(value, arrays, placed):
    if isinstance(value, str) and value.startswith("hwkeras-array-"):
        index = int(value[len("hwkeras-array-"):])
        placed.append(index)
        return arrays[index]
    if isinstance(value, list):
        return [_put_back(v, arrays, placed) for v in value]
    if isinstance(value, dict):
        return {k: _put_back(v, arrays, placed) for k, v in value.items()}
    return value
