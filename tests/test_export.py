"""SavedModel export: served by TensorFlow alone in a fresh process; written atomically."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hwkeras
from hwkeras.export import export_saved_model
from tests.helpers import deadline, student_t_radius_pvalue

HERE = os.path.dirname(__file__)
SIGNATURES = ["decode", "encode", "reconstruct", "sample", "sample_seeded", "serving_default", "traverse"]


def serve(path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "serve_check.py"), str(path)],
        capture_output=True, text=True, env=env, check=True, timeout=deadline(120),
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def tiny(kind, shape):
    """Every registered model kind, tiny (a small discriminator for the adversarial ones)."""
    from hwkeras.models import MODELS, model_options

    options = {"nu": 10.0} if kind == "chyvae" else {}
    if "discriminator_units" in model_options(kind):
        options.update(discriminator_units=16, discriminator_layers=2)
    assert kind in MODELS
    return hwkeras.build_model(kind, latent_dim=3, image_shape=shape, hidden_units=16, seed=0, **options)


# Both image shapes for CHyVAE; one for each baseline (they share the export code path).
KIND_SHAPES = [("chyvae", (32, 32, 1)), ("chyvae", (16, 32, 3))] + [
    (kind, (16, 16, 1)) for kind in ("vae", "beta-vae", "factor-vae", "beta-tcvae", "bf-vae-0", "bf-vae-1", "bf-vae-2")
]


@pytest.mark.parametrize("kind,shape", KIND_SHAPES)
def test_saved_model_serves_without_hwkeras(tmp_path, kind, shape):
    p = 3
    model = tiny(kind, shape)
    path = export_saved_model(model, tmp_path / "model", card={"dataset": "correlated-ellipses"})
    report = serve(path)
    assert report["imported"] == []
    assert report["signatures"] == SIGNATURES
    second = {"scale_tril": [3, p, p]} if kind == "chyvae" else {"log_variance": [3, p]}
    assert report["encode"] == {"mean": [3, p], **second}
    assert report["serving_default"] == report["encode"]
    assert report["decode"] == report["reconstruct"] == [3, *shape]
    assert report["reconstruct_minus_decode_mean"] < 1e-5
    assert report["sample"] == {"images": [4, *shape], "z": [4, p]}
    assert report["sample_calls_differ"]
    assert report["sample_seeded_inputs"] == (["nu", "num_samples", "seed"] if kind == "chyvae"
                                              else ["num_samples", "seed"])
    assert report["sample_seeded_repeats"] and report["sample_seeded_other_seed_differs"]
    assert report["traverse"] == {"images": [p, 10, *shape], "values": [10]}
    np.testing.assert_allclose(report["traverse_values"], np.linspace(-3, 3, 10), atol=1e-6)
    errors = report["errors"]
    assert "wrong image size" in errors["size"]
    assert "wrong channel count" in errors["channels"]
    assert "pixel values above 1" in errors["range"]
    assert "float" in errors["dtype"] and "uint8" in errors["dtype"]
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["latent_dim"] == p and card["image_shape"] == list(shape) and card["dataset"] == "correlated-ellipses"
    assert set(card["versions"]) == {"hwkeras", "keras", "tensorflow"}
    assert ("nu" in card) == (kind == "chyvae")
    assert os.listdir(tmp_path) == ["model"]  # no staging directory left behind


CARD = {"dataset": "correlated-ellipses", "training_steps": 7, "metrics": {"mig": 0.25}, "notes": None}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A CHyVAE (p = 3, nu = 10, so Psi = 6 I) exported once with a card, and its signatures."""
    import tensorflow as tf

    model = hwkeras.HyperpriorVAE(latent_dim=3, nu=10.0, image_shape=(16, 16, 1), hidden_units=8, seed=1)
    path = export_saved_model(model, tmp_path_factory.mktemp("served") / "m", card=CARD)
    return model, path, tf.saved_model.load(path).signatures


