"""Pieces shared by the commands: one-line errors, option parsing, quiet Keras start-up, runs.

Commands import Keras and TensorFlow only when they run (``start_keras``), never at import, so
``hwkeras --help``, every ``COMMAND --help`` and ``hwkeras datasets`` start without them.
"""

import contextlib
import json
import os
import sys
import tempfile
import zipfile

import click

from hwkeras.devices import BACKENDS


class InputError(click.ClickException):
    """Bad input: printed as one ``Error: ...`` line, exit code 2 like Click's usage errors."""

    exit_code = 2


def examples(*lines):
    """A command's --help epilog: real invocations, shown as written (click's \\b keeps the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def one_line(exc):
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


# --------------------------------------------------------------------------------------------
# Start-up: TensorFlow's C++ logs (absl, oneDNN, CUDA probing) are written before
# TF_CPP_MIN_LOG_LEVEL takes effect, so the CLI mutes file descriptor 2 while they load; its own
# messages and one-line errors stay readable. A library import is left untouched.
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def muted_native_stderr():
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _choose_backend(ctx, param, value):
    from hwkeras.devices import select_backend

    try:
        return select_backend(value)
    except ValueError as exc:
        raise InputError(one_line(exc)) from None


#: ``--backend``, shared by the commands that compute: sets KERAS_BACKEND before Keras loads.
backend_option = click.option(
    "--backend", type=click.Choice(BACKENDS), default=None, is_eager=True,
    callback=_choose_backend, expose_value=False,
    help="Keras backend.  [$KERAS_BACKEND or tensorflow]; jax and torch need no TensorFlow.")


def start_tensorflow():
    """Imports TensorFlow quietly (for the commands that use it without Keras); returns it."""
    require_tensorflow("Running a SavedModel")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    return tf


#: What a process without TensorFlow needs for a SavedModel (pyproject.toml's range).
TENSORFLOW_INSTALL = "pip install 'tensorflow>=2.18,<2.22'"


def tensorflow_installed():
    """Whether TensorFlow can be imported here, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def require_tensorflow(what):
    """One line, before any work, for a command that cannot run without TensorFlow (``what`` needs it)."""
    if not tensorflow_installed():
        raise InputError(f"{what} needs TensorFlow, which is not installed here: {TENSORFLOW_INSTALL}")


def keras_backend_to_load():
    """The backend Keras will load: $KERAS_BACKEND, else keras.json's (Keras's own order), else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def export_in_tensorflow(target, output, overwrite=False):
    """``hwkeras export TARGET --output OUTPUT`` in a TensorFlow process; returns what it printed.

    SavedModels come from the TensorFlow backend (a JAX export writes, but its linear algebra fails
    when served), so a JAX or PyTorch process hands its .keras file to one.
    """
    import subprocess

    require_tensorflow("A SavedModel")
    command = [sys.executable, "-m", "hwkeras.cli.main", "export", target, "--output", output]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(command + (["--overwrite"] if overwrite else []), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1].removeprefix("Error: ")
        # Bad input keeps its exit code 2 (InputError); anything else is a failed export.
        error = InputError if done.returncode == InputError.exit_code else click.ClickException
        raise error(last)
    return done.stdout.rstrip()  # the export's own line: the caller says it, once


def start_keras():
    """Imports Keras (and TensorFlow under its backend, probing CUDA now) quietly; returns keras."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    if keras_backend_to_load() == "tensorflow" and not tensorflow_installed():  # else Keras's import traceback
        raise InputError(f"Keras's backend here is TensorFlow, which is not installed: pass --backend jax or "
                         f"--backend torch (or set KERAS_BACKEND), or {TENSORFLOW_INSTALL}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # probes CUDA now, quietly, rather than mid-run
        import hwkeras

        hwkeras.register_keras_classes()
    return keras


def set_random_seed(seed):
    """``keras.utils.set_random_seed``, quietly: on every backend it imports TensorFlow when that is
    installed (to seed tf.random too), and TensorFlow's C++ start-up lines would reach the terminal."""
    keras = start_keras()
    with muted_native_stderr():
        keras.utils.set_random_seed(seed)


# --------------------------------------------------------------------------------------------
# Option parsing.
# --------------------------------------------------------------------------------------------

def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(pairs, option):
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they can be)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {pair!r} is not KEY=VALUE")
        parsed[key.strip()] = _parse_value(value.strip())
    return parsed


def parse_metric_params(pairs, option="--param"):
    """``("factor_vae.num_train=1000",)`` -> ``{"factor_vae": {"num_train": 1000}}``."""
    params = {}
    for key, value in parse_assignments(pairs, option).items():
        metric, dot, name = key.partition(".")
        if not dot or not name:
            raise InputError(f"{option} {key!r} must look like METRIC.NAME=VALUE, "
                             f"e.g. factor_vae.num_train=1000")
        params.setdefault(metric, {})[name] = value
    return params


# --------------------------------------------------------------------------------------------
# Runs and models.
# --------------------------------------------------------------------------------------------

def read_json(path):
    """A JSON object from ``path``, or InputError naming the file."""
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not readable JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} must hold a JSON object")
    return value


