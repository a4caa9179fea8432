"""Baseline models: registry, training mechanics, short fits, .keras round trips, SavedModel export."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import hwkeras
from hwkeras.baselines import discriminator as adversary
from hwkeras.export import export_saved_model
from hwkeras.models import MODELS, build_model, model_options
from tests.helpers import deadline, ellipse_batch

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
                         check=True, timeout=deadline(120)).stdout
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
    "dip-vae-i": {"reconstruction", "kl", "off_diagonal", "diagonal", "elbo"},
    "dip-vae-ii": {"reconstruction", "kl", "off_diagonal", "diagonal", "elbo"},
    "annealed-vae": {"reconstruction", "kl", "capacity", "elbo"},
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
                            "bf-vae-2", "dip-vae-i", "dip-vae-ii", "annealed-vae"]
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
    """The model's loss never moves the discriminator, and D's loss never moves the encoder.

    "model": the model's optimizer takes real SGD steps but the model's loss is made flat (0 x loss),
    so any change to a non-discriminator weight could only come from D's loss leaking into it."""
    x = ellipse_batch(16)
    options = {"discriminator_learning_rate": 0.0} if frozen == "discriminator" else {}
    model = tiny("factor-vae", **options)
    if frozen == "model":
        compute_terms = model.compute_terms

        def flat_loss(x, training=False, noise=None):
            terms = compute_terms(x, training=training, noise=noise)
            return {**terms, "loss": 0.0 * terms["loss"]}

        model.compute_terms = flat_loss
    model.compile(optimizer=keras.optimizers.SGD(0.1))
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


# -- the discriminator of each model and the order of the two updates --------------------------------
def hidden_and_logit_layers(model):
    dense = [layer for layer in model.discriminator.layers if isinstance(layer, keras.layers.Dense)]
    return dense[:-1], dense[-1]


@pytest.mark.parametrize("name, layers", [("factor-vae", 6), ("bf-vae-0", 5), ("bf-vae-1", 5), ("bf-vae-2", 5)])
def test_discriminator_architecture_and_initialisation(name, layers):
    """FactorVAE: disentanglement_lib's fc_discriminator (tf.layers.dense defaults: Glorot-uniform
    kernels, zero biases); BF-VAE: the authors' (N(0, 0.02) kernels, zero biases); 1000 units and
    leaky ReLU 0.2 in both."""
    keras.utils.set_random_seed(0)
    model = build_model(name, latent_dim=10, image_shape=SHAPE, hidden_units=32)
    hidden, logits = hidden_and_logit_layers(model)
    assert len(hidden) == layers and model.discriminator_layers == layers
    assert [layer.units for layer in hidden] == [1000] * layers and logits.units == 2
    rng = np.random.default_rng(0)
    for layer in hidden:
        h = rng.normal(size=(64, layer.kernel.shape[0])).astype("float32")
        pre = h.astype("float64") @ np.asarray(layer.kernel, "float64") + np.asarray(layer.bias)
        assert (pre < -0.1 * np.abs(pre).max()).any() and (pre > 0).any()
        # float32 sums of 1000 products: agreement to 1e-5 of the scale; slope 0.3 would miss by 0.1 |pre|.
        np.testing.assert_allclose(np.asarray(layer(h)), np.where(pre > 0, pre, 0.2 * pre), rtol=0,
                                   atol=1e-5 * np.abs(pre).max())
    kernels = [np.asarray(layer.kernel, "float64") for layer in hidden + [logits]]
    for layer, kernel in zip(hidden + [logits], kernels):
        np.testing.assert_array_equal(np.asarray(layer.bias), 0.0)
        fan_in, fan_out = kernel.shape
        if name == "factor-vae":
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            assert np.abs(kernel).max() <= limit
            # Uniform on [-limit, limit]: standard deviation limit / sqrt(3), no mass near the ends missing.
            np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.02 if kernel.size > 1e4 else 0.3)
        else:
            # N(0, 0.02): standard errors of the mean and std are 0.02 / sqrt(n) and 0.02 / sqrt(2n).
            n = kernel.size
            assert abs(kernel.mean()) < 5 * 0.02 / np.sqrt(n)
            assert abs(kernel.std() - 0.02) < 5 * 0.02 / np.sqrt(2 * n) + 1e-7
            if n > 1e4:
                assert abs(kernel.max()) > 4 * 0.02  # Gaussian tails, not a bounded uniform
    assert not np.array_equal(kernels[1], kernels[2])  # each layer its own draw


