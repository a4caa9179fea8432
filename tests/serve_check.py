"""Run in a fresh process: loads a SavedModel with TensorFlow alone and prints a JSON report.

keras, hwkeras and tensorflow_probability are made unimportable first, as on a serving machine.
Usage: python serve_check.py SAVED_MODEL_DIR
"""

import json
import sys

for name in ("keras", "hwkeras", "tensorflow_probability", "tf_keras"):
    sys.modules[name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

path = sys.argv[1]
with open(f"{path}/model.json") as f:
    card = json.load(f)
h, w, c = card["image_shape"]
model = tf.saved_model.load(path)
sig = model.signatures
x = np.random.default_rng(0).uniform(size=(3, h, w, c)).astype("float32")


def shapes(outputs):
    return {k: v.shape.as_list() for k, v in outputs.items()}


def error_of(fn, **feeds):
    try:
        fn(**feeds)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        return str(exc)
    return None


encoded = sig["encode"](images=tf.constant(x))
decoded = sig["decode"](z=encoded["mean"])["images"]
reconstructed = sig["reconstruct"](images=tf.constant(x))["images"]
first = sig["sample"](num_samples=tf.constant(4))
second = sig["sample"](num_samples=tf.constant(4))
seeded_inputs = sorted(sig["sample_seeded"].structured_input_signature[1])
seeded = {"num_samples": tf.constant(4), "seed": tf.constant(11)}
if "nu" in seeded_inputs:
    seeded["nu"] = tf.constant(0.0)
seeded_a = sig["sample_seeded"](**seeded)["z"]
seeded_b = sig["sample_seeded"](**seeded)["z"]
seeded_c = sig["sample_seeded"](**dict(seeded, seed=tf.constant(12)))["z"]
traversal = sig["traverse"](image=tf.constant(x[0]))
print(json.dumps({
    "signatures": sorted(sig),
    "encode": shapes(encoded),
    "serving_default": shapes(sig["serving_default"](images=tf.constant(x))),
    "decode": decoded.shape.as_list(),
    "reconstruct": reconstructed.shape.as_list(),
    "reconstruct_minus_decode_mean": float(tf.reduce_max(tf.abs(reconstructed - decoded))),
    "sample": shapes(first),
    "sample_calls_differ": bool(tf.reduce_max(tf.abs(first["z"] - second["z"])) > 1e-3),
    "sample_seeded_inputs": seeded_inputs,
    "sample_seeded_repeats": bool(np.array_equal(seeded_a.numpy(), seeded_b.numpy())),
    "sample_seeded_other_seed_differs": bool(tf.reduce_max(tf.abs(seeded_a - seeded_c)) > 1e-3),
    "traverse": shapes(traversal),
    "traverse_values": traversal["values"].numpy().tolist(),
    "errors": {
        "size": error_of(sig["encode"], images=tf.constant(np.zeros((1, h + 16, w, c), "float32"))),
        "channels": error_of(sig["encode"], images=tf.constant(np.zeros((1, h, w, 4 - c), "float32"))),
        "range": error_of(sig["reconstruct"], images=tf.constant(np.full((1, h, w, c), 255.0, "float32"))),
        "dtype": error_of(sig["encode"], images=tf.constant(np.zeros((1, h, w, c), "uint8"))),
    },
    "imported": sorted(m for m in ("keras", "hwkeras", "tensorflow_probability") if sys.modules.get(m)),
}))