def resolve_run(target):
    """RUN_DIR or MODEL.keras -> (model_path, config dict or None when there is none, name).

    The one place that decides which model a run directory holds: its model.keras when training
    finished, else its newest checkpoint (a run stopped early; ``model_path`` is then the
    checkpoint's directory, which ``load_model`` reads, and a note says so on stderr).
    """
    target = os.path.normpath(target)
    if not os.path.exists(target):
        raise InputError(f"{target} does not exist (expected a run directory or a .keras file)")
    if os.path.isdir(target):
        from hwkeras.runs.layout import RunDir, migrate

        files = RunDir(target)
        try:
            config = migrate(read_json(files.config_path)) if files.has_config() else None
        except ValueError as exc:  # a config.json of a newer hwkeras
            raise InputError(f"{files.config_path}: {exc}") from None
        model_path = files.model_path
        if not files.has_final_model():
            model_path = _checkpoint_instead(target, config)
        return model_path, config, os.path.basename(os.path.abspath(target))
    if os.path.isfile(target) and target.endswith(".keras"):
        return target, None, os.path.splitext(os.path.basename(target))[0]
    raise InputError(f"{target} is neither a run directory nor a .keras model file")


def _checkpoint_instead(run_dir, config):
    start_keras()
    from hwkeras.runs.checkpoints import run_model

    _, checkpoint = run_model(run_dir)
    if checkpoint is None:
        raise InputError(f"{run_dir} is not a run directory: it has no model.keras (hwkeras fit writes one) "
                         f"and no checkpoint")
    planned = (config or {}).get("steps")
    of = f" of {planned}" if planned else ""
    click.echo(f"Note: {run_dir} has no model.keras (training stopped at step {checkpoint.step}{of}); "
               f"using its checkpoint of step {checkpoint.step}", err=True)
    return checkpoint.path


class DamagedModelFile(ValueError):
    """A .keras file that is not a whole zip archive (Keras calls that "File not found")."""


def deserialize(model_path):
    """The model of a .keras file or of a checkpoint directory (``resolve_run``)."""
    start_keras()
    if os.path.isdir(model_path):
        from hwkeras.runs.checkpoints import read_checkpoint

        return read_checkpoint(model_path).load_model()
    if not zipfile.is_zipfile(model_path):
        raise DamagedModelFile(f"{model_path} is not a complete .keras file (not a zip archive: truncated or "
                         f"damaged?); save the model again or use the run's checkpoint")
    from hwkeras.models import load_model as load

    try:
        return load(model_path)
    except zipfile.BadZipFile as exc:
        raise DamagedModelFile(f"{model_path} is a damaged .keras archive ({exc}); save the model again") from None


def load_model(model_path):
    """Loads a .keras file saved by hwkeras; any failure is the user's input problem."""
    try:
        model = deserialize(model_path)
    except DamagedModelFile as exc:
        raise InputError(one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as bad input
        raise InputError(f"could not load {model_path}: {exc.__class__.__name__}: {one_line(exc)}") from None
    if not callable(getattr(model, "encode", None)):
        raise InputError(f"{model_path} holds a {type(model).__name__}, not an hwkeras model")
    return model


# --------------------------------------------------------------------------------------------
# Output paths: checked before any work, so that a bad one costs nothing.
# --------------------------------------------------------------------------------------------

def _nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_creatable_dir(path, option):
    """``path`` is a directory this process can write in, or can create: proved by doing it (the
    directories it lacks made, a probe file written in it), then undone. Permission bits cannot
    tell: root passes every ``os.access`` check, and read-only mounts or special file systems
    (/sys, /proc) refuse what the bits allow."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f"{option} {path}: exists and is not a directory")
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise InputError(f"{option} {path}: {existing} is a file, not a directory")
    missing, parent = [], os.path.abspath(path)
    while parent != existing:
        missing.append(parent)
        parent = os.path.dirname(parent)
    made = []
    try:
        for directory in reversed(missing):
            os.mkdir(directory)
            made.append(directory)
        descriptor, probe = tempfile.mkstemp(prefix=".hwkeras-probe-", dir=path)
        os.close(descriptor)
        os.remove(probe)
    except OSError as exc:
        what = "cannot create it" if len(made) < len(missing) else "cannot write in it"
        raise InputError(f"{option} {path}: {what} ({exc.strerror or exc}); choose a writable place") from None
    finally:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def check_replaceable(path, option, overwrite, is_own, own_kind):
    """The one rule of every command that replaces an output: an existing ``path`` is replaced only
    with --overwrite, and only when ``is_own(path)`` (it is ``own_kind``, what this command writes).
    A run directory, a sweep directory or any other file is never replaced, --overwrite or not."""
    from hwkeras.files import what_is_at

    if not os.path.lexists(path):
        return
    if not is_own(path):
        raise InputError(f"{option} {path} is {what_is_at(path)}, not {own_kind}; it is never replaced: choose "
                         f"another {option}")
    if not overwrite:
        raise InputError(f"{path} already exists; pass --overwrite (it holds {own_kind}) or choose another {option}")


def check_output_file(path, option, must_exist_dir=True):
    """A file ``path`` can be written: not a directory; its folder exists (or can be made) and is writable."""
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a directory, expected a file")
    directory = os.path.dirname(os.path.abspath(path))
    if must_exist_dir and not os.path.isdir(directory):
        what = "is a file, not a directory" if os.path.exists(directory) else "does not exist"
        raise InputError(f"{option}: directory {directory} {what}")
    check_creatable_dir(directory, option)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path}: the file is not writable")


def check_plain_name(name, option):
    """A file or directory name that stays inside its parent: no separators, not '.' or '..'."""
    separators = [sep for sep in (os.sep, os.altsep) if sep]
    if not name or name in (".", "..") or any(sep in name for sep in separators) or "\0" in name:
        raise InputError(f"{option} {name!r} must be a plain name (no '/', not '.' or '..'): "
                         f"it names a directory inside its parent")
