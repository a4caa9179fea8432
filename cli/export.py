"""``hwkeras export``: a trained model -> a SavedModel directory with its model card."""

import json
import os

import click

from hwkeras.cli.common import InputError, load_model, resolve_run


@click.command("export")
@click.argument("target", type=click.Path(exists=True))
@click.option("--output", type=click.Path(file_okay=False),
              help="SavedModel directory.  [saved_models/RUN_NAME]")
@click.option("--overwrite", is_flag=True, help="Replace an existing export (atomically).")
def export_command(target, output, overwrite):
    """Export TARGET (a run directory or a .keras file) as a SavedModel for serving."""
    from hwkeras.export import export_saved_model

    model_path, config, name = resolve_run(target)
    output = output or os.path.join("saved_models", name)
    if os.path.exists(output) and not overwrite:
        raise InputError(f"{output} already exists; pass --overwrite or choose another --output")
    model = load_model(model_path)
    card = {"dataset": config.get("dataset"), "training_steps": config.get("steps_trained"),
            "metrics": _metrics(os.path.dirname(model_path))}
    path = export_saved_model(model, output, overwrite=overwrite, card=card)
    click.echo(f"SavedModel: {path}")


def _metrics(run_dir):
    path = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
