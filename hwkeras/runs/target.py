"""What a command's RUN_DIR_OR_MODEL argument names, and the model it holds.

``resolve_run(target)`` answers for a run directory (its model.keras, or its newest checkpoint for a
run stopped early: ``hwkeras.runs.checkpoints.run_model`` decides) or a ``.keras`` file;
``load_model(path)`` loads what it answered. ``hwkeras evaluate``, ``export``, ``report`` and
``serve``, and ``hwkeras.evaluate``, all start here. Bad input raises ``UserError`` (one line).
"""

import os
import zipfile

from hwkeras.console import note
from hwkeras.errors import UserError
from hwkeras.files import one_line, read_json


def resolve_run(target):
    """RUN_DIR or MODEL.keras -> (model_path, config dict or None when there is none, name).

    For a run stopped early ``model_path`` is its newest checkpoint's directory (which ``load_model``
    reads), and a note says so on the ``hwkeras.run`` logger.
    """
    target = os.path.normpath(target)
    if not os.path.exists(target):
        raise UserError(f"{target} does not exist (expected a run directory or a .keras file)")
    if os.path.isdir(target):
        from hwkeras.runs.layout import RunDir, migrate

        files = RunDir(target)
        try:
            config = migrate(read_json(files.config_path)) if files.has_config() else None
        except UserError:
            raise
        except ValueError as exc:  # a config.json of a newer hwkeras
            raise UserError(f"{files.config_path}: {exc}") from None
        model_path = files.model_path
        if not files.has_final_model():
            model_path = _checkpoint_instead(target, config)
        return model_path, config, os.path.basename(os.path.abspath(target))
    if os.path.isfile(target) and target.endswith(".keras"):
        return target, None, os.path.splitext(os.path.basename(target))[0]
    raise UserError(f"{target} is neither a run directory nor a .keras model file")


def _checkpoint_instead(run_dir, config):
    from hwkeras.frameworks import start_keras

    start_keras()
    from hwkeras.runs.checkpoints import run_model

    _, checkpoint = run_model(run_dir)
    if checkpoint is None:
        raise UserError(f"{run_dir} is not a run directory: it has no model.keras (hwkeras fit writes one) "
                        f"and no checkpoint")
    planned = (config or {}).get("steps")
    of = f" of {planned}" if planned else ""
    note(f"Note: {run_dir} has no model.keras (training stopped at step {checkpoint.step}{of}); "
         f"using its checkpoint of step {checkpoint.step}")
    return checkpoint.path


class DamagedModelFile(ValueError):
    """A .keras file that is not a whole zip archive (Keras calls that "File not found")."""


def deserialize(model_path):
    """The model of a .keras file or of a checkpoint directory (``resolve_run``)."""
    from hwkeras.frameworks import start_keras

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
    """Loads what ``resolve_run`` answered; any failure is the user's input problem (UserError)."""
    try:
        model = deserialize(model_path)
    except DamagedModelFile as exc:
        raise UserError(one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as bad input
        raise UserError(f"could not load {model_path}: {exc.__class__.__name__}: {one_line(exc)}") from None
    if not callable(getattr(model, "encode", None)):
        raise UserError(f"{model_path} holds a {type(model).__name__}, not an hwkeras model")
    return model
