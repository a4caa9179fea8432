"""What ``hwkeras serve`` serves: a model behind named signatures, whatever runs it.

A runtime (TensorFlow's SavedModel, hwkeras's Keras model, ONNX Runtime) implements
:class:`Servable`; the REST app sees only this interface, so every runtime answers the same
requests with the same checks (:func:`check_inputs`, the one place a request's arrays are
judged) and the same JSON.

Each runtime's module exposes ``load(path, name=None) -> Servable`` (``name`` defaults to the
folder's or file's name): ``hwkeras.serve.saved_model`` (TensorFlow), ``hwkeras.serve.keras_model``
(a run directory or ``.keras`` file, loaded with hwkeras), ``hwkeras.serve.onnx`` (ONNX Runtime);
:func:`hwkeras.serve.load_servable` picks one by runtime name. A path that cannot be served is a
``hwkeras.errors.UserError`` (or ``ValueError``) in one line.

This module imports numpy only: an ONNX server never loads TensorFlow or Keras through it.
"""

import numpy as np

#: Inputs that are images: float32 pixels in [0, 1].
IMAGE_INPUTS = ("images", "image")
#: dtype names a signature may declare, as numpy spells them.
DTYPES = ("float32", "int32")


class Servable:
    """One model behind named signatures.

    ``name``: the model's name in URLs (``/v1/models/NAME``).
    ``card``: the model card (``model.json`` of an export), a JSON-serialisable dict.
    """

    name = None
    card = None

    def signatures(self):
        """``{signature: {"inputs": {input: (shape, dtype)}, "outputs": {output: (shape, dtype)}}}``.

        ``shape`` is a tuple with ``None`` for a dimension of any size (the batch), ``()`` for a
        scalar; ``dtype`` a numpy dtype name (``"float32"``, ``"int32"``).
        """
        raise NotImplementedError

    def predict(self, signature_name, inputs):
        """Runs ``signature_name`` on ``inputs`` ({input: np.ndarray}, already passed through
        :func:`check_inputs`) and returns {output: np.ndarray}."""
        raise NotImplementedError


def batched(signature):
    """Whether every input and output of ``signature`` (an entry of ``signatures()``) has the
    batch as its first dimension, so that requests can be concatenated and the answer split."""
    specs = list(signature["inputs"].values()) + list(signature["outputs"].values())
    return bool(specs) and all(len(shape) >= 1 and shape[0] is None for shape, _ in specs)


def check_inputs(signatures, signature_name, inputs):
    """A request's inputs -> {input: np.ndarray of the declared dtype}, or ``ValueError`` in one line.

    ``inputs``: {input: nested lists or numbers or arrays}, as decoded from JSON. Checks: the
    signature exists, the input names are exactly its inputs, each value has the declared rank and
    sizes, a numeric value that fits the dtype (no fractional int32), finite numbers, pixels in
    [0, 1], and a batch of at least one.
    """
    if signature_name not in signatures:
        raise ValueError(f"no signature {signature_name!r}; this model has: {', '.join(sorted(signatures))}")
    specs = signatures[signature_name]["inputs"]
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must name each input of {signature_name!r} ({', '.join(sorted(specs))})")
    missing, unknown = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
    if missing or unknown:
        parts = ([f"missing input(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown input(s) {', '.join(unknown)}"] if unknown else [])
        raise ValueError(f"{'; '.join(parts)}: signature {signature_name!r} takes {', '.join(sorted(specs))}")
    return {name: _check_array(inputs[name], name, shape, dtype, signature_name)
            for name, (shape, dtype) in specs.items()}


def _check_array(value, name, shape, dtype, signature_name):
    shown = "(" + ", ".join("n" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise ValueError(f"input {name!r} is ragged (rows of different lengths); {signature_name!r} takes "
                         f"shape {shown}") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or array.dtype == bool:
        raise ValueError(f"input {name!r} holds {_kind(array)}; {signature_name!r} takes {dtype} numbers")
    if array.ndim != len(shape) or any(d is not None and d != a for d, a in zip(shape, array.shape)):
        raise ValueError(f"wrong shape for input {name!r}: got {tuple(array.shape)}, {signature_name!r} takes "
                         f"{shown} (n: any size)")
    if shape and shape[0] is None and array.shape[0] == 0:
        raise ValueError(f"input {name!r} is an empty batch; send at least one")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"input {name!r} holds NaN or inf; {signature_name!r} needs finite numbers")
    if dtype == "int32":
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"input {name!r} must hold integers ({signature_name!r} takes int32)")
        if array.size and (array.min() < np.iinfo(np.int32).min or array.max() > np.iinfo(np.int32).max):
            raise ValueError(f"input {name!r} is outside the int32 range")
    array = array.astype(dtype)
    if name in IMAGE_INPUTS and array.size and (array.min() < 0.0 or array.max() > 1.0):
        side = "below 0" if array.min() < 0.0 else "above 1"
        raise ValueError(f"pixel values {side} in input {name!r}: images are float32 in [0, 1] "
                         f"(divide uint8 pixels by 255)")
    return array


def _kind(array):
    if array.dtype == bool:
        return "booleans"
    if array.dtype.kind in "US":
        return "strings"
    return "values that are not numbers (null, strings or objects)"
