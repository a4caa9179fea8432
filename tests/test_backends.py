"""Backend parity: every model's loss terms, one optimizer step, .keras files, the inverse-Wishart
sampler and a short fit agree across TensorFlow, JAX and PyTorch.

The computations live in ``tests/backend_worker.py``, run once per backend: in this process for
the active backend, in a subprocess (with KERAS_BACKEND set) for the others. TensorFlow is the
reference and always runs first. Under TensorFlow this module checks JAX and torch; under
KERAS_BACKEND=jax or torch it checks that backend alone (``make test`` runs it that way).

The discriminator's permutation of the codes is fixed by the worker (the backends' random
streams differ), so the adversarial terms are compared exactly too.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy import special, stats

from tests import backend_worker as worker
from tests import precision_check
from tests.helpers import deadline, student_t_radius_pvalue

ACTIVE = keras.backend.backend()
CHECKED = ("jax", "torch") if ACTIVE == "tensorflow" else (ACTIVE,)
RTOL = 1e-4
# beta-TCVAE's tc is a difference of O(10) float32 log-densities that nearly cancel: its rounding
# floor is ~1e-6 absolute however small tc itself is.
ABSOLUTE_FLOOR = {"beta-tcvae/terms/tc": 1e-5}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("backends"))
    # TensorFlow first (it saves the initial weights the others load), then the others side by side:
    # the subprocesses start before this process's own worker runs.
    out = {"tensorflow": worker.run(workdir) if ACTIVE == "tensorflow" else _worker(workdir, "tensorflow")}
    others = {backend: _start_worker(workdir, backend) for backend in CHECKED if backend != ACTIVE}
    if ACTIVE != "tensorflow":
        out[ACTIVE] = worker.run(workdir)
    for backend, process in others.items():
        out[backend] = _finish_worker(workdir, backend, process)
    out["workdir"] = workdir
    return out


EXPORT_COMMAND = [sys.executable, "-m", "hwkeras.cli.main", "export"]


@pytest.fixture(scope="module")
def in_tensorflow(results):
    """What TensorFlow makes of the other backends' work: ``hwkeras export`` run under JAX/torch on
    the .keras file that backend saved (the CLI hands it to a TensorFlow subprocess), then one
    TensorFlow process loads every .keras file the other backends saved and runs that SavedModel."""
    workdir, backend = results["workdir"], CHECKED[-1]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = EXPORT_COMMAND + [os.path.join(workdir, f"{backend}_chyvae.keras"), "--output",
                                os.path.join(workdir, "export")]
    exported = subprocess.run(command, env=env, capture_output=True, text=True, timeout=deadline(300))
    loaded = (worker.load_under_tensorflow(workdir) if ACTIVE == "tensorflow"
              else _worker(workdir, "tensorflow", load=True))
    return {"export": exported, "export_env": env, "export_command": command, **loaded}


def _start_worker(workdir, backend, load=False):
    """Starts tests/backend_worker.py under ``backend``; ``load``: its TensorFlow loading role."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, worker.__file__, workdir] + (["--load"] if load else []), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish_worker(workdir, backend, process, load=False):
    try:
        _, err = process.communicate(timeout=deadline(300))
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, f"{backend} worker failed:\n{err[-3000:]}"
    return dict(np.load(os.path.join(workdir, "tensorflow_loaded.npz" if load else f"{backend}.npz")))


def _worker(workdir, backend, load=False):
    return _finish_worker(workdir, backend, _start_worker(workdir, backend, load), load)


def close(actual, expected, rtol=RTOL, floor=0.0):
    """Relative agreement, the scale being the largest entry of ``expected`` (terms near 0 included)."""
    actual, expected = np.asarray(actual, "float64"), np.asarray(expected, "float64")
    scale = max(np.abs(expected).max(), 1e-12)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=max(rtol * scale, floor))


