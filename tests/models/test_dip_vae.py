"""DIP-VAE-I and DIP-VAE-II (hwkeras/baselines/dip_vae.py) against disentanglement_lib's own code.

The pinned numbers below are disentanglement_lib's ``compute_gaussian_kl``,
``compute_covariance_z_mean`` and ``DIPVAE(lambda_od, lambda_d_factor, dip_type).regularizer`` from
``methods/unsupervised/vae.py`` (google-research/disentanglement_lib at
86a644d4ed35c771560dc3360756363d35477357, the file unmodified), run outside this repository under
TensorFlow 2.21's ``tf.compat.v1`` in graph mode, with ``gin`` shimmed (``gin.configurable`` as the
identity) and the file's unused imports (architectures, losses, optimizers, tensorflow.contrib)
as empty modules, on the inputs ``fixed_posterior()`` rebuilds (the same numpy draws). To
reproduce: save that vae.py beside a script that installs those shims, imports it, builds
``z_mean``/``z_logvar`` as below, and ``Session.run``s the functions; ``regularizer(0.0, ...)``
gives the penalty alone, ``regularizer(kl, ...)`` the penalty plus dlib's batch-mean KL, and
``tf.gradients`` of the latter w.r.t. (z_mean, z_logvar) its gradient.
"""

import keras
import numpy as np
import pytest

import hwkeras
from hwkeras.baselines import dip_vae
from hwkeras.models import build_model, model_options
from tests.helpers import ellipse_batch

# dlib's float32 results. "dip_{type}_{lambda_od}_{lambda_d_factor}": the penalty alone;
# "..._with_kl": what regularizer() adds to the mean reconstruction, KL included.
DLIB_KL = 7.067482
DLIB_COVARIANCE_OF_MEANS = np.array([
    [2.1207829, -0.6078124, -2.2959309, -0.9821318],
    [-0.6078124, 0.7707993, 1.6177186, -0.2849999],
    [-2.2959309, 1.6177186, 5.7730217, -0.99333465],
    [-0.9821318, -0.2849999, -0.99333465, 2.0806165]])
DLIB_PENALTY = {("i", 10.0, 10.0): 2731.621, ("ii", 10.0, 1.0): 553.8258,
                ("i", 2.0, 3.0): 192.71002, ("ii", 5.0, 7.0): 1320.9742}
DLIB_PENALTY_WITH_KL = {("i", 10.0, 10.0): 2738.6885, ("ii", 10.0, 1.0): 560.8933,
                        ("i", 2.0, 3.0): 199.7775, ("ii", 5.0, 7.0): 1328.0417}
# tf.gradients of dlib's regularizer(kl, z_mean, z_logvar) (KL + penalty) w.r.t. (z_mean, z_logvar).
DLIB_GRADIENTS = {
    ("i", 10.0, 10.0): (np.array([
        [-14.379479, -4.26937, -403.30035, 117.65437],
        [179.44543, -17.401508, -317.3154, -119.055885],
        [88.82843, -5.4682584, -296.02173, -92.592354],
        [97.74869, -30.7185, -1126.7521, 132.01361],
        [-107.7468, 7.5085154, 611.02997, -11.144259],
        [-154.66234, 11.16618, 626.5357, 42.725857],
        [-58.18484, 21.544538, 381.41534, -38.258],
        [-30.212334, 17.34859, 523.446, -31.175638]]), np.array([
        [0.023610584, -0.033511616, -0.04722551, -0.030564923],
        [-0.049714588, -0.041094795, -0.008402064, -0.0472013],
        [-0.039964862, -0.05268766, -0.051563684, -0.028434273],
        [0.003089942, -0.03371966, 0.018215768, -0.03370282],
        [-0.053977102, 0.0072084814, -0.02956986, -0.05053608],
        [-0.052019794, -0.03941468, 0.0043608174, 0.0009703562],
        [-0.04821755, -0.044495236, -0.006864868, -0.05093339],
        [0.01428441, 0.024977796, -0.05042247, -0.048915774]])),
    ("ii", 10.0, 1.0): (np.array([
        [8.005922, -16.345762, -56.541565, 26.710419],
        [48.07454, -15.276232, -54.290344, -23.333447],
        [33.909157, -11.7002735, -41.470398, -12.203171],
        [53.978584, -44.950653, -155.03665, 35.662247],
        [-43.759827, 26.60742, 94.067245, -8.067614],
        [-54.89248, 27.65432, 98.01126, 2.716308],
        [-20.124432, 15.052708, 50.945107, -8.056763],
        [-24.354717, 18.668673, 63.352997, -13.260258]]), np.array([
        [5.9306755, 0.36690435, 3.2704418, 1.888069],
        [0.82734674, 0.2545749, 11.741838, 0.8719325],
        [1.5059139, 0.082850024, 2.323838, 2.0182073],
        [4.5024676, 0.36382264, 17.549932, 1.6964086],
        [0.5306816, 0.9700904, 7.1229596, 0.6682465],
        [0.66690767, 0.27946237, 14.52674, 3.8142185],
        [0.9315386, 0.20420422, 12.07726, 0.6439792],
        [5.281587, 1.2333069, 2.5728545, 0.7672136]])),
}
MODEL = {"i": "dip-vae-i", "ii": "dip-vae-ii"}
RTOL = 1e-5


