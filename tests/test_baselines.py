"""Baseline models: registry, training mechanics, short fits, .keras round trips, SavedModel export."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import keras

import hwkeras
from hwkeras.models import MODELS, build_model, model_options
from hwkeras.export import export_saved_model
from tests.helpers import ellipse_batch

# Served in a fresh process with keras, hwkeras and TFP unimportable, as on a serving machine.
SERVE = """
import json, sys
for name in ("keras", "hwkeras", "tensorflow_probability", "tf_keras"):
    sys.modules[name] = None
import numpy as np, tensorflow as tf
sig = tf.saved_model.load(sys.argv[1]).signatures
x = tf.constant(np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype("float32"))
encoded = sig["encode"](images=x)
decoded = sig["decode"](z=encoded["mean"])["images"]
first, second = (sig["sample"](num_samples=tf.constant(4)) for _ in range(2))
out = {
    "encode": {k: v.shape.as_list() for k, v in encoded.items()},
    "reconstruct_minus_decode_mean": float(tf.reduce_max(tf.abs(sig["reconstruct"](images=x)["images"] - decoded))),
    "sample": {k: v.shape.as_list() for k, v in first.items()},
    "sample_calls_differ": bool(tf.reduce_max(tf.abs(first["z"] - second["z"])) > 1e-3),
}
if "sample_seeded" in sig:
    a, b = (sig["sample_seeded"](num_samples=tf.constant(4), seed=tf.constant(7))["z"] for _ in range(2))
    out["sample_seeded_repeats"] = bool(np.array_equal(a.numpy(), b.numpy()))
