"""Pieces shared by the commands: one-line errors, --backend, option parsing, runs.

Commands import Keras and TensorFlow only when they run (``start_keras``), never at import, so
``hwkeras --help``, every ``COMMAND --help`` and ``hwkeras datasets`` start without them. The
library raises ``hwkeras.errors`` exceptions; ``Command`` turns each into its one line and exit code.
"""

import signal

import click

from hwkeras.devices import BACKENDS
from hwkeras.errors import Failed, RunStopped, UserError

# The library's helpers the commands use as they are (checked paths, JSON files, quiet framework start-up).
from hwkeras.files import check_creatable_dir, check_output_file, check_plain_name, one_line, read_json  # noqa: F401
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

# What RUN_DIR_OR_MODEL names and its model: the library decides (UserError -> one Error: line).
from hwkeras.runs.target import load_model, resolve_run  # noqa: F401


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

