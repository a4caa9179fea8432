"""``hwkeras fit``: the options, then the library's run (hwkeras.runs: plan, train).

Everything the user gave is validated (``hwkeras.runs.plan``) before anything is written or
trained; past validation a failure is a bug and keeps its traceback. The run directory holds
config.json, model.keras, the histories, TensorBoard logs and pictures; the SavedModel goes to
EXPORT_DIR.
"""

import click

from hwkeras.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
from hwkeras.cli.common import Command, InputError, backend_option, examples, one_line
from hwkeras.devices import DISTRIBUTIONS, PRECISIONS
from hwkeras.models import MODEL_NAMES, cli_options, option_help, option_type
from hwkeras.presets import PRESET_HELP, PRESETS
from hwkeras.runs.plan import DEFAULTS


def model_click_options(command):
    """``hwkeras fit``'s model options (--nu, --psi, --beta, ...), one per command-line option of the
    registered models, typed and described by their entries (which models take it, the defaults)."""
    for name in reversed(tuple(cli_options())):
        command = click.option(f"--{name.replace('_', '-')}", type=option_type(name), help=option_help(name))(command)
    return command


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------

def _dataset_names():
    from hwkeras.data.registry import DATASETS

    return ", ".join(DATASETS)


@click.command("fit", cls=Command, epilog=examples(
    'hwkeras fit                            # CHyVAE on CorrelatedEllipses (the quick preset, embedded data)',
    'hwkeras fit --model beta-vae --beta 4 --dataset dsprites --data-dir ~/data/dsprites --steps 20000',
    'hwkeras fit --resume runs/RUN --steps 40000    # continue a stopped or finished run',
))
@backend_option
@click.option("--model", default=DEFAULTS["model"], show_default=True, help=f"{', '.join(MODEL_NAMES)}.")
@click.option("--dataset", default=DEFAULTS["dataset"], show_default=True,
              help=f"{_dataset_names()} (`hwkeras datasets` says what each expects).")
@click.option("--data-dir", type=click.Path(),
              help="Dataset folder or file, or a root holding DATASET/.  [$HWKERAS_DATA_DIR/DATASET or ~/data/DATASET]")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=DEFAULTS["preset"], show_default=True,
              help="Defaults for the options marked [preset]: "
                   + "; ".join(f"'{name}' ({text})" for name, text in PRESET_HELP.items()) + ".")
@click.option("--architecture", type=click.Choice(tuple(ARCHITECTURES)),
              help="The encoder/decoder body, for every model: "
                   + "; ".join(f"'{name}' {text}" for name, (text, _) in ARCHITECTURES.items())
                   + f".  [preset; {DEFAULT_ARCHITECTURE}]")
@click.option("--latent-dim", type=int, help="Latent size p.  [preset]")
@model_click_options
@click.option("--batch-size", type=int, help="Images per step (split over the devices with --distribute).  [preset]")
@click.option("--steps", type=int, help="Training steps.  [preset]")
@click.option("--learning-rate", type=float, help="Adam learning rate.  [preset]")
@click.option("--hidden-units", type=int,
              help="Width of the dense layer.  [dlib: 256; chyvae: 128 for dSprites/ellipses, 256 for CelebA, "
                   "Chairs, Faces]")
@click.option("--precision", type=click.Choice(PRECISIONS), default=DEFAULTS["precision"], show_default=True,
              help="mixed_bfloat16: the encoder and decoder compute in bfloat16 (float32 weights); the "
                   "posterior, the hyperprior math and the loss stay float32 (docs/BACKENDS.md).")
@click.option("--distribute", type=click.Choice(DISTRIBUTIONS), default=DEFAULTS["distribute"], show_default=True,
              help="Split each batch over all local devices: data-parallel (--backend jax) or mirrored "
                   "(tensorflow; MultiWorkerMirroredStrategy when TF_CONFIG is set).")
@click.option("--image-size", type=int, default=DEFAULTS["image_size"], show_default=True,
              help="Image height and width (multiple of 16).")
@click.option("--seed", type=int, default=DEFAULTS["seed"], show_default=True,
              help="Seed of the data stream, the weights and the noise.")
@click.option("--output-dir", type=click.Path(), default=DEFAULTS["output_dir"], show_default=True,
              help="Parent of the run directory.")
@click.option("--run-name", help="Name of the run directory and export.  [DATASET-MODEL-TIMESTAMP]")
@click.option("--export-dir", type=click.Path(), default=DEFAULTS["export_dir"], show_default=True,
              help="The SavedModel goes to EXPORT_DIR/RUN_NAME.")
@click.option("--no-export", is_flag=True, help="Skip the SavedModel export.")
@click.option("--no-report", is_flag=True, help="Skip RUN_DIR/report.html (`hwkeras report RUN_DIR` writes it later).")
@click.option("--summary-every", type=click.IntRange(min=0), default=DEFAULTS["summary_every"], show_default=True,
              help="Every N steps, write KL-sorted traversals and reconstructions to TensorBoard (0: never).")
@click.option("--log-every", type=click.IntRange(min=1),
              help="Every N steps, log the loss terms' means over those N steps to RUN_DIR/history_steps.csv and "
                   "TensorBoard (logs/steps).  [max(1, STEPS // 100): 100 rows or more from 100 steps]")
@click.option("--eval-every", type=int,
              help="Every N steps, compute --eval-metrics and log them (history.csv, TensorBoard) as eval_<metric>.")
@click.option("--eval-metrics", default=DEFAULTS["eval_metrics"], show_default=True,
              help="Metrics for --eval-every ('all' or a list).")
@click.option("--eval-param", "eval_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller samples for --eval-every, e.g. mig.num_train=2000 (repeatable).")
@click.option("--checkpoint-every", type=int, default=DEFAULTS["checkpoint_every"], show_default=True,
              help="Every N steps (and at each epoch's end), checkpoint the training state to RUN_DIR/checkpoints.")
@click.option("--keep-checkpoints", type=int, default=DEFAULTS["keep_checkpoints"], show_default=True,
              help="How many of the newest checkpoints to keep.")
@click.option("--resume", "resume", metavar="RUN_DIR",
              help="Continue a stopped run from its newest checkpoint, with its own config.json (--steps may "
                   "extend it).")
def fit_command(**options):
    """Train CHyVAE (or a baseline), save the run, export a SavedModel."""
    from hwkeras.runs.plan import plan_fit, plan_resume
    from hwkeras.runs.session import train

    try:
        plan = plan_resume(options, given_options()) if options["resume"] is not None else plan_fit(options)
    except (ValueError, FileExistsError) as exc:
        raise InputError(one_line(exc)) from None
    train(plan)  # past validation, a failure is a bug: keep its traceback


def given_options():
    """Names of the options the user gave (command line or environment), not left at their defaults."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return {name for name in ctx.params
            if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