def test_update_order_option_and_images_per_step():
    assert tiny("factor-vae").update_order == "simultaneous" and tiny("factor-vae").images_per_step == 1
    for name in ("bf-vae-0", "bf-vae-1", "bf-vae-2"):
        assert model_options(name)["update_order"] == "vae-first"
        assert tiny(name).images_per_step == 2
    assert tiny("factor-vae", update_order="vae-first").images_per_step == 2
    simultaneous = tiny("bf-vae-1", update_order="simultaneous")
    assert simultaneous.images_per_step == 1 and simultaneous.get_config()["update_order"] == "simultaneous"
    with pytest.raises(ValueError, match="update_order must be one of simultaneous, vae-first, got 'later'"):
        tiny("bf-vae-1", update_order="later")


def test_split_batch_halves_and_odd_batches():
    from hwkeras.training import split_batch

    model = tiny("bf-vae-1")
    x = np.arange(6, dtype="float32")[:, None]
    first, second = (np.asarray(t)[:, 0] for t in split_batch(model, x))
    np.testing.assert_array_equal(first, [0, 1, 2])
    np.testing.assert_array_equal(second, [3, 4, 5])
    first, second = (np.asarray(t)[:, 0] for t in split_batch(model, x[:5]))
    np.testing.assert_array_equal(first, [0, 1, 2])
    np.testing.assert_array_equal(second, [2, 3, 4])
    first, second = (np.asarray(t)[:, 0] for t in split_batch(model, x[:1]))
    np.testing.assert_array_equal(first, [0])
    np.testing.assert_array_equal(second, [0])
    assert split_batch(tiny("factor-vae"), x)[1] is None
    # Graph mode with an unknown batch size, as tf.data hands batches to a compiled step.
    import tensorflow as tf

    traced = tf.function(lambda t: split_batch(model, t), input_signature=[tf.TensorSpec((None, 1))])
    first, second = (np.asarray(t)[:, 0] for t in traced(x[:5]))
    np.testing.assert_array_equal(first, [0, 1, 2])
    np.testing.assert_array_equal(second, [2, 3, 4])
    # Batches of 2, 2 and 1: even one image still trains both players.
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(ellipse_batch(5), batch_size=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 3 and int(model.discriminator_optimizer.iterations) == 3


def _fixed_step_model(name, noise, discriminator_noise, learning_rate):
    """A tiny model whose step draws fixed noise and whose D takes plain SGD steps (Adam's first
    step, about lr * sign(gradient), would hide which codes the gradient came from)."""
    keras.utils.set_random_seed(3)
    model = tiny(name)
    if name == "bf-vae-2":
        model.relevance_logit.assign(np.array([-1.0, 0.5, 2.0], "float32"))
    compute_terms, discriminator_codes, fixed_noise = model.compute_terms, model.discriminator_codes, noise
    model.compute_terms = lambda x, training=False, noise=None: compute_terms(x, training, noise=fixed_noise)
    model.discriminator_codes = lambda x, training=False, noise=None: discriminator_codes(
        x, training, noise=discriminator_noise)
    model.discriminator_optimizer = keras.optimizers.SGD(learning_rate)
    model.discriminator_optimizer.build(model.discriminator.trainable_variables)
    return model


@pytest.mark.parametrize("name", ["factor-vae", "bf-vae-2"])
def test_step_matches_a_hand_computed_oracle_of_its_update_order(name, monkeypatch):
    """One SGD step of each player against plain-TF gradients: FactorVAE's simultaneous order
    (both gradients at the old weights, one batch) and BF-VAE's vae-first order (the VAE step on
    the first batch, then D's gradient on the second batch's codes from the *updated* encoder)."""
    import tensorflow as tf

    lr, lr_d, b = 0.1, 0.5, 8
    monkeypatch.setattr(adversary, "permute_dims", lambda codes, seed=None: keras.ops.flip(codes, axis=0))
    rng = np.random.default_rng(4)
    x1, x2 = ellipse_batch(b, seed=5), ellipse_batch(b, seed=6)
    e1, e2 = (rng.normal(size=(b, P)).astype("float32") for _ in range(2))
    model = _fixed_step_model(name, e1, e2, lr_d)
    oracle = _fixed_step_model(name, e1, e2, lr_d)
    oracle.set_weights(model.get_weights())
    vae_first = model.update_order == "vae-first"
    assert vae_first == (name == "bf-vae-2")

    d_weights = oracle.discriminator.trainable_weights
    vae_weights = [w for w in oracle.trainable_weights if all(w is not d for d in d_weights)]

    def discriminator_gradient(codes):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(oracle.total_correlation_terms(codes)["discriminator_loss"])
        return loss, tape.gradient(loss, d_weights)

    with tf.GradientTape() as tape:
        terms = oracle.compute_terms(x1, training=True)
        loss = tf.reduce_mean(terms["loss"])
    vae_grads = tape.gradient(loss, vae_weights)

    def codes_of(x, noise):
        return oracle.tc_codes(oracle.reparameterize(*oracle.encode(x), noise))

    # Which codes D's gradient is taken on: the oracle of each order and the wrong alternatives.
    candidates = {"old encoder, first batch": codes_of(x1, e1), "old encoder, second batch": codes_of(x2, e2)}
    for w, g in zip(vae_weights, vae_grads):
        w.assign_sub(lr * g)
    candidates["updated encoder, second batch"] = codes_of(x2, e2)
    expected_source = "updated encoder, second batch" if vae_first else "old encoder, first batch"
    d_loss, d_grads = discriminator_gradient(candidates[expected_source])
    stack = lambda ws: np.concatenate([np.ravel(np.asarray(w, "float64")) for w in ws])  # noqa: E731
    d_initial = stack(d_weights)

    seen = []
    original = model.total_correlation_terms
    monkeypatch.setattr(model, "total_correlation_terms",
                        lambda codes, training=False: seen.append(np.asarray(codes)) or original(codes, training))
    model.compile(optimizer=keras.optimizers.SGD(lr), run_eagerly=True)
    logs = model.train_on_batch(np.concatenate([x1, x2]) if vae_first else x1, return_dict=True)

    for actual, w in zip(model.trainable_weights, oracle.trainable_weights):
        if all(actual is not d for d in model.discriminator.trainable_weights):
            np.testing.assert_allclose(np.asarray(actual), np.asarray(w), rtol=1e-5, atol=1e-6)
    assert len(seen) == (2 if vae_first else 1)
    np.testing.assert_allclose(seen[0], np.asarray(candidates["old encoder, first batch"]), rtol=1e-5, atol=1e-6)
    codes = seen[-1]
    scale = np.abs(codes).max()
    np.testing.assert_allclose(codes, np.asarray(candidates[expected_source]), rtol=0, atol=1e-5 * scale)
    for source, wrong in candidates.items():
        if source != expected_source:  # each wrong source would be off by 100 times that
            assert np.abs(codes - np.asarray(wrong)).max() > 1e-3 * scale, source
    # D took one SGD step on the gradient at those codes (float32 weights: the update is known to
    # ~1e-9 absolute, far below 1e-3 of it), and the tracked discriminator loss is that step's.
    update = stack(model.discriminator.trainable_weights) - d_initial
    expected_update = -lr_d * stack(d_grads)
    np.testing.assert_allclose(update, expected_update, rtol=0, atol=1e-3 * np.abs(expected_update).max())
    np.testing.assert_allclose(logs["discriminator_loss"], float(d_loss), rtol=1e-5)
