"""``architecture="dlib"`` against disentanglement_lib's own ``conv_encoder`` / ``deconv_decoder``.

The oracle is disentanglement_lib's TF1 graph, built outside this repository with TF2's
``tf.compat.v1`` (tests/models/dlib_reference.py says how): the per-layer output shapes and parameter
counts below are what that graph printed, and tests/fixtures/dlib_architecture.npz holds its outputs
on the seeded weights and inputs of ``dlib_reference`` (the weights are drawn again here, not stored).
"""

import json

import keras
import numpy as np
import pytest

from hwkeras.baselines.discriminator import DISCRIMINATOR_LEARNING_RATE
from hwkeras.layers.dlib import DLIB_HIDDEN_UNITS
from hwkeras.models import build_model, load_model
from hwkeras.runs.plan import DEFAULTS, resolve_options
from tests.models.dlib_reference import inputs, seeded_weights

FIXTURE = "tests/fixtures/dlib_architecture.npz"
P = 10

# The TF1 graph's layers (name, output shape without the batch, parameters), 64x64xC images and 10
# latents, as dlib_reference.py printed them; C only changes e1's and d6's parameters.
ENCODER = [("e1", (32, 32, 32), lambda c: 16 * c * 32 + 32), ("e2", (16, 16, 32), lambda c: 16416),
           ("e3", (8, 8, 64), lambda c: 8256), ("e4", (4, 4, 64), lambda c: 16448),
           ("flatten", (1024,), lambda c: 0), ("e5", (256,), lambda c: 262400)]
HEAD = 2 * (256 * P + P)  # means and log_var: two Dense(10) in dlib, one Dense(20) here
DECODER = [("d1", (256,), lambda c: 2816), ("d2", (1024,), lambda c: 263168), ("reshape", (4, 4, 64), lambda c: 0),
           ("d3", (8, 8, 64), lambda c: 65600), ("d4", (16, 16, 32), lambda c: 32800),
           ("d5", (32, 32, 32), lambda c: 16416), ("d6", (64, 64, None), lambda c: 16 * 32 * c + c)]
# disentanglement_lib's totals ("encoder parameters", "decoder parameters" in dlib_reference.py's output).
TOTALS = {1: (309_204, 381_313), 3: (310_228, 382_339)}
# dlib's trainable variables in graph order; the fixture's weights were drawn in this order.
DLIB_LAYERS = [f"encoder/{name}" for name in ("e1", "e2", "e3", "e4", "e5", "means", "log_var")] + \
    [f"decoder/{name}" for name in ("dense", "dense_1", "conv2d_transpose", "conv2d_transpose_1", "conv2d_transpose_2",
                                    "conv2d_transpose_3")]
DLIB_VARIABLES = [f"{layer}/{weight}:0" for layer in DLIB_LAYERS for weight in ("kernel", "bias")]


def dlib_vae(channels, model="vae", **options):
    return build_model(model, latent_dim=P, image_shape=(64, 64, channels), hidden_units=DLIB_HIDDEN_UNITS,
                       architecture="dlib", **options)


def layer_table(network):
    """(output shape, parameters) of each layer of a Sequential, in order."""
    return [(tuple(layer.output.shape[1:]), layer.count_params()) for layer in network.layers]


