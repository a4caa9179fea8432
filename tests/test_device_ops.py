"""hwkeras.device_ops: the same numbers as the plain keras.ops calls, without the host waits on torch."""

import os
import subprocess
import sys
import textwrap

import numpy as np
from keras import ops

from hwkeras import device_ops
from tests.helpers import deadline, random_spd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_constant_and_cholesky_match_keras_ops():
    rng = np.random.default_rng(0)
    spd = np.stack([random_spd(rng, 5) for _ in range(4)]).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(device_ops.cholesky(spd)), np.linalg.cholesky(spd), rtol=1e-5,
                               atol=1e-6)
    value = rng.normal(size=(3, 3))
    np.testing.assert_array_equal(ops.convert_to_numpy(device_ops.constant(value, "float32")), value.astype("float32"))


TORCH_CHECK = textwrap.dedent(f"""
    import sys, numpy as np, keras
    sys.path.insert(0, {ROOT!r})
    from keras import ops
    from hwkeras import device_ops
    import hwkeras

    value = np.arange(6.0).reshape(2, 3)
    first = device_ops.constant(value, "float32")
    assert device_ops.constant(value.copy(), "float32") is first      # converted once, reused
    assert device_ops.constant(value, "float64") is not first         # one per dtype
    np.testing.assert_array_equal(ops.convert_to_numpy(first), value)

    spd = np.array([[[4.0, 1.0], [1.0, 3.0]]], "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(device_ops.cholesky(spd)), np.linalg.cholesky(spd), rtol=1e-6)

    # The host seed generator draws exactly what keras's own draws from the same seed.
    host, plain = device_ops.seed_generator(7), keras.random.SeedGenerator(7)
    assert isinstance(host, device_ops.HostSeedGenerator) and str(host.state.value.device) == "cpu"
    for _ in range(3):
        for draw in (keras.random.normal, keras.random.uniform):
            np.testing.assert_array_equal(ops.convert_to_numpy(draw((4, 3), seed=host)),
                                          ops.convert_to_numpy(draw((4, 3), seed=plain)))
    np.testing.assert_array_equal(ops.convert_to_numpy(host.state), ops.convert_to_numpy(plain.state))

    # A model's generator is the host one, also after a .keras round trip.
    model = hwkeras.VAE(latent_dim=2, image_shape=(16, 16, 1), hidden_units=8, seed=3)
    assert isinstance(model.seed_generator, device_ops.HostSeedGenerator)
    model.save(sys.argv[1])
    loaded = keras.saving.load_model(sys.argv[1])
    assert isinstance(loaded.seed_generator, device_ops.HostSeedGenerator)
    assert str(loaded.seed_generator.state.value.device) == "cpu"
    print("ok")
""")


def test_on_torch_constants_are_cached_and_the_seed_state_lives_on_the_host(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", TORCH_CHECK, str(tmp_path / "m.keras")], env=env,
                          capture_output=True, text=True, timeout=deadline(300))
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_unrolled_cholesky_matches_the_library_factor_and_its_gradient():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    spd = np.stack([random_spd(rng, 10) for _ in range(6)])
    np.testing.assert_allclose(ops.convert_to_numpy(device_ops.unrolled_cholesky(spd.astype("float32"))),
                               np.linalg.cholesky(spd), rtol=1e-5, atol=1e-5)
    weights = tf.constant(rng.normal(size=spd.shape), tf.float32)

    def gradient(factorise):
        s = tf.constant(spd, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(s)
            factor = factorise(s)
            value = tf.reduce_sum(factor * weights) + tf.reduce_sum(tf.math.log(tf.linalg.diag_part(factor)))
        g = tape.gradient(value, s).numpy()
        return 0.5 * (g + np.swapaxes(g, 1, 2))  # only the symmetric part is defined

    expected = gradient(tf.linalg.cholesky)
    np.testing.assert_allclose(gradient(device_ops.unrolled_cholesky), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
