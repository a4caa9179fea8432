"""TF Serving's REST API over a Servable, without the web server: parse a request, answer in JSON.

The paths (``NAME`` is the served model's name; ``/versions/1`` may follow it, the only version):

* ``GET /v1/models/NAME``: the model's status;
* ``GET /v1/models/NAME/metadata``: its signatures (TF Serving's ``signature_def`` JSON), plus
  ``metadata.hwkeras``: the model card and the latents by average KL (the explorer reads them);
* ``POST /v1/models/NAME:predict``: ``{"signature_name": S, "instances": [...]}`` (row format:
  one entry per example, a value or ``{input: value}``) answered ``{"predictions": [...]}``, or
  ``{"signature_name": S, "inputs": {input: value}}`` (columnar; a bare value for a one-input
  signature) answered ``{"outputs": {output: value}}`` (a bare value for a one-output signature).

Every refusal is :class:`RequestError` with its HTTP status and a one-line message, sent as
``{"error": "..."}``: the same rules for every runtime, the server's web framework only maps it.
"""

import math

import numpy as np
import orjson

from hwkeras.serve import json_arrays
from hwkeras.serve.servable import batched, check_inputs

VERSION = "1"
#: A request may ask for at most this many samples (the answer is JSON: ~10 bytes a value).
MAX_SAMPLES = 1024
TF_DTYPES = {"float32": "DT_FLOAT", "int32": "DT_INT32"}


