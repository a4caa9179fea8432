"""Run in a fresh process: loads a SavedModel with TensorFlow alone and prints a JSON report.

keras, hwkeras and tensorflow_probability are made unimportable first, as on a serving machine.
"""

import json
import sys

for name in ("keras", "hwkeras", "tensorflow_probability", "tf_keras"):
    sys.modules[name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

path, h, w, c = sys.argv[1], *map(int, sys.argv[2:5])
model = tf.saved_model.load(path)
sig = model.signatures
x = tf.constant(np.random.default_rng(0).uniform(size=(3, h, w, c)).astype("float32"))
encoded = sig["encode"](images=x)
decoded = sig["decode"](z=encoded["mean"])["images"]
reconstructed = sig["reconstruct"](images=x)["images"]
first = sig["sample"](num_samples=tf.constant(4))
second = sig["sample"](num_samples=tf.constant(4))
print(json.dumps({
    "signatures": sorted(sig),
    "encode": {k: v.shape.as_list() for k, v in encoded.items()},
    "serving_default": {k: v.shape.as_list() for k, v in sig["serving_default"](images=x).items()},
    "decode": decoded.shape.as_list(),
    "reconstruct": reconstructed.shape.as_list(),
    "reconstruct_minus_decode_mean": float(tf.reduce_max(tf.abs(reconstructed - decoded))),
    "sample": {k: v.shape.as_list() for k, v in first.items()},
    "sample_calls_differ": bool(tf.reduce_max(tf.abs(first["z"] - second["z"])) > 1e-3),
    "imported": sorted(m for m in ("keras", "hwkeras", "tensorflow_probability") if sys.modules.get(m)),
}))
