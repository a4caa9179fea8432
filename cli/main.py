"""``hwkeras`` command line: ``hwkeras fit`` trains CHyVAE and exports a SavedModel."""

import os
import sys

import click

from hwkeras._startup import muted_native_stderr
from hwkeras.presets import PRESETS

with muted_native_stderr():
    import tensorflow as tf

    tf.config.list_physical_devices("GPU")  # probes CUDA now, quietly, rather than mid-run


class InputError(click.ClickException):
    """Bad input: printed as one ``Error: ...`` line, exit code 2 like Click's usage errors."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hwkeras")
def main():
    """Unsupervised disentanglement with a hierarchical (inverse-Wishart) hyperprior."""


def _parse_psi(value, latent_dim):
    import numpy as np

    if value is None:
        return None
    try:
        return float(value) * np.eye(latent_dim)
    except ValueError:
        pass
    if not os.path.isfile(value):
        raise InputError(f"--psi {value!r} is neither a number (a multiple of I) nor an existing .npy file")
    try:
        return np.load(value)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise InputError(f"--psi {value!r} could not be read as a .npy array ({exc.__class__.__name__})") from None


@main.command("fit")
@click.option("--dataset", default="correlated-ellipses", show_default=True, help="Dataset name (see docs/DATASETS.md).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="quick", show_default=True,
              help="Defaults for the options below: 'quick' for a first CPU run, 'paper' for the paper's settings.")
@click.option("--latent-dim", type=int, help="Latent size p.  [preset]")
@click.option("--nu", type=float, help="Inverse-Wishart degrees of freedom (> latent_dim - 1).  [preset]")
@click.option("--psi", help="Inverse-Wishart scale: a number c for c*I or a .npy (p, p) file.  [max(nu-p-1,1)*I]")
@click.option("--batch-size", type=int, help="Images per step.  [preset]")
@click.option("--steps", type=int, help="Training steps.  [preset]")
@click.option("--learning-rate", type=float, help="Adam learning rate.  [preset]")
@click.option("--hidden-units", type=int, help="Width of the dense layer (128 or 256 in the paper).  [preset]")
@click.option("--image-size", type=int, default=64, show_default=True, help="Image height and width (multiple of 16).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data stream, the weights and the noise.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Parent of the run directory.")
@click.option("--run-name", help="Name of the run directory and export.  [DATASET-chyvae-TIMESTAMP]")
@click.option("--export-dir", type=click.Path(file_okay=False), default="saved_models", show_default=True,
              help="The SavedModel goes to EXPORT_DIR/RUN_NAME.")
@click.option("--no-export", is_flag=True, help="Skip the SavedModel export.")
def fit_command(**options):
    """Train CHyVAE, save the run, export a SavedModel."""
    from hwkeras.cli.fit import run_fit

    try:
        run_fit(options, parse_psi=_parse_psi)
    except (ValueError, FileExistsError) as exc:
        raise InputError(str(exc).splitlines()[0]) from None


def _register_optional_commands():
    try:
        from hwkeras.cli.evaluate import evaluate_command
    except ImportError:
        return
    main.add_command(evaluate_command, "evaluate")


_register_optional_commands()

if __name__ == "__main__":
    sys.exit(main())