class RequestError(Exception):
    """A refused request: ``status`` (4xx) and a one-line message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def parse_model_path(path, name):
    """``/v1/models/...`` -> "status", "metadata" or "predict".

    ``path`` is the URL path after ``/v1/models/``. Anything but this model's name (and version
    ``1``) is a 404; a path with ``..`` or ``.`` segments (an attempt to leave the model's place)
    or a backslash or NUL is a 400.
    """
    if any(segment in (".", "..") for segment in path.replace(":", "/").split("/")) or "\\" in path \
            or "\x00" in path:
        raise RequestError(400, f"the path /v1/models/{path} leaves the model's place ('.', '..', '\\' "
                                f"or NUL); ask for /v1/models/{name}")
    verb = "status"
    if path.endswith(":predict"):
        verb, path = "predict", path[: -len(":predict")]
    elif path.endswith("/metadata"):
        verb, path = "metadata", path[: -len("/metadata")]
    elif ":" in path:
        raise RequestError(404, f"unknown method {path.split(':', 1)[1]!r}: this server answers :predict")
    parts = path.split("/")
    if parts[0] != name:
        raise RequestError(404, f"no model named {parts[0]!r}; this server serves {name!r}")
    if len(parts) == 3 and parts[1] == "versions":
        if parts[2] != VERSION:
            raise RequestError(404, f"model {name!r} has no version {parts[2]!r}; its only version is {VERSION}")
    elif len(parts) != 1:
        raise RequestError(404, f"unknown path /v1/models/{path}; see docs/SERVING.md")
    return verb


def status(name):
    return {"model_version_status": [{"version": VERSION, "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def _tensor_info(name, shape, dtype):
    return {"dtype": TF_DTYPES[dtype], "name": name,
            "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""} for d in shape],
                             "unknown_rank": False}}


def metadata(servable, latents=None):
    signature_def = {
        sig: {"inputs": {k: _tensor_info(k, *v) for k, v in spec["inputs"].items()},
              "outputs": {k: _tensor_info(k, *v) for k, v in spec["outputs"].items()},
              "method_name": "tensorflow/serving/predict"}
        for sig, spec in servable.signatures().items()}
    return {"model_spec": {"name": servable.name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": {"signature_def": signature_def},
                         "hwkeras": {"card": servable.card, **(latents or {})}}}


def parse_body(body):
    """Request bytes -> the JSON object, or a 400 naming what is wrong.

    orjson parses strict JSON: NaN, Infinity and numbers beyond a double (1e400) are refused here,
    as the bad JSON they are (Python's json would read them as floats). Long lists of numbers come
    back as numpy arrays (``json_arrays``: the same values, in a third of the time)."""
    try:
        request = json_arrays.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the body is not valid JSON ({_one_line(exc)}); send finite numbers, "
                                f"no NaN or Infinity") from None
    if not isinstance(request, dict):
        raise RequestError(400, "the body must be a JSON object with \"instances\" or \"inputs\"")
    return request


def parse_predict(servable, request):
    """A predict request -> (signature, {input: np.ndarray} checked, "rows" or "columns")."""
    signatures = servable.signatures()
    signature = request.get("signature_name", "serving_default")
    if not isinstance(signature, str) or signature not in signatures:
        raise RequestError(400, f"no signature {signature!r}; this model has: {', '.join(sorted(signatures))}")
    unknown = sorted(set(request) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(400, f"unknown key(s) {', '.join(unknown)}: a request has signature_name and "
                                f"either instances (rows) or inputs (columns)")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError(400, "send exactly one of \"instances\" (row format) or \"inputs\" (columnar format)")
    spec = signatures[signature]
    names = list(spec["inputs"])
    if "instances" in request:
        inputs, form = _rows_to_columns(request["instances"], signature, spec, names), "rows"
    else:
        inputs, form = request["inputs"], "columns"
        if not isinstance(inputs, dict) or (len(names) == 1 and set(inputs) != set(names)):
            if len(names) != 1:
                raise RequestError(400, f"\"inputs\" must be an object naming {', '.join(names)}")
            inputs = {names[0]: inputs}
    try:
        arrays = check_inputs(signatures, signature, inputs)
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None
    if "num_samples" in arrays and not 1 <= int(arrays["num_samples"]) <= MAX_SAMPLES:
        raise RequestError(400, f"num_samples must be between 1 and {MAX_SAMPLES}, got {int(arrays['num_samples'])}")
    return signature, arrays, form


def _rows_to_columns(instances, signature, spec, names):
    if not batched(spec):
        raise RequestError(400, f"signature {signature!r} takes inputs without a batch dimension "
                                f"({', '.join(names)}); send them in the columnar form {{\"inputs\": ...}}")
    if isinstance(instances, np.ndarray):  # a long list of numbers (json_arrays): one value per example
        if len(names) != 1:
            raise RequestError(400, f"each instance of {signature!r} must be an object naming {', '.join(names)}")
        return {names[0]: instances}
    if not isinstance(instances, list):
        raise RequestError(400, "\"instances\" must be a list, one entry per example")
    if not instances:
        raise RequestError(400, "\"instances\" is an empty batch; send at least one example")
    if all(isinstance(row, dict) for row in instances):
        for row in instances:
            if set(row) != set(names):
                raise RequestError(400, f"each instance of {signature!r} names exactly {', '.join(names)}; "
                                        f"one has {', '.join(sorted(row)) or 'nothing'}")
        return {n: [row[n] for row in instances] for n in names}
    if len(names) == 1 and not any(isinstance(row, dict) for row in instances):
        return {names[0]: instances}
    raise RequestError(400, f"each instance of {signature!r} must be an object naming {', '.join(names)}")


def answer(outputs, form):
    """Outputs -> TF Serving's answer as JSON bytes: predictions (rows) or outputs (columns), one
    output bare. float32 values are written in their shortest form (orjson, straight from numpy)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in outputs.items()}
    if form == "rows":
        if len(arrays) == 1:
            value = {"predictions": next(iter(arrays.values()))}
        else:
            rows = len(next(iter(arrays.values())))
            value = {"predictions": [{k: v[i] for k, v in arrays.items()} for i in range(rows)]}
    else:
        value = {"outputs": next(iter(arrays.values())) if len(arrays) == 1 else arrays}
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def request_size_error(size, limit_bytes):
    return RequestError(413, f"the body is {_mb(size)} MB, over this server's --max-request-mb "
                             f"{_mb(limit_bytes)}; send fewer examples per request")


def _mb(size):
    return f"{size / 2 ** 20:.3g}" if math.isfinite(size) else "?"
