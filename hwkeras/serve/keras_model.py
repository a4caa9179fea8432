"""The ``keras`` runtime: a run directory or ``.keras`` file, loaded with hwkeras and served without
exporting first.

The run directory is resolved as ``hwkeras export`` resolves it (``hwkeras.runs.target``: its
model.keras, else its newest checkpoint), and the signatures are the export's own endpoints
(``hwkeras.export``) traced with ``tf.function``: the same graphs, checks and answers as the
SavedModel that ``hwkeras export`` would write. They run on the TensorFlow backend.
"""

import os

from hwkeras.errors import UserError
from hwkeras.serve.saved_model import TensorFlowServable


def load(path, name=None):
    from hwkeras.files import read_json
    from hwkeras.runs import layout
    from hwkeras.runs.target import load_model, resolve_run

    model_path, config, default_name = resolve_run(os.fspath(path))
    from hwkeras.frameworks import start_keras

    keras = start_keras()
    if keras.backend.backend() != "tensorflow":
        raise UserError(f"--runtime keras serves on the TensorFlow backend, not {keras.backend.backend()}: "
                        f"set KERAS_BACKEND=tensorflow, or export to ONNX and serve with --runtime onnx")
    import tensorflow as tf

    from hwkeras.export import _endpoints, model_card

    model = load_model(model_path)
    config = config or {}
    run_dir = os.fspath(path) if os.path.isdir(path) else None
    metrics_path = os.path.join(run_dir, layout.METRICS) if run_dir else None
    card = model_card(model, dataset=config.get("dataset"), training_steps=config.get("steps_trained"),
                      metrics=read_json(metrics_path) if metrics_path and os.path.isfile(metrics_path) else None)
    functions = {}
    for sig, (fn, specs) in _endpoints(model).items():
        concrete = tf.function(fn, input_signature=specs, autograph=False).get_concrete_function()
        functions[sig] = (concrete, [spec.name for spec in specs])
    return TensorFlowServable(name or default_name, card, functions, keyword=False, keep=model)
