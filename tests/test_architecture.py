"""The layering rules of docs/ARCHITECTURE.md that a refactor could silently break."""

import os
import subprocess
import sys

import pytest

from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")


def python(code_or_args, block_tensorflow=False, backend="tensorflow"):
    env = {**os.environ, "KERAS_BACKEND": backend}
    if block_tensorflow:
        env["PYTHONPATH"] = os.pathsep.join([NO_TENSORFLOW] + [p for p in [env.get("PYTHONPATH")] if p])
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=deadline(120))


def test_the_blocker_blocks():
    done = python("import tensorflow", block_tensorflow=True)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr and "tensorflow" in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["fit", "--help"], ["evaluate", "--help"], ["export", "--help"],
                                  ["predict", "--help"], ["datasets"]])
def test_cli_starts_without_tensorflow(args):
    done = python(["-m", "hwkeras.cli.main", *args], block_tensorflow=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_the_registries():
    from hwkeras.data.registry import DATASETS
    from hwkeras.models import MODEL_NAMES

    done = python(["-m", "hwkeras.cli.main", "fit", "--help"], block_tensorflow=True)
    text = " ".join(done.stdout.split())
    assert all(name in text for name in MODEL_NAMES) and all(name in text for name in DATASETS)


@pytest.mark.parametrize("module", ["hwkeras", "hwkeras.metrics", "hwkeras.data", "hwkeras.models",
                                    "hwkeras.presets", "hwkeras.cli.main"])
def test_light_modules_do_not_load_keras(module):
    done = python(f"import sys, {module}; print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
                  f"if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_models_are_registered_for_keras_loading_after_keras(tmp_path):
    """keras first, then hwkeras: keras.saving.load_model finds the classes (the README's order)."""
    import hwkeras

    # Saved here; loaded in a fresh process (the import order is the point), then here by hwkeras's own loader.
    hwkeras.HyperpriorVAE(latent_dim=2, nu=5.0, image_shape=(16, 16, 1), hidden_units=8).save(tmp_path / "m.keras")
    done = python(f"import keras, hwkeras; print(type(keras.saving.load_model(r'{tmp_path / 'm.keras'}')).__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HyperpriorVAE"
    assert type(hwkeras.load_model(str(tmp_path / "m.keras"))).__name__ == "HyperpriorVAE"


def test_the_library_does_not_read_argv():
    for folder in ("hwkeras", "layers"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name)) as f:
                        assert "sys.argv" not in f.read(), os.path.join(dirpath, name)


def test_the_hyperprior_is_validated_once_per_model(monkeypatch):
    import keras  # noqa: F401

    from hwkeras import priors
    from hwkeras.model import HyperpriorVAE

    calls = []
    original = priors.hyperprior_parameters
    monkeypatch.setattr(priors, "hyperprior_parameters", lambda *a: calls.append(a) or original(*a))
    model = HyperpriorVAE(latent_dim=3, nu=9.0, image_shape=(16, 16, 1), hidden_units=8)
    assert len(calls) == 1 and model.nu == 9.0 and model.psi[0, 0] == 5.0  # max(9 - 3 - 1, 1)
    for nu, message in [(float("inf"), "finite"), (float("nan"), "finite"), (2.0, "must exceed")]:
        with pytest.raises(ValueError, match=message):
            HyperpriorVAE(latent_dim=3, nu=nu, image_shape=(16, 16, 1), hidden_units=8)
    with pytest.raises(ValueError, match="NaN or inf"):
        HyperpriorVAE(latent_dim=2, nu=9.0, psi=[[1.0, float("nan")], [float("nan"), 1.0]],
                      image_shape=(16, 16, 1), hidden_units=8)


def test_every_subprocess_a_test_starts_has_a_scalable_deadline():
    """subprocess.run/call/check_* in tests/ pass ``timeout=deadline(...)`` (tests/helpers.py), so a busy
    CI machine scales every deadline with one variable and no test hangs without one."""
    import ast

    blocking = {"run", "call", "check_call", "check_output"}
    missing = []
    paths = sorted(os.path.join(dirpath, name) for dirpath, _, files in os.walk(os.path.join(ROOT, "tests"))
                   for name in files if name.endswith(".py"))
    for path in paths:
        name = os.path.relpath(path, os.path.join(ROOT, "tests"))
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in blocking
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "subprocess"):
                timeout = next((k.value for k in node.keywords if k.arg == "timeout"), None)
                if not (isinstance(timeout, ast.Call) and getattr(timeout.func, "id", None) == "deadline"):
                    missing.append(f"{name}:{node.lineno}")
    assert not missing, f"subprocess calls without timeout=deadline(...): {missing}"


def test_build_model_needs_only_the_name():
    """The README's call: what is not given takes the model's own default (formerly a TypeError for
    image_shape and hidden_units)."""
    from hwkeras.models import build_model

    model = build_model("factor-vae", latent_dim=4, gamma=35)
    assert model.latent_dim == 4 and tuple(model.image_shape) == (64, 64, 1) and model.hidden_units == 128
    assert build_model("chyvae").latent_dim == 10


def test_the_registry_declares_each_models_constructor_options():
    """hwkeras.models declares every model's options and defaults (so the CLI checks them before Keras
    loads); they must be the constructors' own, along the class hierarchy (the most derived default wins)."""
    import inspect

    from hwkeras.base import LatentVariableModel
    from hwkeras.models import MODEL_NAMES, model_class, model_options

    shared = {"self", "latent_dim", "image_shape", "hidden_units", "seed"}
    for name in MODEL_NAMES:
        cls, signature = model_class(name), {}
        for klass in cls.__mro__[: cls.__mro__.index(LatentVariableModel)]:
            if "__init__" in vars(klass):
                for param in inspect.signature(klass.__init__).parameters.values():
                    if param.name not in shared and param.kind is param.POSITIONAL_OR_KEYWORD:
                        signature.setdefault(param.name, param.default)
        assert model_options(name) == signature, name


def test_model_options_are_checked_without_keras():
    """fit and sweep refuse a bad model option before Keras loads (bad-input errors in under 2 s)."""
    done = python("import sys\nfrom hwkeras.models import check_options\n"
                  "for name, options in [('vae', {'nu': 300.0}), ('chyvae', {'nu': 9.0}),\n"
                  "                      ('factor-vae', {'update_order': 'sideways'}), "
                  "('bf-vae-1', {'dataset_size': 0}),\n"
                  "                      ('chyvae', {'psi': [[1.0, 0.0], [0.0, -1.0]]})]:\n"
                  "    try:\n        check_options(name, options, latent_dim=2 if 'psi' in options else 10)\n"
                  "    except ValueError as exc:\n        print(exc)\n"
                  "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if sys.modules.get(m)))",
                  block_tensorflow=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "[]"
    assert [line.split(" ")[:2] for line in lines[:-1]] == [
        ["model", "'vae'"], ["nu=9", "must"], ["update_order", "must"], ["dataset_size", "(N,"], ["Psi", "must"]]


def test_every_commands_help_shows_real_examples():
    """Two or three examples per command, each naming only options the command has."""
    import shlex

    from hwkeras.cli.main import main

    for name, command in main.commands.items():
        lines = (command.epilog or "").splitlines()
        invocations = [shlex.split(line.split("#")[0]) for line in lines if line.strip().startswith("hwkeras ")]
        assert 2 <= len(invocations) <= 3, name
        options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for args in invocations:
            assert args[:2] == ["hwkeras", name], args
            unknown = [a.split("=")[0] for a in args[2:] if a.startswith("-") and a.split("=")[0] not in options]
            assert not unknown, (name, unknown)


def _imports(folder):
    """(file, imported module) for every import in the .py files under ``folder``, at any depth of the code."""
    import ast

    found = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found += [(path, node.module)] + [(path, f"{node.module}.{a.name}") for a in node.names]
                elif isinstance(node, ast.Import):
                    found += [(path, a.name) for a in node.names]
    return found


@pytest.mark.parametrize("folder, forbidden", [
    ("hwkeras", ("hwkeras.cli",)),  # the library never imports the command line
    ("hwkeras/training", ("hwkeras.runs", "hwkeras.report")),  # the step mechanics know no run directory
    ("hwkeras/sweep", ("hwkeras.report",)),  # the sweep's results and figure are its own
])
def test_import_directions(folder, forbidden):
    wrong = sorted({(os.path.relpath(path, ROOT), module) for path, module in _imports(folder)
                    if any(module == f or module.startswith(f + ".") for f in forbidden)})
    assert not wrong, wrong


def test_only_the_layout_spells_a_runs_file_names():
    """hwkeras/runs/layout.py owns the file names of a run and of a sweep directory: nothing else writes them
    as literals."""
    import ast

    from hwkeras.runs import layout

    names = {layout.CONFIG, layout.MODEL, layout.HISTORY, layout.STEP_HISTORY, layout.EVAL_METRICS, layout.METRICS,
             layout.CHECKPOINT_METADATA, layout.CHECKPOINT_WEIGHTS, layout.REPORT, layout.RECONSTRUCTIONS,
             # and a sweep's
             layout.SWEEP_JSON, layout.TRIAL_RECORD, layout.RESULTS, layout.SUMMARY, layout.TRADEOFF, layout.SELECTION}
    spelled = []
    for folder in ("hwkeras", "cli"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                path = os.path.join(dirpath, name)
                if not name.endswith(".py") or path == layout.__file__:
                    continue
                with open(path) as f:
                    tree = ast.parse(f.read())
                spelled += [f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                            if isinstance(node, ast.Constant) and node.value in names]
    assert not spelled, spelled
