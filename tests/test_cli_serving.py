"""``hwkeras export`` and ``hwkeras predict`` end to end, as a user runs them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import hwkeras
from tests.helpers import deadline

HWKERAS = os.path.join(os.path.dirname(sys.executable), "hwkeras")


def run(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([HWKERAS, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=deadline(180))


def assert_one_line_error(result, message):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A run directory with a tiny trained-shape model, exported once with the CLI."""
    root = tmp_path_factory.mktemp("serving")
    model = hwkeras.HyperpriorVAE(latent_dim=3, nu=10.0, image_shape=(16, 16, 1), hidden_units=8, seed=2)
    (root / "run").mkdir()
    model.save(root / "run" / "model.keras")
    (root / "run" / "config.json").write_text(json.dumps({"dataset": "correlated-ellipses", "steps_trained": 7}))
    (root / "run" / "metrics.json").write_text(json.dumps({"mig": 0.25}))
    result = run("export", "run", "--output", "sm", cwd=root)
    assert result.returncode == 0, result.stderr
    return root, model


def test_export_writes_a_card_and_refuses_to_overwrite(exported):
    root, _ = exported
    card = json.loads((root / "sm" / "model.json").read_text())
    assert card["model"] == "HyperpriorVAE" and card["nu"] == 10.0 and card["training_steps"] == 7
    assert card["dataset"] == "correlated-ellipses" and card["metrics"] == {"mig": 0.25}
    assert_one_line_error(run("export", "run", "--output", "sm", cwd=root), "already exists; pass --overwrite")
    # --overwrite replaces the export with the new run's model: its outputs and its card.
    import tensorflow as tf

    other = hwkeras.HyperpriorVAE(latent_dim=3, nu=12.0, image_shape=(16, 16, 1), hidden_units=8, seed=3)
    (root / "run2").mkdir()
    other.save(root / "run2" / "model.keras")
    assert run("export", "run", "--output", "sm-over", cwd=root).returncode == 0
    result = run("export", "run2", "--output", "sm-over", "--overwrite", cwd=root)
    assert result.returncode == 0, result.stderr
    x = np.random.default_rng(7).uniform(size=(2, 16, 16, 1)).astype("float32")
    served = tf.saved_model.load(str(root / "sm-over")).signatures["encode"](images=tf.constant(x))["mean"]
    np.testing.assert_allclose(served, np.asarray(other.encode(x)[0]), atol=1e-6)
    assert json.loads((root / "sm-over" / "model.json").read_text())["nu"] == 12.0
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("sm-over")) == ["sm-over"]  # nothing left over
    (root / "empty-dir").mkdir()
    assert_one_line_error(run("export", "empty-dir", cwd=root), "is not a run directory")


def test_predict_reconstruct_from_npy_and_from_images(exported):
    root, model = exported
    x = np.random.default_rng(0).uniform(size=(3, 16, 16, 1)).astype("float32")
    np.save(root / "x.npy", x)
    result = run("predict", "sm", "--signature", "reconstruct", "--input", "x.npy", "--output", "y.npy", cwd=root)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(root / "y.npy"), np.asarray(model(x)), atol=1e-6)

    (root / "pngs").mkdir()
    pixels = (x * 255).round().astype(np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image[..., 0]).save(root / "pngs" / f"{i}.png")
    result = run("predict", "sm", "--signature", "encode", "--input", "pngs", "--output", "codes.npz", cwd=root)
    assert result.returncode == 0, result.stderr
    codes = np.load(root / "codes.npz")
    np.testing.assert_allclose(codes["mean"], np.asarray(model.encode(pixels / 255.0)[0]), atol=1e-5)
    assert codes["scale_tril"].shape == (3, 3, 3)


