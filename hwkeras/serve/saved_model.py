"""The ``tensorflow`` runtime: a SavedModel export (``hwkeras export``) run by ``tf.saved_model.load``.

Only TensorFlow is used, as TF Serving would: neither Keras nor hwkeras's model classes.
"""

import os

import numpy as np

from hwkeras.errors import UserError
from hwkeras.files import read_export_card
from hwkeras.serve.servable import Servable


def load(path, name=None):
    from hwkeras.files import is_saved_model
    from hwkeras.outputs import what_is_at

    path = os.path.abspath(os.fspath(path))
    if not is_saved_model(path):
        raise UserError(f"{path} is {what_is_at(path)}, not a SavedModel: serve a run directory or .keras file with "
                        f"--runtime keras, or write an export with hwkeras export RUN_DIR --output DIR")
    card = read_export_card(path, "re-export the model with hwkeras export")
    from hwkeras.frameworks import require_tensorflow

    require_tensorflow("Serving a SavedModel (--runtime tensorflow)")
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(path)
    except Exception as exc:  # noqa: BLE001 - any load failure is a bad export
        raise UserError(f"{path} is not a loadable SavedModel ({exc.__class__.__name__})") from None
    functions = {sig: (fn, [spec.name for spec in fn.structured_input_signature[1].values()])
                 for sig, fn in loaded.signatures.items()}
    return TensorFlowServable(name or os.path.basename(path), card, functions, keyword=True, keep=loaded)


def spec_of(spec):
    """A tf.TensorSpec -> (shape with None for any size, numpy dtype name)."""
    return tuple(spec.shape.as_list()), spec.dtype.as_numpy_dtype.__name__


class TensorFlowServable(Servable):
    """Named TensorFlow concrete functions: ``functions`` = {signature: (function, input names)}.

    ``keyword``: the functions take their inputs by name (a SavedModel's signatures) rather than in
    order (a ``tf.function`` of the model's endpoints). ``keep``: whatever owns the functions' variables.
    """

    def __init__(self, name, card, functions, keyword, keep=None):
        self.name, self.card, self._functions, self._keyword, self._keep = name, card, functions, keyword, keep
        self._signatures = {}
        for sig, (fn, names) in functions.items():
            inputs = fn.structured_input_signature[1] if keyword else dict(zip(names, fn.structured_input_signature[0]))
            self._signatures[sig] = {"inputs": {n: spec_of(inputs[n]) for n in names},
                                     "outputs": {k: spec_of(v) for k, v in fn.structured_outputs.items()}}

    def signatures(self):
        return self._signatures

    def predict(self, signature_name, inputs):
        import tensorflow as tf

        fn, names = self._functions[signature_name]
        tensors = [tf.constant(inputs[n]) for n in names]
        try:
            outputs = fn(**dict(zip(names, tensors))) if self._keyword else fn(*tensors)
        except tf.errors.InvalidArgumentError as exc:  # the graph's own checks (nu, num_samples, ...)
            raise ValueError(_assertion_message(exc)) from None
        return {k: np.asarray(v) for k, v in outputs.items()}


def _assertion_message(exc):
    """The informative line of a TensorFlow error: an assertion's own message when there is one."""
    text = getattr(exc, "message", None) or str(exc)
    if "assertion failed: [" in text:
        # TensorFlow prints the message as a Python literal, escaping its quotes.
        return text.split("assertion failed: [", 1)[1].split("] [", 1)[0].replace("\\'", "'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else exc.__class__.__name__
