"""``hwkeras`` command line: ``hwkeras fit`` trains CHyVAE and exports a SavedModel."""

import os
import sys

import click

from hwkeras._startup import muted_native_stderr
from hwkeras.cli.common import InputError
from hwkeras.presets import PRESETS

with muted_native_stderr():
    import tensorflow as tf

    tf.config.list_physical_devices("GPU")  # probes CUDA now, quietly, rather than mid-run


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
@click.option("--model", default="chyvae", show_default=True,
              help="chyvae, vae, beta-vae, factor-vae, beta-tcvae, bf-vae-0, bf-vae-1 or bf-vae-2.")
@click.option("--dataset", default="correlated-ellipses", show_default=True,
              help="Dataset name (`hwkeras datasets` lists them).")
@click.option("--data-dir", type=click.Path(),
              help="Dataset folder or file, or a root holding DATASET/.  [$HWKERAS_DATA_DIR/DATASET or ~/data/DATASET]")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="quick", show_default=True,
              help="Defaults for the options marked [preset]: 'quick' (first CPU run), 'paper' "
                   "(Ansari & Soh), 'dlib' (disentanglement_lib's baselines).")
@click.option("--latent-dim", type=int, help="Latent size p.  [preset]")
@click.option("--nu", type=float, help="chyvae: inverse-Wishart degrees of freedom (> latent_dim - 1).  [preset]")
@click.option("--psi", help="chyvae: inverse-Wishart scale, a number c for c*I or a .npy (p, p) file.  [max(nu-p-1,1)*I]")
@click.option("--beta", type=float, help="vae/beta-vae: KL weight; beta-tcvae: TC weight.  [model's]")
@click.option("--gamma", type=float, help="factor-vae, bf-vae-*: total-correlation weight.  [model's]")
@click.option("--eta", type=float, help="bf-vae-0: weight of sum (v_j - 1)^2.  [0.05]")
@click.option("--eta-s", type=float, help="bf-vae-2: weight of ||r||_1.  [0.1]")
@click.option("--eta-h", type=float, help="bf-vae-2: weight of the relevance entropy.  [0.1]")
@click.option("--dataset-size", type=int, help="bf-vae-1/2: N in the 1/N Gamma KL.  [the dataset's size]")
@click.option("--batch-size", type=int, help="Images per step.  [preset]")
@click.option("--steps", type=int, help="Training steps.  [preset]")
@click.option("--learning-rate", type=float, help="Adam learning rate.  [preset]")
@click.option("--hidden-units", type=int,
              help="Width of the dense layer.  [128 for dSprites/ellipses, 256 for CelebA, Chairs, Faces]")
@click.option("--image-size", type=int, default=64, show_default=True, help="Image height and width (multiple of 16).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the data stream, the weights and the noise.")
@click.option("--output-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Parent of the run directory.")
@click.option("--run-name", help="Name of the run directory and export.  [DATASET-MODEL-TIMESTAMP]")
@click.option("--export-dir", type=click.Path(file_okay=False), default="saved_models", show_default=True,
              help="The SavedModel goes to EXPORT_DIR/RUN_NAME.")
@click.option("--no-export", is_flag=True, help="Skip the SavedModel export.")
@click.option("--eval-every", type=int,
              help="Every N steps, compute --eval-metrics and log them (history.csv, TensorBoard) as eval_<metric>.")
@click.option("--eval-metrics", default="mig", show_default=True, help="Metrics for --eval-every ('all' or a list).")
@click.option("--eval-param", "eval_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller samples for --eval-every, e.g. mig.num_train=2000 (repeatable).")
def fit_command(**options):
    """Train CHyVAE (or a baseline), save the run, export a SavedModel."""
    from hwkeras.cli.fit import prepare_fit, train

    try:
        plan = prepare_fit(options, parse_psi=_parse_psi)
    except (ValueError, FileExistsError) as exc:
        raise InputError(str(exc).splitlines()[0]) from None
    train(*plan)  # past validation, a failure is a bug: keep its traceback


def _register_commands():
    from hwkeras.cli.datasets import datasets_command
    from hwkeras.cli.evaluate import evaluate_command
    from hwkeras.cli.export import export_command
    from hwkeras.cli.predict import predict_command
    from hwkeras.cli.report import report_command

    for command in (datasets_command, evaluate_command, export_command, predict_command, report_command):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    sys.exit(main())
