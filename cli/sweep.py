"""``hwkeras sweep``: models x grid x seeds, each trial an ``hwkeras fit`` run, on Ray Tune; then
the metrics, the tables, UDR and the unsupervised choice.

    hwkeras sweep --model chyvae --grid nu=20,200 --model beta-vae --grid beta=1,4 --seeds 3 \\
        --steps 5000 --evaluate factor_vae,mig --output-dir sweeps/nu-beta
    hwkeras sweep --resume sweeps/nu-beta      # finishes a killed sweep; finished trials are kept
    hwkeras sweep sweeps/nu-beta --select      # the trial UDR chooses, and how the metrics rank it

Every ``hwkeras fit`` option is accepted (``fit_command``'s own option objects, validated by its
``plan_fit``) except those a sweep sets per trial: --model (repeatable here), --seed (--seeds),
--output-dir (the sweep's), --run-name, and the export (``hwkeras export DIR/trials/<trial>``
exports a trial). docs/SWEEPS.md explains the directory, the GPU sharing and the selection.
"""

import os

import click

from hwkeras.cli.common import Command, InputError, examples
from hwkeras.cli.fit import fit_command
from hwkeras.models import cli_options
from hwkeras.sweep.plan import PER_TRIAL, SHARED_GRID_KEYS, SWEEP_DEFAULTS
from hwkeras.sweep.results import UDR_COLUMNS
from hwkeras.sweep.study import EXTRA_METHODS, STUDIES
from hwkeras.sweeps import EXECUTION

FIT_PARAMS = [p for p in fit_command.params if p.name not in PER_TRIAL]
#: Besides the library's execution options: the command's own modes.
MODES = ("sweep_dir", "resume", "select")


@click.command("sweep", cls=Command, epilog=examples(
    'hwkeras sweep --model chyvae --grid nu=20,200 --model beta-vae --grid beta=1,4 --seeds 3 --steps 5000',
    'hwkeras sweep --resume sweeps/nu-beta       # finishes a stopped sweep; finished trials are kept',
    'hwkeras sweep sweeps/nu-beta --select       # the trial UDR chooses, and how the metrics rank it',
))
@click.argument("sweep_dir", required=False, type=click.Path(file_okay=False))
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model to train (repeatable).  [chyvae]")
@click.option("--grid", "grid_pairs", multiple=True, metavar="KEY=V1,V2,...",
              help=f"Values of a fit option to try (repeatable), e.g. nu=20,200; a model's own option "
                   f"({', '.join(cli_options())}) applies to the models that take it; "
                   f"{', '.join(SHARED_GRID_KEYS)} to every model.")
@click.option("--seeds", type=int, default=SWEEP_DEFAULTS["seeds"], show_default=True,
              help="Seeds per configuration (0 .. N-1).")
@click.option("--evaluate", "evaluate", default=SWEEP_DEFAULTS["evaluate"], show_default=True,
              help="Metrics after training: names (under every protocol where they differ: factor_vae under "
                   "dlib and chyvae), PROTOCOL.NAME (chyvae.factor_vae, dlib.mig), 'all' or 'none'.")