@pytest.mark.parametrize("backend", CHECKED)
@pytest.mark.parametrize("name", list(worker.MODELS))
def test_loss_terms_and_one_sgd_step_match_tensorflow(results, backend, name):
    reference, other = results["tensorflow"], results[backend]
    np.testing.assert_array_equal(other[f"{name}/initial"], reference[f"{name}/initial"])
    keys = [k for k in reference if k.startswith(f"{name}/terms/")]
    assert keys and keys == [k for k in other if k.startswith(f"{name}/terms/")]
    for key in keys:
        if key.endswith("discriminator_accuracy"):  # 0, 1/2 or 1: a sign of a logit difference
            np.testing.assert_array_equal(other[key], reference[key])
        else:
            close(other[key], reference[key], floor=ABSOLUTE_FLOOR.get(key, 0.0))
    # Same weights after the step, and the same update (the step is small next to the weights,
    # so the update is the sharper check; it includes D's own Adam step for adversarial models).
    close(other[f"{name}/after_step"], reference[f"{name}/after_step"])
    initial = reference[f"{name}/initial"]
    update = reference[f"{name}/after_step"] - initial
    assert np.abs(update).max() > 0
    close(other[f"{name}/after_step"] - initial, update, rtol=1e-3)


@pytest.mark.parametrize("backend", ("tensorflow",) + CHECKED)
def test_lgamma_and_digamma_match_scipy(results, backend):
    x = worker.SPECIAL_POINTS.astype("float64")
    np.testing.assert_allclose(results[backend]["special/lgamma"], special.gammaln(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(results[backend]["special/digamma"], special.digamma(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ("tensorflow",) + CHECKED)
def test_sampler_moments_match_the_inverse_wishart(results, backend):
    """E[Sigma] = Psi / (nu - p - 1), E[Sigma^-1] = nu Psi^-1, within 5 standard errors."""
    psi, nu = worker.SAMPLER_PSI, worker.SAMPLER_NU
    p = psi.shape[0]
    keys = ["sampler/sigma"] + (["bartlett/sigma"] if backend == "tensorflow" else [])
    for key in keys:
        sigma = results[backend][key]
        assert sigma.shape == (worker.SAMPLER_DRAWS, p, p)
        for draws, expected in ((sigma, psi / (nu - p - 1)), (np.linalg.inv(sigma), nu * np.linalg.inv(psi))):
            error = draws.std(axis=0) / np.sqrt(len(draws))
            assert np.all(np.abs(draws.mean(axis=0) - expected) < 5 * error + 1e-9), (key, draws.mean(0), expected)


@pytest.mark.parametrize("backend", ("tensorflow",) + CHECKED)
def test_prior_latents_have_the_student_t_tails_of_their_nu(results, backend):
    """CHyVAE's sample_latents (TFP's Wishart on TensorFlow, the Bartlett decomposition on JAX and
    torch): z is multivariate t with nu - p + 1 degrees of freedom, at the model's nu (7 degrees of
    freedom) and at nu = 5 (3, Psi rescaled by 1/6); a Gaussian z, or nu= ignored, fails the KS test."""
    r = results[backend]
    psi, nu = r["latents/psi"], float(r["latents/nu"])
    p = psi.shape[0]
    assert student_t_radius_pvalue(r["latents/z"], psi, nu) > 1e-3
    rescaled = psi * max(worker.LATENT_NU - p - 1, 1) / (nu - p - 1)
    assert student_t_radius_pvalue(r["latents/z_nu"], rescaled, worker.LATENT_NU) > 1e-3
    assert student_t_radius_pvalue(r["latents/z_nu"], rescaled, nu) < 1e-6  # and nu= made the difference


@pytest.mark.parametrize("backend", CHECKED)
def test_sampler_draws_agree_in_distribution_with_tfp(results, backend):
    tfp_draws = results["tensorflow"]["sampler/sigma"]
    for summary in (lambda s: np.linalg.slogdet(s)[1], lambda s: np.trace(s, axis1=1, axis2=2)):
        assert stats.ks_2samp(summary(results[backend]["sampler/sigma"]), summary(tfp_draws)).pvalue > 1e-3
    if ACTIVE == "tensorflow":  # the keras.ops path under TF too
        bartlett = results["tensorflow"]["bartlett/sigma"]
        assert stats.ks_2samp(np.linalg.slogdet(bartlett)[1], np.linalg.slogdet(tfp_draws)[1]).pvalue > 1e-3


@pytest.mark.parametrize("backend", CHECKED)
@pytest.mark.parametrize("name", worker.ROUND_TRIP)
def test_keras_files_load_across_backends_with_identical_outputs(results, in_tensorflow, backend, name):
    """TF's file under each backend, each backend's file under TF, and JAX's file under torch."""
    other = results[backend]
    pairs = [(other, f"{name}/from_tensorflow", results["tensorflow"], f"{name}/own"),
             (in_tensorflow, f"{name}/from_{backend}", other, f"{name}/own")]
    if backend == "torch" and "jax" in results:
        pairs.append((other, f"{name}/from_jax", results["jax"], f"{name}/own"))
    for loaded, prefix, saved, saved_prefix in pairs:
        for suffix in ("encode_0", "encode_1", "call", "iterations", "sample_shape"):
            # Identical weights; the forward pass itself may differ by float32 rounding across backends.
            close(loaded[f"{prefix}/{suffix}"], saved[f"{saved_prefix}/{suffix}"], rtol=1e-5)


@pytest.mark.parametrize("backend", CHECKED)
@pytest.mark.parametrize("name", worker.FIT)
def test_short_fit_lowers_the_loss_and_keeps_all_state(results, backend, name):
    fit = {k.split("/")[-1]: v for k, v in results[backend].items() if k.startswith(f"fit/{name}/")}
    assert fit["after"] < 0.95 * fit["before"], fit
    assert fit["iterations"] == 12 and fit["seed_moved"]
    if name in ("factor-vae", "bf-vae-1"):  # D's weights and Adam state survive JAX's end-of-epoch state sync
        assert fit["d_iterations"] == 12 and fit["d_change"] > 1e-4
    if name == "annealed-vae":  # AnnealedVAE's capacity schedule counted every step
        assert fit["annealing_step"] == 12


@pytest.mark.parametrize("backend", CHECKED)
@pytest.mark.parametrize("name", precision_check.MODELS)
def test_mixed_bfloat16_keeps_the_terms_trains_and_saves_its_policy(results, backend, name):
    """Tolerances and what is checked: tests/precision_check.py (TensorFlow's: tests/test_precision.py)."""
    precision_check.check(results[backend], name)


@pytest.mark.parametrize("backend", CHECKED)
def test_mixed_bfloat16_kl_terms_match_float64_from_the_models_posterior(results, backend):
    """kl_latent and kl_hyperprior to float32 accuracy (tests/precision_check.py, check_kl_float64)."""
    precision_check.check_kl_float64(results[backend])


@pytest.mark.parametrize("backend", ("tensorflow",) + CHECKED)
@pytest.mark.parametrize("name", worker.PROBE)
def test_vae_first_order_trains_the_discriminator_on_the_updated_encoders_codes_of_a_second_batch(
        results, backend, name):
    probe = {k.split("/")[-1]: v for k, v in results[backend].items() if k.startswith(f"probe/{name}/")}
    # D's codes are the second batch's under the encoder after the VAE step ...
    close(probe["codes"], probe["after"], rtol=1e-5)
    # ... which neither the encoder before the step nor the VAE's own batch (same noise) would
    # give: either would be off by 100 times the tolerance above.
    scale = np.abs(probe["after"]).max()
    for wrong in ("before", "vae_batch"):
        assert np.abs(probe["codes"] - probe[wrong]).max() > 1e-3 * scale, wrong
    if backend != "tensorflow":
        close(probe["codes"], results["tensorflow"][f"probe/{name}/codes"])


def test_cli_export_from_another_backend_runs_in_tensorflow(results, in_tensorflow):
    """``hwkeras export`` under JAX/torch hands the .keras file that backend saved to a TensorFlow
    subprocess; the SavedModel encodes and reconstructs as that backend's model does."""
    done = in_tensorflow["export"]
    assert done.returncode == 0, done.stderr[-3000:]
    export = os.path.join(results["workdir"], "export")
    assert os.path.isfile(os.path.join(export, "saved_model.pb")) and os.path.isfile(os.path.join(export, "model.json"))
    own = results[CHECKED[-1]]
    close(in_tensorflow["export/encode/mean"], own["chyvae/own/encode_0"], rtol=1e-5)
    close(in_tensorflow["export/encode/scale_tril"], own["chyvae/own/encode_1"], rtol=1e-5)
    close(in_tensorflow["export/reconstruct"], own["chyvae/own/call"], rtol=1e-5)
    again = subprocess.run(in_tensorflow["export_command"], env=in_tensorflow["export_env"], capture_output=True,
                           text=True, timeout=deadline(300))
    assert again.returncode == 2 and "already exists" in again.stderr
