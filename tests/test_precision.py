"""mixed_bfloat16 (``dtype=`` or the global Keras policy) against float32 on TensorFlow; JAX and
torch run the same check in tests/test_backends.py. Tolerances: tests/precision_check.py."""

import keras
import numpy as np
import pytest

import hwkeras
from tests import precision_check


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return precision_check.run(str(tmp_path_factory.mktemp("precision")))


@pytest.mark.parametrize("name", precision_check.MODELS)
def test_mixed_bfloat16_terms_fit_and_file_match_float32(record, name):
    precision_check.check(record, name)


def test_mixed_bfloat16_kl_terms_match_float64_from_the_models_posterior(record):
    """kl_latent and kl_hyperprior to float32 accuracy (tests/precision_check.py, check_kl_float64)."""
    precision_check.check_kl_float64(record)


def test_the_global_policy_applies_and_the_hyperprior_layers_stay_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = hwkeras.HyperpriorVAE(latent_dim=3, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in model.decoder.layers} == {"mixed_bfloat16"}
    assert model.head.dtype_policy.name == "float32" and model.hyperprior.dtype_policy.name == "float32"
    sigma = model.prior_covariances(5)
    assert keras.backend.standardize_dtype(sigma.dtype) == "float32"
    assert np.all(np.linalg.eigvalsh(keras.ops.convert_to_numpy(sigma)) > 0)


@pytest.mark.parametrize("policy", ["float16", "mixed_float16", "bfloat16", "float64"])
def test_other_policies_are_rejected_in_one_line(policy):
    with pytest.raises(ValueError, match="float32 or mixed_bfloat16") as info:
        hwkeras.VAE(latent_dim=2, image_shape=(16, 16, 1), hidden_units=8, dtype=policy)
    assert "\n" not in str(info.value)
