"""Pieces shared by the commands: one-line errors and finding a trained model."""

import json
import os

import click


class InputError(click.ClickException):
    """Bad input: printed as one ``Error: ...`` line, exit code 2 like Click's usage errors."""

    exit_code = 2


def resolve_run(target):
    """RUN_DIR or MODEL.keras -> (model_path, config dict or None when there is none, name)."""
    target = os.path.normpath(target)
    if not os.path.exists(target):
        raise InputError(f"{target} does not exist (expected a run directory or a .keras file)")
    if os.path.isdir(target):
        model_path = os.path.join(target, "model.keras")
        if not os.path.isfile(model_path):
            raise InputError(f"{target} is not a run directory: it has no model.keras (hwkeras fit writes one)")
        config = None
        config_path = os.path.join(target, "config.json")
        if os.path.isfile(config_path):
            try:
                with open(config_path) as f:
                    config = json.load(f)
            except (OSError, ValueError) as exc:
                raise InputError(f"{config_path} is not readable JSON ({exc.__class__.__name__})") from None
            if not isinstance(config, dict):
                raise InputError(f"{config_path} must hold a JSON object")
        return model_path, config, os.path.basename(target)
    if os.path.isfile(target) and target.endswith(".keras"):
        return target, None, os.path.splitext(os.path.basename(target))[0]
    raise InputError(f"{target} is neither a run directory nor a .keras model file")


def load_model(model_path):
    """Loads a .keras file saved by hwkeras (its classes are registered by importing hwkeras)."""
    import keras

    import hwkeras  # noqa: F401

    try:
        return keras.saving.load_model(model_path)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"could not load {model_path}: {first}") from None
