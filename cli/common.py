"""Pieces shared by the commands: one-line errors, option parsing, quiet Keras start-up, runs.

Commands import Keras and TensorFlow only when they run (``start_keras``), never at import, so
``hwkeras --help``, every ``COMMAND --help`` and ``hwkeras datasets`` start without them.
"""

import contextlib
import json
import os
import sys

import click

from hwkeras.devices import BACKENDS


class InputError(click.ClickException):
    """Bad input: printed as one ``Error: ...`` line, exit code 2 like Click's usage errors."""

    exit_code = 2


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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    return tf


def start_keras():
    """Imports Keras (and TensorFlow under its backend, probing CUDA now) quietly; returns keras."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with muted_native_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # probes CUDA now, quietly, rather than mid-run
        import hwkeras

        hwkeras.register_keras_classes()
    return keras


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
    """RUN_DIR or MODEL.keras -> (model_path, config dict or None when there is none, name)."""
    target = os.path.normpath(target)
    if not os.path.exists(target):
        raise InputError(f"{target} does not exist (expected a run directory or a .keras file)")
    if os.path.isdir(target):
        model_path = os.path.join(target, "model.keras")
        if not os.path.isfile(model_path):
            raise InputError(f"{target} is not a run directory: it has no model.keras (hwkeras fit writes one)")
        config_path = os.path.join(target, "config.json")
        config = read_json(config_path) if os.path.isfile(config_path) else None
        return model_path, config, os.path.basename(target)
    if os.path.isfile(target) and target.endswith(".keras"):
        return target, None, os.path.splitext(os.path.basename(target))[0]
    raise InputError(f"{target} is neither a run directory nor a .keras model file")


def deserialize(model_path):
    start_keras()
    from hwkeras.models import load_model as load

    return load(model_path)


def load_model(model_path):
    """Loads a .keras file saved by hwkeras; any failure is the user's input problem."""
    try:
        model = deserialize(model_path)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as bad input
        raise InputError(f"could not load {model_path}: {exc.__class__.__name__}: {one_line(exc)}") from None
    if not callable(getattr(model, "encode", None)):
        raise InputError(f"{model_path} holds a {type(model).__name__}, not an hwkeras model")
    return model


def write_json_atomically(record, path):
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
