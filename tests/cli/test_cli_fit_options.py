"""``hwkeras fit``'s documented defaults and option files (docs/CLI.md), checked on the validated
plan (``plan_fit``: the config and the built model) without training, so each case takes a second."""

import numpy as np
import pytest
from PIL import Image

from hwkeras.cli.fit import fit_command
from hwkeras.runs.plan import plan_fit


def plan(tmp_path, *args):
    """The plan of ``hwkeras fit ARGS`` (options parsed by Click, defaults included)."""
    context = fit_command.make_context("fit", ["--output-dir", str(tmp_path / "runs"), "--no-export",
                                               "--image-size", "32", *map(str, args)])
    return plan_fit(context.params)


def test_psi_from_a_number_or_a_npy_file(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    psi = a @ a.T + 3 * np.eye(3)  # SPD, not a multiple of I, so a file read as c * I would fail
    np.save(tmp_path / "psi.npy", psi)
    fit = plan(tmp_path, "--latent-dim", 3, "--nu", 8, "--psi", tmp_path / "psi.npy")
    np.testing.assert_allclose(fit.model.psi, psi, rtol=1e-6)
    np.testing.assert_allclose(fit.config["psi"], psi, rtol=1e-6)  # config.json records the matrix
    fit = plan(tmp_path, "--latent-dim", 3, "--nu", 8, "--psi", 2.5)
    np.testing.assert_allclose(fit.model.psi, 2.5 * np.eye(3))
    # Default: max(nu - p - 1, 1) I, so that E[Sigma] = Psi / (nu - p - 1) = I.
    np.testing.assert_allclose(plan(tmp_path, "--latent-dim", 3, "--nu", 8).model.psi, 4 * np.eye(3))
    np.save(tmp_path / "wrong.npy", np.eye(2))
    with pytest.raises(ValueError):
        plan(tmp_path, "--latent-dim", 3, "--nu", 8, "--psi", tmp_path / "wrong.npy")


@pytest.mark.parametrize("preset, batch, steps, rate", [
    ("quick", 64, 2000, 5e-4), ("paper", 50, 150_000, 1e-4), ("dlib", 64, 300_000, 1e-4)])
def test_presets_set_the_documented_defaults(tmp_path, preset, batch, steps, rate):
    config = plan(tmp_path, "--preset", preset).config
    assert (config["latent_dim"], config["batch_size"], config["steps"], config["learning_rate"]) == \
        (10, batch, steps, rate)
    assert config["preset"] == preset
    # Options given on the command line win over the preset.
    config = plan(tmp_path, "--preset", preset, "--batch-size", 7, "--steps", 3, "--learning-rate", 0.01).config
    assert (config["batch_size"], config["steps"], config["learning_rate"]) == (7, 3, 0.01)


def test_default_preset_is_quick_and_chyvae_keeps_its_nu(tmp_path):
    fit = plan(tmp_path)
    assert fit.config["preset"] == "quick" and fit.config["steps"] == 2000
    assert fit.config["model"] == "chyvae" and fit.model.nu == 200.0 and fit.config["model_options"] == {}


def test_dataset_size_defaults_to_the_dataset_length(tmp_path):
    fit = plan(tmp_path, "--model", "bf-vae-1", "--latent-dim", 2)
    # correlated-ellipses streams without end; its length is the authors' published set of 200,000.
    assert fit.model.dataset_size == len(fit.dataset) == 200_000
    assert plan(tmp_path, "--model", "bf-vae-2", "--latent-dim", 2, "--dataset", "dsprites-procedural",
                "--image-size", "64").model.dataset_size == 737_280
    assert plan(tmp_path, "--model", "bf-vae-1", "--latent-dim", 2, "--dataset-size", 1000).model.dataset_size == 1000


def test_hidden_units_default_to_the_dataset_s_width(tmp_path):
    """128 for dSprites and the ellipses, 256 for CelebA, Chairs and Faces (CLI.md)."""
    celeba = tmp_path / "celeba" / "img_align_celeba"
    celeba.mkdir(parents=True)
    Image.fromarray(np.zeros((218, 178, 3), np.uint8)).save(celeba / "000001.jpg")
    chairs = tmp_path / "chairs" / "rendered_chairs" / "c" / "renders"
    chairs.mkdir(parents=True)
    Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(chairs / "image_000_p020_t000_r096.png")
    np.save(tmp_path / "faces.npy", np.zeros((2, 64, 64), np.uint8))
    cases = [(["--dataset", "correlated-ellipses"], 128),
             (["--dataset", "dsprites-procedural", "--image-size", "64"], 128),
             (["--dataset", "celeba", "--data-dir", tmp_path / "celeba"], 256),
             (["--dataset", "chairs", "--data-dir", tmp_path / "chairs"], 256),
             (["--dataset", "faces3d", "--data-dir", tmp_path / "faces.npy", "--image-size", "64"], 256)]
    for args, width in cases:
        fit = plan(tmp_path, "--latent-dim", 2, *args)
        assert fit.config["hidden_units"] == width and fit.model.get_config()["hidden_units"] == width, args
    assert plan(tmp_path, "--latent-dim", 2, "--hidden-units", 16).model.get_config()["hidden_units"] == 16


def test_the_model_options_are_the_registry_s():
    """--nu, --psi, --beta, ... are generated from the registry's entries: one per command-line option
    of a model, of its declared type, whose help names each model that takes it and its default."""
    from hwkeras.models import MODEL_NAMES, cli_options, model_options, option_type
    from hwkeras.runs.plan import MODEL_OPTIONS

    params = {p.name: p for p in fit_command.params}
    assert set(MODEL_OPTIONS) | {"psi"} == set(cli_options()) and "psi" not in MODEL_OPTIONS
    for name, takers in cli_options().items():
        assert params[name].opts == [f"--{name.replace('_', '-')}"]
        assert params[name].type.name == {float: "float", int: "integer", str: "text"}[option_type(name)]
        models = [model for model in MODEL_NAMES if name in model_options(model)]
        assert [model for model, _ in takers] == models
    assert params["beta"].help == "vae/beta-vae: KL weight; beta-tcvae: TC weight.  [vae 1, beta-vae 4, beta-tcvae 6]"
    assert params["update_order"].help.startswith("factor-vae/bf-vae-*: 'simultaneous' (disentanglement_lib")
    assert params["update_order"].help.endswith("[factor-vae simultaneous, bf-vae-* vae-first]")
    assert params["psi"].help.endswith("[the multiple of I that makes E[Sigma] = I]")
