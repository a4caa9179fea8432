"""AnnealedVAE (hwkeras/baselines/annealed_vae.py) against disentanglement_lib's own code, and its
capacity schedule across a stop and a resume.

The pinned numbers are disentanglement_lib's ``compute_gaussian_kl``, ``anneal`` and
``AnnealedVAE(gamma=1000, c_max=25, iteration_threshold=100000).regularizer`` from
``methods/unsupervised/vae.py`` (google-research/disentanglement_lib at
86a644d4ed35c771560dc3360756363d35477357, the file unmodified), run outside this repository under
TensorFlow 2.21's ``tf.compat.v1`` in graph mode, with ``gin`` shimmed (``gin.configurable`` as the
identity) and the file's unused imports as empty modules, on the posterior that
``tests/models/test_dip_vae.fixed_posterior`` rebuilds (batch 8, 4 latents, KL 7.067482): the
global step (``tf.train.create_global_step()``) was assigned each value below and the capacity,
the regularizer and ``tf.gradients`` of the regularizer w.r.t. z_mean were ``Session.run``.
"""

import keras
import numpy as np
import pytest

import hwkeras
from hwkeras.baselines import annealed_vae
from hwkeras.models import build_model, model_options
from tests.helpers import ellipse_batch
from tests.models.test_dip_vae import DLIB_KL, fixed_posterior

GAMMA, C_MAX, THRESHOLD = 1000.0, 25.0, 100000
# step -> (dlib's anneal(25, step, 100000), dlib's regularizer = 1000 |KL - C|), float32.
DLIB = {0: (0.0, 7067.482), 1: (0.00024999998, 7067.232), 50000: (12.499999, 5432.517),
        100000: (24.999998, 17932.516), 200000: (25.0, 17932.518)}
# The first row of d regularizer / d z_mean: its sign flips once C passes the KL (between steps 1 and 50000).
DLIB_GRADIENT_ROW = np.array([45.638218, -150.7012, -325.2299, 265.32816])
RTOL = 1e-5


def tiny(**options):
    return build_model("annealed-vae", latent_dim=4, image_shape=(32, 32, 1), hidden_units=16, seed=0,
                       **{"gamma": GAMMA, "c_max": C_MAX, "iteration_threshold": THRESHOLD, **options})


@pytest.mark.parametrize("step", list(DLIB))
def test_capacity_equals_dlibs_anneal(step):
    np.testing.assert_allclose(float(annealed_vae.capacity(C_MAX, step, THRESHOLD)), DLIB[step][0], rtol=RTOL,
                               atol=1e-7)


@pytest.mark.parametrize("step", list(DLIB))
def test_the_models_loss_is_dlibs_batch_loss_at_its_step(step, monkeypatch):
    """Batch mean of the per-example loss minus the mean reconstruction = dlib's gamma |KL - C(step)|,
    with KL the batch-mean KL; the step is the model's own counter."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient is taken with tf.GradientTape; backend parity covers JAX and torch")
    model = tiny()
    model.annealing_step.assign(step)
    mean, log_variance = (tf.constant(a) for a in fixed_posterior())
    monkeypatch.setattr(model, "encode", lambda x, training=False: (mean, log_variance))
    noise = np.random.RandomState(0).normal(size=(8, 4)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(mean)
        terms = model.compute_terms(ellipse_batch(8), noise=noise)
        regularizer = tf.reduce_mean(terms["loss"]) - tf.reduce_mean(terms["reconstruction"])
    np.testing.assert_allclose(float(regularizer), DLIB[step][1], rtol=RTOL)
    np.testing.assert_allclose(np.asarray(terms["kl"]).mean(), DLIB_KL, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(terms["capacity"]), np.full(8, DLIB[step][0]), rtol=RTOL, atol=1e-7)
    sign = 1.0 if step <= 1 else -1.0
    np.testing.assert_allclose(tape.gradient(regularizer, mean).numpy()[0], sign * DLIB_GRADIENT_ROW, rtol=RTOL,
                               atol=RTOL * np.abs(DLIB_GRADIENT_ROW).max())
    assert int(model.annealing_step.numpy()) == step  # not training: the counter stays


def test_each_training_step_advances_the_schedule_once_and_files_keep_it(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny(c_max=10.0, iteration_threshold=20)
    x = ellipse_batch(24, seed=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, batch_size=8, epochs=2, verbose=0).history
    # Epoch means of C over steps 0..2 and 3..5: 10 * mean(0, 1, 2) / 20 and 10 * mean(3, 4, 5) / 20.
    np.testing.assert_allclose(history["capacity"], [0.5, 2.0], rtol=1e-6)
    assert int(model.annealing_step.numpy()) == int(model.optimizer.iterations) == 6
    evaluated = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert evaluated["capacity"] == pytest.approx(3.0) and int(model.annealing_step.numpy()) == 6
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, hwkeras.AnnealedVAE) and int(loaded.annealing_step.numpy()) == 6
    assert loaded.get_config() == model.get_config()


def test_defaults_are_dlibs_study_values_and_bad_values_are_refused():
    assert model_options("annealed-vae") == {"gamma": 1000.0, "c_max": 25.0, "iteration_threshold": 100000}
    from hwkeras.models import registry

    for options, message in (({"iteration_threshold": 0}, "iteration_threshold must be a whole number >= 1, got 0"),
                             ({"c_max": -5.0}, "c_max must be a finite number >= 0, got -5"),
                             ({"gamma": -1.0}, "gamma must be a finite number >= 0, got -1")):
        with pytest.raises(ValueError, match=message):
            registry.check_options("annealed-vae", options)  # before Keras, as hwkeras fit checks
        with pytest.raises(ValueError, match=message):
            tiny(**options)
    registry.check_options("factor-vae", {"gamma": -1.0})  # gamma's check is AnnealedVAE's alone


@pytest.mark.slow
def test_a_resumed_run_continues_the_capacity_schedule(tmp_path, monkeypatch):
    """A run stopped at step 4 and resumed trains step 5 at C(4), as the uninterrupted run does (a
    schedule restarted at 0 would give C = 0 there), and ends with the same weights and counter."""
    monkeypatch.chdir(tmp_path)
    options = dict(model="annealed-vae", iteration_threshold=10, c_max=20.0, gamma=10.0, batch_size=4, latent_dim=2,
                   image_size=32, hidden_units=16, no_export=True, no_report=True, summary_every=0, log_every=1,
                   checkpoint_every=4, output_dir="runs")
    full = hwkeras.fit(run_name="full", steps=8, **options)
    hwkeras.fit(run_name="stopped", steps=4, **options)
    resumed = hwkeras.resume("runs/stopped", steps=8)
    expected = [20.0 * min(step, 10) / 10 for step in range(8)]  # C at the start of steps 1..8
    for run in (full, resumed):
        rows = run.history()
        assert [row["step"] for row in rows] == list(range(1, 9))
        np.testing.assert_allclose([row["capacity"] for row in rows], expected, rtol=1e-6)
    full_model, resumed_model = full.load_model(), hwkeras.Run("runs/stopped").load_model()
    assert int(full_model.annealing_step.numpy()) == int(resumed_model.annealing_step.numpy()) == 8
    for a, b in zip(full_model.weights, resumed_model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
