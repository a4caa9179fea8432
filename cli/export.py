"""``hwkeras export``: a trained model -> a SavedModel directory with its model card."""

import os
import subprocess
import sys

import click

from hwkeras.cli.common import InputError, load_model, read_json, resolve_run, start_keras


@click.command("export")
@click.argument("target", type=click.Path(exists=True))
@click.option("--output", type=click.Path(file_okay=False),
              help="SavedModel directory.  [saved_models/RUN_NAME]")
@click.option("--overwrite", is_flag=True, help="Replace an existing export (atomically).")
def export_command(target, output, overwrite):
    """Export TARGET (a run directory or a .keras file) as a SavedModel for serving."""
    model_path, config, name = resolve_run(target)
    config = config or {}
    output = output or os.path.join("saved_models", name)
    if os.path.exists(output) and not overwrite:
        raise InputError(f"{output} already exists; pass --overwrite or choose another --output")
    if start_keras().backend.backend() != "tensorflow":
        # SavedModels come from the TensorFlow backend (a JAX export writes but its linear algebra
        # fails when served): re-run this command in a TF process on the same .keras file.
        _export_in_tensorflow(target, output, overwrite)
        return
    from hwkeras.export import export_saved_model

    model = load_model(model_path)
    card = {"dataset": config.get("dataset"), "training_steps": config.get("steps_trained"),
            "metrics": _metrics(os.path.dirname(model_path))}
    path = export_saved_model(model, output, overwrite=overwrite, card=card)
    click.echo(f"SavedModel: {path}")


def _export_in_tensorflow(target, output, overwrite):
    command = [sys.executable, "-m", "hwkeras.cli.main", "export", target, "--output", output]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(command + (["--overwrite"] if overwrite else []), env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1].removeprefix("Error: ")
        # Bad input keeps its exit code 2 (InputError); anything else is a failed export.
        error = InputError if done.returncode == InputError.exit_code else click.ClickException
        raise error(last)
    click.echo(done.stdout.rstrip())


def _metrics(run_dir):
    path = os.path.join(run_dir, "metrics.json")
    return read_json(path) if os.path.isfile(path) else None