def test_predict_samples_and_traversals_to_folders(exported):
    root, _ = exported
    result = run("predict", "sm", "--signature", "sample_seeded", "--num-samples", 4, "--seed", 5, "--output", "s",
                 cwd=root)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(root / "s")) == ["00000.png", "00001.png", "00002.png", "00003.png", "outputs.npz"]
    again = run("predict", "sm", "--signature", "sample_seeded", "--num-samples", 4, "--seed", 5,
                "--output", "s2.npz", cwd=root)
    assert again.returncode == 0
    np.testing.assert_array_equal(np.load(root / "s" / "outputs.npz")["z"], np.load(root / "s2.npz")["z"])
    np.save(root / "one.npy", np.zeros((16, 16, 1), np.float32))
    result = run("predict", "sm", "--signature", "traverse", "--input", "one.npy", "--output", "t", cwd=root)
    assert result.returncode == 0, result.stderr
    assert Image.open(root / "t" / "traversal.png").size == (10 * 18 + 2, 3 * 18 + 2)


@pytest.mark.parametrize(
    "array,signature,message",
    [
        (np.zeros((2, 32, 32, 1), np.float32), "encode", "wrong image size"),
        (np.zeros((2, 16, 16, 3), np.float32), "encode", "wrong channel count"),
        (np.full((2, 16, 16, 1), 3.0, np.float32), "reconstruct", "pixel values above 1"),
        (np.zeros((2, 16, 16, 1), np.float32), "nope", "no signature 'nope'"),
    ],
)
def test_predict_bad_input_gives_one_line_error(exported, array, signature, message):
    root, _ = exported
    np.save(root / "bad.npy", array)
    result = run("predict", "sm", "--signature", signature, "--input", "bad.npy", "--output", "o.npy", cwd=root)
    assert_one_line_error(result, message)
    assert not (root / "o.npy").exists()


def test_predict_uint8_npy_jpeg_folders_and_nu(exported):
    """In-process (CliRunner) for speed: uint8 .npy is scaled by 1/255, a folder of JPEGs (any case
    of .jpg/.jpeg) is read in name order as the model's channels, and --nu reaches sample_seeded."""
    from click.testing import CliRunner

    from hwkeras.cli.predict import predict_command
    from tests.helpers import student_t_radius_pvalue

    root, model = exported

    def predict(*args):  # the last argument is the output file's name under root
        result = CliRunner().invoke(predict_command, [str(root / "sm"), *map(str, args[:-1]), str(root / args[-1])])
        assert result.exit_code == 0, result.output
        return np.load(root / args[-1])

    pixels = np.random.default_rng(3).integers(0, 256, size=(3, 16, 16, 1), dtype=np.uint8)
    np.save(root / "u8.npy", pixels)
    codes = predict("--signature", "encode", "--input", root / "u8.npy", "--output", "u8.npz")
    np.testing.assert_allclose(codes["mean"], np.asarray(model.encode(pixels / 255.0)[0]), atol=1e-5)

    (root / "jpegs").mkdir()
    rgb = np.random.default_rng(4).integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    for name, image in zip(["b.JPG", "a.jpeg", "c.jpg"], rgb):  # written out of name order
        Image.fromarray(image).save(root / "jpegs" / name, quality=95)
    # The oracle: each file as Pillow decodes it to gray, in name order a, b, c.
    gray = np.stack([np.asarray(Image.open(root / "jpegs" / n).convert("L"), np.float32)
                     for n in ("a.jpeg", "b.JPG", "c.jpg")])[..., None] / 255.0
    codes = predict("--signature", "encode", "--input", root / "jpegs", "--output", "jpeg.npz")
    np.testing.assert_allclose(codes["mean"], np.asarray(model.encode(gray)[0]), atol=1e-5)

    # --nu 6: z follows IW(Psi 2/6, 6) (Psi rescaled so E[Sigma] stays I), t with 4 degrees of
    # freedom; the model's own nu = 10 (--nu 0) gives t with 8. KS tests of the F-law radius.
    draws = {nu: predict("--signature", "sample_seeded", "--num-samples", 20000, "--seed", 1, "--nu", nu,
                         "--output", f"nu{nu}.npz")["z"].astype(np.float64) for nu in (6, 0)}
    assert student_t_radius_pvalue(draws[6], model.psi * 2.0 / 6.0, 6.0) > 1e-3
    assert student_t_radius_pvalue(draws[6], model.psi * 2.0 / 6.0, 10.0) < 1e-6
    assert student_t_radius_pvalue(draws[0], model.psi, 10.0) > 1e-3
