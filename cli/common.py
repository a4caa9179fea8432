"""Pieces shared by the commands: one-line errors, --backend, option parsing, runs.

Commands import Keras and TensorFlow only when they run (``start_keras``), never at import, so
``hwkeras --help``, every ``COMMAND --help`` and ``hwkeras datasets`` start without them. The
library raises ``hwkeras.errors`` exceptions; ``Command`` turns each into its one line and exit code.
"""

import json
import os
import signal
import zipfile

import click

from hwkeras.devices import BACKENDS
from hwkeras.errors import Failed, RunStopped, UserError

# The library's helpers the commands use as they are (checked paths, quiet framework start-up).
from hwkeras.files import check_creatable_dir, check_output_file, check_plain_name, one_line  # noqa: F401
from hwkeras.frameworks import (  # noqa: F401
    TENSORFLOW_INSTALL,
    muted_native_stderr,
    require_tensorflow,
    set_random_seed,
    start_keras,
    start_tensorflow,
    tensorflow_installed,
)
from hwkeras.metrics.evaluate import parse_assignments, parse_metric_params  # noqa: F401
from hwkeras.outputs import check_replaceable  # noqa: F401


class InputError(click.ClickException):
    """Bad input: printed as one ``Error: ...`` line, exit code 2 like Click's usage errors."""

    exit_code = 2


class Command(click.Command):
    """A command whose library errors end as one line: ``UserError`` (exit 2), ``Failed`` (exit 1),
    ``RunStopped`` by a signal (its line on stderr, exit 128 + the signal)."""

    def invoke(self, ctx):
        from hwkeras.console import to_terminal

        to_terminal()
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise InputError(one_line(exc)) from None
        except RunStopped as stop:
            if stop.signal_name is None:
                raise click.ClickException(str(stop)) from None
            click.echo(f"\n{stop}", err=True)
            raise click.exceptions.Exit(128 + getattr(signal, stop.signal_name)) from None
        except Failed as exc:
            raise click.ClickException(one_line(exc)) from None


def examples(*lines):
    """A command's --help epilog: real invocations, shown as written (click's \\b keeps the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


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

    Which model a run directory holds is ``hwkeras.runs.checkpoints.run_model``'s answer (also asked
    by the report and ``Run.load_model``): its model.keras when training finished, else its newest
    checkpoint (a run stopped early; ``model_path`` is then the checkpoint's directory, which
    ``load_model`` reads, and a note says so on stderr).
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