@pytest.mark.parametrize("channels", [1, 3])
def test_layers_shapes_and_counts_equal_the_tf1_graph(channels):
    model = dlib_vae(channels)
    expected = [(shape, count(channels)) for _, shape, count in ENCODER]
    assert layer_table(model.encoder_body) == expected
    decoder = [(tuple(channels if d is None else d for d in shape), count(channels)) for _, shape, count in DECODER]
    assert layer_table(model.decoder) == decoder
    assert model.head.count_params() == HEAD
    encoder_total, decoder_total = TOTALS[channels]
    assert model.encoder_body.count_params() + model.head.count_params() == encoder_total
    assert model.decoder.count_params() == decoder_total
    assert [layer.name for layer in model.encoder_body.layers if layer.weights] == ["e1", "e2", "e3", "e4", "e5"]
    # CHyVAE on the same body: only the head differs (mean and the packed lower triangle, p + p(p+1)/2).
    chyvae = dlib_vae(channels, model="chyvae")
    assert layer_table(chyvae.encoder_body) == expected and layer_table(chyvae.decoder) == decoder
    assert chyvae.head.count_params() == 256 * (P + P * (P + 1) // 2) + P + P * (P + 1) // 2


def load_seeded_weights(model):
    """dlib_reference.seeded_weights, put where dlib's variables of the same draw are in our layers."""
    convs = [layer for layer in model.encoder_body.layers if layer.weights]
    decoder = [layer for layer in model.decoder.layers if layer.weights]
    shapes = [w.shape for layer in convs for w in (layer.kernel, layer.bias)]
    shapes += [(DLIB_HIDDEN_UNITS, P), (P,)] * 2  # means, then log_var
    shapes += [w.shape for layer in decoder for w in (layer.kernel, layer.bias)]
    values = iter(seeded_weights(shapes))
    for layer in convs:
        layer.set_weights([next(values), next(values)])
    means_kernel, means_bias, log_var_kernel, log_var_bias = (next(values) for _ in range(4))
    # The head's Dense(2p) is dlib's means and log_var side by side (mean first, as encode returns).
    model.head.dense.set_weights([np.concatenate([means_kernel, log_var_kernel], axis=1),
                                  np.concatenate([means_bias, log_var_bias])])
    for layer in decoder:  # Keras's Conv2DTranspose kernel is (kh, kw, out, in), as tf.layers's
        layer.set_weights([next(values), next(values)])
    assert next(values, None) is None


@pytest.mark.parametrize("channels", [1, 3])
def test_forward_pass_equals_disentanglement_lib_on_the_same_weights(channels):
    reference = np.load(FIXTURE)
    assert list(reference[f"variables_{channels}"]) == DLIB_VARIABLES  # the order the weights were drawn in
    model = dlib_vae(channels)
    load_seeded_weights(model)
    images, codes = inputs(channels)
    mean, log_variance = (keras.ops.convert_to_numpy(t) for t in model.encode(images))
    logits = keras.ops.convert_to_numpy(model.decode_logits(codes))
    np.testing.assert_allclose(mean, reference[f"means_{channels}"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(log_variance, reference[f"log_var_{channels}"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(logits, reference[f"logits_{channels}"], rtol=1e-4, atol=1e-6)
    # The tolerance would catch a layer off: the logits vary by far more than it across pixels.
    assert np.std(reference[f"logits_{channels}"]) > 1e3 * 1e-6


def test_initialisers_are_tf1_layers_defaults():
    """tf.layers (TF1) draws kernels Glorot-uniform, fans (receptive * in, receptive * out), biases 0:
    checked on dlib's graph outside the repo (max |w| / limit 0.993-1.000, std / (limit / sqrt 3)
    0.995-1.020 for each of its 13 kernels, every bias exactly 0)."""
    keras.utils.set_random_seed(3)
    model = dlib_vae(1)
    layers = [layer for net in (model.encoder_body, model.decoder) for layer in net.layers if layer.weights]
    for layer in layers:
        assert isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform), layer.name
        assert isinstance(layer.bias_initializer, keras.initializers.Zeros), layer.name
    # The drawn values: within the Glorot limit, spread as U(-limit, limit), biases zero.
    for layer in layers + [model.head.dense]:
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
        shape = kernel.shape
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_out = P if layer is model.head.dense else shape[-1]  # dlib's head: two Dense(p)
        limit = np.sqrt(6.0 / (receptive * (shape[-2] + fan_out)))
        assert np.abs(kernel).max() <= limit * (1 + 1e-6)
        assert np.abs(kernel).max() > 0.9 * limit and 0.9 < kernel.std() / (limit / np.sqrt(3)) < 1.1, layer.name
        assert not bias.any()
    # The head's 5120 draws reach past 0.99 of dlib's limit sqrt(6 / (256 + 10)); a plain Glorot
    # Dense(20) would stop at sqrt(6 / (256 + 20)), 0.982 of it.
    assert np.abs(keras.ops.convert_to_numpy(model.head.dense.kernel)).max() > 0.99 * np.sqrt(6.0 / (256 + P))


def test_saves_loads_and_rebuilds_with_its_architecture(tmp_path):
    keras.utils.set_random_seed(0)
    model = dlib_vae(1, model="factor-vae", discriminator_units=8, discriminator_layers=1)
    assert model.get_config()["architecture"] == "dlib"
    images, _ = inputs(1)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = load_model(path)
    assert loaded.architecture == "dlib" and [layer.name for layer in loaded.encoder_body.layers][0] == "e1"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.encode(images)[0]),
                               keras.ops.convert_to_numpy(model.encode(images)[0]),
                               rtol=1e-6, atol=1e-7)
    # The default stays CHyVAE's body (4x4 convolutions throughout).
    default = build_model("vae", latent_dim=P)
    assert default.architecture == "chyvae" and default.encoder_body.layers[2].kernel.shape[:2] == (4, 4)


def test_an_unknown_architecture_is_one_line_naming_the_choices():
    with pytest.raises(ValueError, match=r"^unknown architecture 'dlb'; choose one of: chyvae, dlib$"):
        build_model("vae", latent_dim=P, architecture="dlb")


def test_a_narrower_dense_layer_than_dlibs_is_warned_about():
    with pytest.warns(UserWarning, match="hidden_units=256"):
        build_model("vae", latent_dim=P, hidden_units=128, architecture="dlib")


# --------------------------------------------------------------------------------------------
# The locatello preset: disentanglement_lib's unsupervised_study_v1 model_configs/shared.gin.
# --------------------------------------------------------------------------------------------

def resolved(**options):
    return resolve_options({**DEFAULTS, **options})


@pytest.mark.parametrize("preset", ["locatello", "dlib"])
def test_locatello_preset_is_shared_gin(preset):
    config = resolved(preset=preset, model="factor-vae", dataset="dsprites")
    # model.batch_size, encoder.num_latent, model.training_steps, vae/AdamOptimizer.*
    assert (config["batch_size"], config["latent_dim"], config["steps"], config["learning_rate"]) == \
        (64, 10, 300_000, 1e-4)
    assert config["adam"] == {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}  # Keras's epsilon is 1e-7
    assert config["architecture"] == "dlib" and config["hidden_units"] == 256  # not dSprites' 128
    # Options given win over the preset.
    config = resolved(preset=preset, architecture="chyvae", hidden_units=64, dataset="dsprites")
    assert (config["architecture"], config["hidden_units"]) == ("chyvae", 64)


def test_other_presets_keep_chyvaes_body_and_kerass_adam():
    for preset in ("quick", "paper"):
        config = resolved(preset=preset, dataset="dsprites")
        assert config["architecture"] == "chyvae" and config["hidden_units"] == 128 and "adam" not in config
    assert resolved(architecture="dlib", dataset="dsprites")["hidden_units"] == 256


def test_factor_vae_discriminator_optimizer_is_shared_gins():
    """discriminator/AdamOptimizer: learning rate 1e-4, beta1 0.5, beta2 0.9, epsilon 1e-8 (every run)."""
    model = dlib_vae(1, model="factor-vae", discriminator_units=8, discriminator_layers=1)
    optimizer = model.discriminator_optimizer
    assert (float(optimizer.learning_rate), optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == \
        pytest.approx((1e-4, 0.5, 0.9, 1e-8))
    assert DISCRIMINATOR_LEARNING_RATE == 1e-4


def test_a_locatello_run_records_exports_and_resumes_its_architecture_and_adam(tmp_path):
    """hwkeras.fit with --preset locatello (a few steps): config.json, the model, its optimizer, the
    SavedModel's card, resume."""
    import hwkeras

    common = dict(dataset="dsprites-procedural", model="beta-vae", output_dir=str(tmp_path / "runs"),
                  export_dir=str(tmp_path / "exports"), no_report=True, summary_every=0, checkpoint_every=1)
    run = hwkeras.fit(preset="locatello", steps=2, batch_size=4, run_name="r", **common)
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["architecture"] == "dlib" and config["model_config"]["architecture"] == "dlib"
    assert config["adam"]["epsilon"] == 1e-8 and config["hidden_units"] == 256
    card = json.loads((tmp_path / "exports" / "r" / "model.json").read_text())
    assert card["config"]["architecture"] == "dlib" and (tmp_path / "exports" / "r" / "saved_model.pb").exists()
    model = run.load_model()
    assert model.architecture == "dlib" and model.optimizer.epsilon == pytest.approx(1e-8)
    with pytest.raises(ValueError, match="--architecture chyvae conflicts with the run's architecture dlib"):
        hwkeras.resume(str(tmp_path / "runs" / "r"), steps=3, architecture="chyvae")
    resumed = hwkeras.resume(str(tmp_path / "runs" / "r"), steps=3, no_export=True)
    model = resumed.load_model()
    assert model.architecture == "dlib" and model.optimizer.epsilon == pytest.approx(1e-8)
    assert json.loads((tmp_path / "runs" / "r" / "config.json").read_text())["steps_trained"] == 3