print(json.dumps(out))
"""


def serve(path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", SERVE, str(path)], capture_output=True, text=True, env=env,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])

P = 3
SHAPE = (32, 32, 1)
SMALL_D = dict(discriminator_units=32, discriminator_layers=2)
ADVERSARIAL = {"factor-vae", "bf-vae-0", "bf-vae-1", "bf-vae-2"}
TERMS = {
    "chyvae": {"reconstruction", "kl_latent", "kl_hyperprior", "elbo"},
    "vae": {"reconstruction", "kl", "elbo"},
    "beta-vae": {"reconstruction", "kl", "elbo"},
    "factor-vae": {"reconstruction", "kl", "tc", "discriminator_loss", "discriminator_accuracy", "elbo"},
    "beta-tcvae": {"reconstruction", "kl", "tc", "elbo"},
    "bf-vae-0": {"reconstruction", "kl", "variance_penalty", "tc", "discriminator_loss",
                 "discriminator_accuracy", "elbo"},
    "bf-vae-1": {"reconstruction", "kl_latent", "kl_hyperprior", "tc", "discriminator_loss",
                 "discriminator_accuracy", "elbo"},
    "bf-vae-2": {"reconstruction", "kl_latent", "kl_hyperprior", "relevance_l1", "relevance_entropy", "tc",
                 "discriminator_loss", "discriminator_accuracy", "elbo"},
}


def tiny(name, seed=0, **options):
    if name == "chyvae":
        options.setdefault("nu", 10.0)
    if name in ADVERSARIAL:
        options = {**SMALL_D, **options}
    if name in ("bf-vae-1", "bf-vae-2"):
        options.setdefault("dataset_size", 64)
    return build_model(name, latent_dim=P, image_shape=SHAPE, hidden_units=32, seed=seed, **options)


def test_registry_names_and_errors():
    assert list(MODELS) == ["chyvae", "vae", "beta-vae", "factor-vae", "beta-tcvae", "bf-vae-0", "bf-vae-1",
                            "bf-vae-2"]
    assert MODELS["chyvae"] is hwkeras.HyperpriorVAE
    with pytest.raises(ValueError, match="unknown model 'bvae'; choose one of: chyvae, vae, beta-vae"):
        build_model("bvae", P, SHAPE, 32)
    with pytest.raises(ValueError, match="takes no option gamma; its options are: beta"):
        build_model("beta-vae", P, SHAPE, 32, gamma=3.0)
    model = build_model("beta-vae", P, SHAPE, 32, beta=None)  # None: the model's default
    assert model.beta == 4.0
    assert model_options("factor-vae")["gamma"] == 10.0
    assert model_options("bf-vae-2")["gamma"] == 35.0 and model_options("bf-vae-2")["eta_s"] == 0.1


@pytest.mark.parametrize("name", [n for n in MODELS if n != "chyvae"])
def test_short_fit_lowers_the_loss_and_round_trips(name, tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny(name)
    x = ellipse_batch(64, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    before = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    history = model.fit(x, batch_size=32, epochs=10, verbose=0)
    after = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    assert set(history.history) == TERMS[name] | {"loss"}
    assert after["loss"] < 0.7 * before["loss"], (before, after)
    assert all(np.isfinite(v) for v in after.values()), after

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    for a, b in zip(model.encode(x[:5]), loaded.encode(x[:5])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(model(x[:5])), np.asarray(loaded(x[:5])))
    z = np.random.default_rng(0).normal(size=(3, P)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model.decode(z)), np.asarray(loaded.decode(z)))
    for a, b in zip(model.weights, loaded.weights):  # discriminator and learned priors included
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for optimizer in ("optimizer", "discriminator_optimizer"):
        if hasattr(model, optimizer):
            saved, restored = getattr(model, optimizer).variables, getattr(loaded, optimizer).variables
            assert len(saved) == len(restored) and int(getattr(loaded, optimizer).iterations) == 20
            for a, b in zip(saved, restored):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(loaded.sample(2)).shape == (2, *SHAPE)


@pytest.mark.parametrize("frozen", ["discriminator", "model"])
def test_each_optimizer_trains_only_its_own_weights(frozen):
    """The model's loss never moves the discriminator, and D's loss never moves the encoder."""
    x = ellipse_batch(16)
    options = {"discriminator_learning_rate": 0.0} if frozen == "discriminator" else {}
    model = tiny("factor-vae", **options)
    optimizer = keras.optimizers.SGD(0.0 if frozen == "model" else 0.1)
    model.compile(optimizer=optimizer)
    before = [np.asarray(w).copy() for w in model.trainable_weights]
    model.fit(x, batch_size=16, epochs=1, verbose=0)
    changed = {id(w) for w, old in zip(model.trainable_weights, before) if not np.array_equal(old, np.asarray(w))}
    discriminator = {id(w) for w in model.discriminator.trainable_weights}
    assert discriminator < {id(w) for w in model.trainable_weights}
    if frozen == "discriminator":
        assert changed and not changed & discriminator
    else:
        assert changed == discriminator


@pytest.mark.parametrize("name", ["factor-vae", "bf-vae-0", "bf-vae-1"])
def test_saved_model_serves_encode_and_sample(tmp_path, name):
    model = tiny(name)
    path = export_saved_model(model, tmp_path / "model")
    report = serve(path)
    assert report["encode"] == {"mean": [3, P], "log_variance": [3, P]}
    assert report["reconstruct_minus_decode_mean"] < 1e-5
    assert report["sample"] == {"images": [4, *SHAPE], "z": [4, P]}
    assert report["sample_calls_differ"]
    assert report.get("sample_seeded_repeats", True)


def test_bf_vae_2_relevance_scales_the_discriminator_input(monkeypatch):
    model = tiny("bf-vae-2")
    model.relevance_logit.assign(np.array([-50.0, 0.0, 50.0], "float32"))
    seen = []
    monkeypatch.setattr(model, "total_correlation_terms",
                        lambda codes, training=False: seen.append(np.asarray(codes)) or
                        {k: np.zeros(len(codes), "float32") for k in ("tc", "discriminator_loss",
                                                                       "discriminator_accuracy")})
    x = ellipse_batch(4)
    noise = np.random.default_rng(0).normal(size=(4, P)).astype("float32")
    model.compute_terms(x, noise=noise)
    mean, log_variance = (np.asarray(t) for t in model.encode(x))
    z = mean + np.exp(0.5 * log_variance) * noise
    np.testing.assert_allclose(seen[0], z * np.array([0.0, 0.5, 1.0]), rtol=1e-5, atol=1e-6)


def test_bf_vae_rejects_a_nonpositive_dataset_size():
    with pytest.raises(ValueError, match="dataset_size"):
        tiny("bf-vae-1", dataset_size=0)
