"""The model registry (hwkeras/models/registry.py): a model is one module plus one entry.

A toy model registered from outside the package (tests/models/toy_cli.py, as a plugin would) shows
up everywhere the built-in ones do: ``hwkeras fit --help``, ``hwkeras sweep --grid``'s keys,
``config.json`` and the memory check, with its bad values refused before Keras loads.
"""

import json
import os
import subprocess
import sys

import pytest

from hwkeras.models import registry
from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
HEAVY = ("keras", "tensorflow", "jax", "torch")


def toy_cli(*args, block_tensorflow=False):
    """``hwkeras ARGS`` with the toy model registered, in a fresh process (options are built at import)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "COLUMNS": "200"}
    if block_tensorflow:  # importing TensorFlow fails: the command must not need it
        env["PYTHONPATH"] = os.pathsep.join([NO_TENSORFLOW] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-m", "tests.models.toy_cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=deadline(300))


def squeezed(text):
    return "".join(text.split())


@pytest.fixture
def toy(monkeypatch):
    """The toy registered in this process, and unregistered after the test."""
    from tests.models.toy_cli import register_toy

    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    register_toy()
    return "wobbly-vae"


def test_the_toy_s_option_is_in_fit_s_help():
    done = toy_cli("fit", "--help", block_tensorflow=True)
    assert done.returncode == 0, done.stderr
    text = squeezed(done.stdout)  # Click wraps lines at hyphens too
    assert "wobbly-vae" in text  # --model's list
    assert squeezed("--wobble-units INTEGER wobbly-vae: width of the wobble layer on the codes.  [4]") in text
    # An option it shares with built-in models: their help and defaults side by side.
    assert squeezed("--beta FLOAT vae/beta-vae/wobbly-vae: KL weight; beta-tcvae: TC weight.  "
                    "[vae 1, beta-vae/wobbly-vae 4, beta-tcvae 6]") in text


def test_the_toy_s_option_is_a_grid_key(tmp_path):
    done = toy_cli("sweep", "--help", block_tensorflow=True)
    assert done.returncode == 0, done.stderr
    assert squeezed("iteration_threshold, wobble_units) applies to the models that take it") in squeezed(done.stdout)
    done = toy_cli("sweep", "--model", "wobbly-vae", "--grid", "sideways=1", block_tensorflow=True)
    assert done.returncode == 2 and "grid keys are" in done.stderr and "wobble_units" in done.stderr, done.stderr
    # Parsed as the entry's type, then checked by the entry's check: before Keras (and Ray) load.
    done = toy_cli("sweep", "--model", "wobbly-vae", "--grid", "wobble_units=x", block_tensorflow=True)
    assert done.returncode == 2 and "--grid wobble_units=x" in done.stderr and "integer" in done.stderr, done.stderr
    done = toy_cli("sweep", "--model", "wobbly-vae", "--grid", "wobble_units=4,0", "--output-dir", tmp_path / "sweep",
                   block_tensorflow=True)
    assert done.returncode == 2 and "wobble_units must be a positive number of units, got 0" in done.stderr, \
        done.stderr
    # A built-in model does not take it: the key applies to none of the selected models.
    done = toy_cli("sweep", "--model", "vae", "--grid", "wobble_units=4,8", "--output-dir", tmp_path / "sweep",
                   block_tensorflow=True)
    assert done.returncode == 2 and "none of the selected models (vae) takes wobble_units" in done.stderr, done.stderr


def test_the_toy_s_option_is_checked_and_sized_before_keras(tmp_path):
    common = ("fit", "--model", "wobbly-vae", "--output-dir", tmp_path, "--no-export", "--latent-dim", 2)
    done = toy_cli(*common, "--wobble-units", 0, block_tensorflow=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "Error: wobble_units must be a positive number of units, got 0"
    # The memory check names the option whose share is the largest: the toy's own.
    done = toy_cli(*common, "--wobble-units", 10**13, block_tensorflow=True)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: --wobble-units 10000000000000 is too large: training would take at least ") \
        and line.endswith("use a smaller --wobble-units"), line
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_a_toy_run_keeps_its_option_in_config_json(tmp_path):
    done = toy_cli("fit", "--model", "wobbly-vae", "--wobble-units", 3, "--steps", 2, "--batch-size", 2,
                   "--image-size", 16, "--latent-dim", 2, "--hidden-units", 8, "--no-export", "--no-report",
                   "--output-dir", tmp_path, "--run-name", "toy")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "hwkeras fit: WobblyVAE" in done.stdout and "wobble_units 3" in done.stdout, done.stdout
    with open(tmp_path / "toy" / "config.json") as f:
        config = json.load(f)
    assert config["model"] == "wobbly-vae" and config["model_options"] == {"wobble_units": 3}
    assert config["model_config"]["wobble_units"] == 3 and config["model_config"]["beta"] == 4.0
    assert (tmp_path / "toy" / "model.keras").is_file()
    # load_model imports the registered models' modules too; this process has no toy registered, so
    # importing its module (which registers the class with Keras) is what a plugin's import would do.
    import tests.models.toy_model  # noqa: F401
    from hwkeras.models import load_model

    model = load_model(str(tmp_path / "toy" / "model.keras"))
    assert type(model).__name__ == "WobblyVAE" and model.wobble_units == 3


def test_the_memory_estimate_counts_the_toy_s_option(toy):
    from hwkeras.resources import model_training_bytes

    small = model_training_bytes(toy, 10, 128, (64, 64, 1), 64, {"wobble_units": 4})
    large = model_training_bytes(toy, 10, 128, (64, 64, 1), 64, {"wobble_units": 4000})
    assert set(small) == {"--latent-dim", "--hidden-units", "--batch-size", "--wobble-units"}
    assert large["--wobble-units"] == 1000 * small["--wobble-units"]
    assert {k: v for k, v in large.items() if k != "--wobble-units"} == \
        {k: v for k, v in small.items() if k != "--wobble-units"}
    # The default when not given.
    assert model_training_bytes(toy, 10, 128, (64, 64, 1), 64) == small


def test_the_toy_is_a_model_like_the_others(toy):
    from hwkeras.models import MODEL_NAMES, check_options, cli_options, model_options

    assert MODEL_NAMES[-1] == toy and model_options(toy) == {"beta": 4.0, "wobble_units": 4}
    assert [m for m, _ in cli_options()["beta"]] == ["vae", "beta-vae", "beta-tcvae", toy]
    with pytest.raises(ValueError, match="takes no option nu"):
        check_options(toy, {"nu": 3.0})
    with pytest.raises(ValueError, match="wobble_units must be a positive"):
        check_options(toy, {"wobble_units": 0})


@pytest.mark.parametrize("name, entry, message", [
    ("chyvae", None, "registered already"),
    ("Wobbly VAE", None, "lowercase words"),
    ("wobbly", ("tests.models.toy_model", "WobblyVAE"), "must be a hwkeras.models.ModelEntry"),
    ("wobbly", dict(options=(registry.Option("latent_dim", int, 10, "p"),)), "a shared option"),
    ("wobbly", dict(options=(registry.Option("beta", int, 4, "KL weight"),)), "has type int but float for model 'vae'"),
    ("wobbly", dict(options=(registry.Option("wobble", list, [], "?"),)), "use float, int or str"),
    ("wobbly", dict(options=(registry.Option("a", int, 1, "a"), registry.Option("a", int, 1, "a"))), "repeated"),
    ("wobbly", dict(memory=None), "memory must be a hwkeras.models.Memory"),
])
def test_registration_refuses_what_the_command_line_could_not_take(toy, name, entry, message):
    from tests.models.toy_cli import ENTRY

    if entry is None or isinstance(entry, dict):
        entry = registry.ModelEntry(**{**vars(ENTRY), **(entry or {})})
    with pytest.raises(ValueError, match=message):
        registry.register(name, entry)


def test_the_built_in_option_help_names_the_models_and_their_defaults():
    from hwkeras.models import option_help

    assert option_help("beta") == "vae/beta-vae: KL weight; beta-tcvae: TC weight.  [vae 1, beta-vae 4, beta-tcvae 6]"
    assert option_help("gamma") == ("factor-vae/bf-vae-*: total-correlation weight; annealed-vae: weight of |KL - C|.  "
                                    "[factor-vae 10, bf-vae-* 35, annealed-vae 1000]")
    assert option_help("lambda_od") == "dip-vae-*: weight of the off-diagonal covariance penalty.  [10]"
    assert option_help("lambda_d_factor").endswith("[dip-vae-i 10, dip-vae-ii 1]")
    assert option_help("dataset_size") == "bf-vae-1/bf-vae-2: N in the 1/N Gamma KL.  [the dataset's size]"
    assert option_help("nu").endswith("[200]")


def test_the_registry_loads_no_framework():
    code = ("import sys\nimport hwkeras.models, hwkeras.resources\nfrom tests.models.toy_cli import register_toy\n"
            "register_toy()\nhwkeras.resources.model_training_bytes('wobbly-vae', 2, 8, (16, 16, 1), 2)\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=deadline(60))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
