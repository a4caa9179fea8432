"""How tests/fixtures/dlib_architecture.npz was made, and the seeded weights and inputs it was made on.

The fixture holds disentanglement_lib's own ``conv_encoder`` / ``deconv_decoder`` outputs (its TF1
graph, run outside this repository) on the weights ``seeded_weights`` draws and the inputs ``inputs``
draws, so tests/models/test_architecture_dlib.py can load the same weights into hwkeras's
``architecture="dlib"`` networks and compare, without disentanglement_lib or TF1 at test time. The
weights (about 690,000 numbers) are drawn again in the test rather than stored.

To reproduce (TensorFlow 2 with tf_keras, for ``tf.compat.v1.layers``; gin replaced by a stub)::

    git --git-dir=<disentanglement_lib>.git show HEAD:disentanglement_lib/methods/shared/architectures.py \\
        > /tmp/dlibref/architectures.py
    mkdir -p /tmp/dlibref/gin && touch /tmp/dlibref/gin/tf.py
    printf 'REQUIRED = object()\\ndef configurable(*a, **k):\\n    return lambda f: f\\n' > /tmp/dlibref/gin/__init__.py
    TF_USE_LEGACY_KERAS=1 python tests/models/dlib_reference.py /tmp/dlibref tests/fixtures/dlib_architecture.npz

It prints each layer's output shape and parameter count in the TF1 graph (the tables in the test).
Only numpy is imported at module level: the test imports ``seeded_weights`` and ``inputs``.
"""

import sys

import numpy as np

WEIGHT_SEED = 2019  # Locatello et al.'s year; any fixed seed would do
INPUT_SEED = 7
LATENT_DIM = 10
BATCH = 2
CHANNELS = (1, 3)


def seeded_weights(shapes):
    """One array per shape, in order: Glorot-uniform-sized kernels, biases uniform in [-0.1, 0.1].

    Non-zero biases, so that a bias left out or misplaced shows in the outputs.
    """
    rng = np.random.default_rng(WEIGHT_SEED)
    arrays = []
    for shape in shapes:
        shape = tuple(int(d) for d in shape)
        if len(shape) == 1:
            arrays.append(rng.uniform(-0.1, 0.1, size=shape).astype("float32"))
            continue
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
        arrays.append(rng.uniform(-limit, limit, size=shape).astype("float32"))
    return arrays


def inputs(channels):
    """(images (2, 64, 64, C) in [0, 1), latent codes (2, 10) ~ N(0, 1))."""
    rng = np.random.default_rng([INPUT_SEED, channels])
    images = rng.uniform(0.0, 1.0, size=(BATCH, 64, 64, channels)).astype("float32")
    codes = rng.standard_normal((BATCH, LATENT_DIM)).astype("float32")
    return images, codes


def main(dlib_dir, out_path):  # pragma: no cover - run by hand, outside the test suite
    sys.path.insert(0, dlib_dir)
    import architectures  # disentanglement_lib/methods/shared/architectures.py
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()
    results = {}
    for channels in CHANNELS:
        graph = tf.Graph()
        with graph.as_default():
            x = tf.placeholder(tf.float32, (None, 64, 64, channels))
            z = tf.placeholder(tf.float32, (None, LATENT_DIM))
            with tf.variable_scope("encoder"):
                means, log_var = architectures.conv_encoder(x, LATENT_DIM)
            with tf.variable_scope("decoder"):
                logits = architectures.deconv_decoder(z, [64, 64, channels])
            variables = tf.trainable_variables()
            values = seeded_weights([v.shape.as_list() for v in variables])
            print(f"--- 64x64x{channels}")
            for v in variables:
                print(f"{v.name:40s} {v.shape.as_list()}")
            for scope in ("encoder", "decoder"):
                count = sum(int(np.prod(v.shape.as_list())) for v in variables if v.name.startswith(scope + "/"))
                print(f"{scope} parameters: {count}")
            ops = [op for op in graph.get_operations() if op.type in ("Relu", "BiasAdd", "Reshape")]
            for op in ops:
                print(f"{op.name:50s} {op.outputs[0].shape.as_list()}")
            with tf.Session(graph=graph) as session:
                for variable, value in zip(variables, values):
                    variable.load(value, session)
                images, codes = inputs(channels)
                m, lv, lg = session.run([means, log_var, logits], {x: images, z: codes})
        results[f"means_{channels}"] = m
        results[f"log_var_{channels}"] = lv
        results[f"logits_{channels}"] = lg
        results[f"variables_{channels}"] = np.array([v.name for v in variables])
    np.savez_compressed(out_path, **results)
    print(f"wrote {out_path}")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1], sys.argv[2])