def test_served_signatures_match_the_keras_model(served):
    import tensorflow as tf

    model, _, served = served
    x = np.random.default_rng(1).uniform(size=(2, 16, 16, 1)).astype("float32")
    encoded = served["encode"](images=tf.constant(x))
    mean, scale_tril = model.encode(x)
    np.testing.assert_allclose(encoded["mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoded["scale_tril"], scale_tril, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["reconstruct"](images=tf.constant(x))["images"], model(x), atol=1e-6)
    # traverse: row d decodes the image's posterior mean with coordinate d set to each value.
    traversal = served["traverse"](image=tf.constant(x[0]))
    values = traversal["values"].numpy()
    np.testing.assert_allclose(values, np.linspace(-3, 3, 10), atol=1e-6)
    codes = np.repeat(np.asarray(mean)[:1], 3 * 10, axis=0).reshape(3, 10, 3)
    for d in range(3):
        codes[d, :, d] = values
    expected = np.asarray(model.decode(codes.reshape(30, 3))).reshape(3, 10, 16, 16, 1)
    np.testing.assert_allclose(traversal["images"], expected, atol=1e-5)
    assert np.abs(expected[:, 0] - expected[:, -1]).max() > 1e-3  # the sweep shows in the pixels


def test_sample_seeded_draws_the_hyperprior_of_the_nu_it_is_given(served):
    """nu <= 0: the model's IW(6 I, 10), so z is t with 8 degrees of freedom; nu = 6: IW(2 I, 6) (Psi
    rescaled so that E[Sigma] stays I), t with 4. KS tests of k z^T Psi^-1 z / p against F(p, k)."""
    import tensorflow as tf

    model, _, served = served
    draws = {nu: served["sample_seeded"](num_samples=tf.constant(20000), seed=tf.constant(3),
                                         nu=tf.constant(nu))["z"].numpy().astype("float64") for nu in (0.0, 6.0)}
    assert student_t_radius_pvalue(draws[0.0], model.psi, 10.0) > 1e-3
    assert student_t_radius_pvalue(draws[6.0], model.psi * 2.0 / 6.0, 6.0) > 1e-3
    assert student_t_radius_pvalue(draws[6.0], model.psi * 2.0 / 6.0, 10.0) < 1e-6
    np.testing.assert_allclose(np.cov(draws[6.0].T), np.eye(3), atol=0.15)  # E[Sigma] = I for every nu
    again = served["sample_seeded"](num_samples=tf.constant(20000), seed=tf.constant(3), nu=tf.constant(6.0))
    np.testing.assert_array_equal(again["z"].numpy(), draws[6.0])


def test_model_card_fields(served):
    """model.json: what SERVING.md lists, with the values of the model that was exported."""
    from importlib.metadata import version

    import tensorflow as tf

    model, path, signatures = served
    with open(os.path.join(path, "model.json")) as f:
        card = json.load(f)
    assert card["model"] == "HyperpriorVAE" and card["latent_dim"] == 3 and card["image_shape"] == [16, 16, 1]
    assert card["input"] == "float32 images in [0, 1], shape (batch, height, width, channels)"
    assert card["signatures"] == sorted(signatures) == SIGNATURES
    assert card["config"] == json.loads(json.dumps(model.get_config()))
    assert card["nu"] == 10.0 and card["psi"] == (6.0 * np.eye(3)).tolist()
    assert card["versions"] == {name: version(name) for name in ("hwkeras", "keras", "tensorflow")}
    assert card["versions"]["tensorflow"] == tf.__version__
    assert card["dataset"] == "correlated-ellipses" and card["training_steps"] == 7 and card["metrics"] == {"mig": 0.25}
    assert "notes" not in card  # entries given as None are left out


def test_saved_model_cli_shows_and_runs_encode(tmp_path):
    model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
    path = export_saved_model(model, tmp_path / "m")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    shown = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True, env=env, check=True,
                           timeout=deadline(120))
    for name in SIGNATURES:
        assert f"signature_def['{name}']" in shown.stdout
    np.save(tmp_path / "x.npy", np.full((2, 16, 16, 1), 0.5, np.float32))
    ran = subprocess.run(
        [cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "encode",
         "--inputs", f"images={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, check=True, timeout=deadline(120),
    )
    assert ran.returncode == 0
    mean = np.load(tmp_path / "out" / "mean.npy")
    np.testing.assert_allclose(mean, np.asarray(model.encode(np.full((2, 16, 16, 1), 0.5, np.float32))[0]), atol=1e-5)


def test_export_refuses_to_overwrite_and_keeps_the_old_model(tmp_path):
    import tensorflow as tf

    model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8, seed=1)
    other = hwkeras.HyperpriorVAE(latent_dim=2, nu=12.0, image_shape=(16, 16, 1), hidden_units=8, seed=2)
    x = np.random.default_rng(2).uniform(size=(2, 16, 16, 1)).astype("float32")

    def served_mean():
        return tf.saved_model.load(path).signatures["encode"](images=tf.constant(x))["mean"].numpy()

    path = export_saved_model(model, tmp_path / "m")
    before = sorted(os.listdir(path))
    with pytest.raises(FileExistsError, match="overwrite"):
        export_saved_model(other, path)
    assert sorted(os.listdir(path)) == before
    np.testing.assert_allclose(served_mean(), np.asarray(model.encode(x)[0]), atol=1e-6)  # the old one
    export_saved_model(other, path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["m"]
    # The new model replaced the old one: its outputs and its card.
    np.testing.assert_allclose(served_mean(), np.asarray(other.encode(x)[0]), atol=1e-6)
    assert not np.allclose(served_mean(), np.asarray(model.encode(x)[0]), atol=1e-3)
    with open(os.path.join(path, "model.json")) as f:
        assert json.load(f)["nu"] == 12.0


def test_failed_export_leaves_nothing_at_the_target(tmp_path, monkeypatch):
    import hwkeras.export

    def broken_rename(new, target):
        raise RuntimeError("disk full")

    # Fails after the SavedModel was written to the staging directory, before the rename.
    monkeypatch.setattr(hwkeras.export, "_replace_dir", broken_rename)
    model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
    with pytest.raises(RuntimeError):
        export_saved_model(model, tmp_path / "m")
    assert os.listdir(tmp_path) == []


KILLED_EXPORT = """
import os, sys, time
import hwkeras, hwkeras.export as ex
real_card = ex.model_card
def slow_card(model, **kw):  # runs after the SavedModel is written to staging, before the rename
    open(os.path.join(sys.argv[2], "written"), "w").close()
    time.sleep(120)  # killed here
    return real_card(model, **kw)
ex.model_card = slow_card
model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
ex.export_saved_model(model, sys.argv[1])
"""


def test_killed_export_leaves_no_model_at_the_target(tmp_path):
    target, flags = tmp_path / "exports" / "m", tmp_path / "flags"
    flags.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(target), str(flags)], env=env)
    try:
        give_up = time.time() + deadline(120)
        while not (flags / "written").exists():
            assert proc.poll() is None and time.time() < give_up, "export never got to write"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=deadline(30))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not target.exists()
    # Only the hidden staging directory is left, never something at the target's name.
    assert all(name.startswith(".m.partial-") for name in os.listdir(target.parent))