def fixed_posterior():
    """(z_mean, z_logvar), (8, 4) float32: correlated means, log-variances in [-2, 0.5]."""
    rng = np.random.RandomState(2018)
    mix = rng.normal(size=(4, 4))
    mean = (rng.normal(size=(8, 4)) @ mix).astype("float32")
    log_variance = rng.uniform(-2.0, 0.5, size=(8, 4)).astype("float32")
    # The draws the pinned numbers were computed on (a numpy that drew differently would fail here).
    np.testing.assert_array_equal(mean[0], np.array([0.36510575, -1.2056096, -2.601839, 2.1226254], "float32"))
    np.testing.assert_array_equal(log_variance[7, 3], np.float32(-1.5262574))
    return mean, log_variance


def test_covariance_of_the_means_is_dlibs_and_numpys():
    mean, _ = fixed_posterior()
    covariance = np.asarray(dip_vae.covariance_of_means(mean))
    np.testing.assert_allclose(covariance, DLIB_COVARIANCE_OF_MEANS, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(covariance, np.cov(mean.astype("float64"), rowvar=False, bias=True), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("key", list(DLIB_PENALTY))
def test_penalty_equals_dlibs_regularizer(key):
    dip_type, lambda_od, factor = key
    mean, log_variance = fixed_posterior()
    covariance = (dip_vae.covariance_of_means(mean) if dip_type == "i"
                  else dip_vae.aggregate_posterior_covariance(mean, log_variance))
    off_diagonal, diagonal = (float(v) for v in dip_vae.covariance_penalties(covariance))
    penalty = lambda_od * off_diagonal + factor * lambda_od * diagonal
    np.testing.assert_allclose(penalty, DLIB_PENALTY[key], rtol=RTOL)


@pytest.mark.parametrize("key", list(DLIB_PENALTY_WITH_KL))
def test_the_models_loss_is_dlibs_batch_loss(key, monkeypatch):
    """The model's per-example loss, averaged over the batch, minus the mean reconstruction: dlib's
    regularizer (KL + penalty) on the same posterior. Each example carries the batch's penalty."""
    dip_type, lambda_od, factor = key
    mean, log_variance = fixed_posterior()
    model = build_model(MODEL[dip_type], latent_dim=4, image_shape=(32, 32, 1), hidden_units=16, seed=0,
                        lambda_od=lambda_od, lambda_d_factor=factor)
    monkeypatch.setattr(model, "encode", lambda x, training=False: (keras.ops.convert_to_tensor(mean),
                                                                    keras.ops.convert_to_tensor(log_variance)))
    noise = np.random.RandomState(0).normal(size=(8, 4)).astype("float32")
    terms = {k: np.asarray(v, "float64") for k, v in model.compute_terms(ellipse_batch(8), noise=noise).items()}
    np.testing.assert_allclose(terms["loss"].mean() - terms["reconstruction"].mean(), DLIB_PENALTY_WITH_KL[key],
                               rtol=RTOL)
    np.testing.assert_allclose(terms["kl"].mean(), DLIB_KL, rtol=RTOL)
    for name in ("off_diagonal", "diagonal"):  # one batch value, tracked unweighted
        assert terms[name].shape == (8,) and np.ptp(terms[name]) == 0
    np.testing.assert_allclose(lambda_od * terms["off_diagonal"][0] + factor * lambda_od * terms["diagonal"][0],
                               DLIB_PENALTY[key], rtol=RTOL)


def test_dip_vae_ii_adds_the_mean_encoder_variance_on_the_diagonal():
    mean, log_variance = fixed_posterior()
    difference = np.asarray(dip_vae.aggregate_posterior_covariance(mean, log_variance)) - np.asarray(
        dip_vae.covariance_of_means(mean))
    np.testing.assert_allclose(difference, np.diag(np.exp(log_variance.astype("float64")).mean(axis=0)),
                               rtol=1e-5, atol=1e-6)


def test_defaults_are_dlibs_study_values_and_bad_weights_are_refused():
    assert model_options("dip-vae-i") == {"lambda_od": 10.0, "lambda_d_factor": 10.0}
    assert model_options("dip-vae-ii") == {"lambda_od": 10.0, "lambda_d_factor": 1.0}
    model = build_model("dip-vae-ii", latent_dim=2, image_shape=(32, 32, 1), hidden_units=16, lambda_od=5.0)
    assert isinstance(model, hwkeras.DIPVAEII) and model.lambda_d == 5.0
    assert build_model("dip-vae-i", 2, (32, 32, 1), 16, lambda_od=2.0).lambda_d == 20.0
    with pytest.raises(ValueError, match="lambda_od must be a finite number >= 0, got -1"):
        build_model("dip-vae-i", 2, (32, 32, 1), 16, lambda_od=-1.0)
    from hwkeras.models import registry

    with pytest.raises(ValueError, match="lambda_d_factor must be a finite number >= 0, got -2"):
        registry.check_options("dip-vae-ii", {"lambda_d_factor": -2.0})  # before Keras, as hwkeras fit checks


@pytest.mark.parametrize("key", [("i", 10.0, 10.0), ("ii", 10.0, 1.0)])
def test_the_gradient_is_dlibs(key, monkeypatch):
    """d(batch-mean loss - mean reconstruction)/d(z_mean, z_logvar) is dlib's tf.gradients of its
    regularizer (KL + penalty): spreading the batch penalty over the examples keeps dlib's gradient."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient is taken with tf.GradientTape; backend parity covers JAX and torch")
    dip_type, lambda_od, factor = key
    model = build_model(MODEL[dip_type], latent_dim=4, image_shape=(32, 32, 1), hidden_units=16, seed=0,
                        lambda_od=lambda_od, lambda_d_factor=factor)
    mean, log_variance = (tf.constant(a) for a in fixed_posterior())
    monkeypatch.setattr(model, "encode", lambda x, training=False: (mean, log_variance))
    noise = np.random.RandomState(0).normal(size=(8, 4)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch([mean, log_variance])
        terms = model.compute_terms(ellipse_batch(8), noise=noise)
        regularizer = tf.reduce_mean(terms["loss"]) - tf.reduce_mean(terms["reconstruction"])
    grad_mean, grad_log_variance = (g.numpy() for g in tape.gradient(regularizer, [mean, log_variance]))
    expected_mean, expected_log_variance = DLIB_GRADIENTS[key]
    # Relative to the largest entry: the smallest are differences of O(100) float32 numbers.
    np.testing.assert_allclose(grad_mean, expected_mean, rtol=RTOL, atol=RTOL * np.abs(expected_mean).max())
    np.testing.assert_allclose(grad_log_variance, expected_log_variance, rtol=RTOL,
                               atol=RTOL * np.abs(expected_log_variance).max())