@click.option("--evaluate-param", "evaluate_params", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Smaller metric samples for a quick look, e.g. factor_vae.num_train=500 (repeatable).")
@click.option("--nll-images", type=int, default=SWEEP_DEFAULTS["nll_images"], show_default=True,
              help="Held-out images for the reconstruction NLL (a fixed sample, the same for every trial).")
@click.option("--udr-images", type=int, default=SWEEP_DEFAULTS["udr_images"], show_default=True,
              help="Images UDR compares the trials' codes on (disentanglement_lib's 1000; a multiple of 10).")
@click.option("--max-concurrent", type=int, help="Trials at once.  [as many as the CPUs and GPUs allow]")
@click.option("--gpus-per-trial", type=float,
              help="GPU share of a trial, e.g. 0.25 for 4 trials per GPU.  [the GPUs divided among "
                   "--max-concurrent trials; 0 without GPUs]")
@click.option("--cpus-per-trial", type=float, default=SWEEP_DEFAULTS["cpus_per_trial"], show_default=True,
              help="CPUs Ray reserves per trial.")
@click.option("--address", help="Join this Ray cluster (e.g. auto or HOST:6379).  [a local Ray of this sweep's own]")
@click.option("--time-budget", type=float, metavar="SECONDS",
              help="Stop the trials still running after this long; --resume runs them again.")
@click.option("--output-dir", type=click.Path(file_okay=False),
              help="The new sweep's directory.  [sweeps/DATASET-TIMESTAMP]")
@click.option("--tradeoff-metric", help="tradeoff.png's disentanglement axis, e.g. chyvae.factor_vae.  "
                                        "[the first headline metric]")
@click.option("--study", metavar="NAME", help=f"Train a study of disentanglement_lib ({', '.join(STUDIES)}) by its "
              "model numbers: its methods, hyperparameters, seeds, architecture and training (docs/SWEEPS.md), on "
              "--dataset or the --model-num's.")
@click.option("--model-num", metavar="N,M-K", help="With --study: these model numbers (one dataset's), e.g. 137 or "
              "0-49,300.")
@click.option("--models", "study_models", metavar="A,B", help="With --study: these of its methods (e.g. "
              "beta-vae,factor-vae).  [all six]")
@click.option("--with", "with_methods", multiple=True, metavar="MODEL",
              help=f"With --study: add a method the study did not have ({', '.join(m.model for m in EXTRA_METHODS)}: "
                   f"CHyVAE with nu 12 .. 10000).")
@click.option("--resume", is_flag=True, help="Finish the sweep in SWEEP_DIR: run its unfinished trials.")
@click.option("--select", is_flag=True, help="Print the trial SWEEP_DIR's UDR chooses (writes selection.json).")
@click.option("--select-by", type=click.Choice(UDR_COLUMNS), default="udr_lasso", show_default=True,
              help="The UDR column that chooses.")
@click.pass_context
def sweep_command(ctx, sweep_dir, resume, select, select_by, **options):
    """Train many models (models x grid x seeds) on Ray Tune, measure them, and choose one by UDR."""
    import hwkeras.sweeps as sweeps

    given = [p for p in ctx.command.params
             if ctx.get_parameter_source(p.name) in (click.core.ParameterSource.COMMANDLINE,
                                                     click.core.ParameterSource.ENVIRONMENT)]
    if resume or select:
        mode = "--resume" if resume else "--select"
        if resume and select:
            raise InputError("--resume and --select are separate steps; a finished --resume also selects")
        if sweep_dir is None:
            raise InputError(f"{mode} needs the sweep's directory: hwkeras sweep {mode} SWEEP_DIR")
        extra = [p.opts[0] for p in given if p.name not in EXECUTION + MODES]
        if extra:
            raise InputError(f"{mode} takes the sweep's settings from {sweep_dir}/sweep.json; drop {', '.join(extra)}")
        if select:
            from hwkeras.sweep import selection

            chosen = sweeps.select(sweep_dir, select_by)
            for line in selection.describe(chosen):
                click.echo(line)
            click.echo(f"Wrote {os.path.join(sweep_dir, selection.SELECTION)}")
            return
    elif sweep_dir is not None:
        raise InputError(f"a new sweep's directory is --output-dir {sweep_dir}; SWEEP_DIR alone is for "
                         f"--resume and --select")
    backend = os.environ.get("KERAS_BACKEND") if ctx.get_parameter_source("backend") == \
        click.core.ParameterSource.COMMANDLINE else None
    if resume:
        # How the sweep ran (--max-concurrent, ...) and its backend are sweep.json's, unless given now.
        execution = {p.name: options[p.name] for p in given if p.name in EXECUTION and p.name in options}
        sweeps.resume_sweep(sweep_dir, select_by=select_by, backend=backend, **execution)
        return
    study_options(options, given)
    sweeps.run_sweep(select_by=select_by, grid_pairs=options.pop("grid_pairs"), **options)


def study_options(options, given):
    """--study's options as the library takes them: --models as the models (--model is the grid's), and
    --dataset, --preset and --seeds only when given (the study has its own)."""
    study_models = options.pop("study_models")
    if options["study"] is None:
        used = [o for o, v in (("--model-num", options["model_num"]), ("--models", study_models),
                               ("--with", options["with_methods"])) if v]
        if used:
            raise InputError(f"{', '.join(used)}: --model-num, --models and --with belong to --study "
                             f"{STUDIES[0]}; other sweeps take --model and --grid")
        return
    if options["models"]:
        raise InputError("--study chooses the models; drop --model (--models A,B picks among the study's methods)")
    options["models"] = tuple(m.strip() for m in (study_models or "").split(",") if m.strip())
    for name in ("dataset", "preset", "seeds"):
        if all(p.name != name for p in given):
            options[name] = None


for _param in FIT_PARAMS:
    sweep_command.params.append(_param)
