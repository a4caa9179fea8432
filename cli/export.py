"""``hwkeras export``: a trained model -> a SavedModel directory (or ONNX graphs) with its model card."""

import os

import click

from hwkeras.cli.common import (
    Command,
    InputError,
    check_creatable_dir,
    check_replaceable,
    examples,
    load_model,
    read_json,
    require_tensorflow,
    resolve_run,
    start_keras,
)
from hwkeras.runs import layout


@click.command("export", cls=Command, epilog=examples(
    'hwkeras export runs/RUN                                 # -> saved_models/RUN',
    'hwkeras export runs/RUN --output /srv/models/chyvae/1 --overwrite',
    'hwkeras export runs/RUN --format onnx                   # -> saved_models/RUN-onnx',
))
@click.argument("target")
@click.option("--output",
              help="Export directory.  [saved_models/RUN_NAME, saved_models/RUN_NAME-onnx]")
@click.option("--format", "export_format", type=click.Choice(["savedmodel", "onnx"]), default="savedmodel",
              show_default=True, help="SavedModel, or one ONNX graph per endpoint for ONNX Runtime (docs/SERVING.md).")
@click.option("--overwrite", is_flag=True, help="Replace an existing export of the same format (atomically).")
def export_command(target, output, export_format, overwrite):
    """Export TARGET (a run directory or a .keras file) as a SavedModel or ONNX graphs for serving."""
    onnx = export_format == "onnx"
    # Whatever the backend, a TensorFlow process writes it (ONNX: Keras's export through tf2onnx).
    require_tensorflow("ONNX export" if onnx else "A SavedModel")
    if onnx:
        require_onnx_export()
    model_path, config, name = resolve_run(target)
    config = config or {}
    output = output or os.path.join("saved_models", name + ("-onnx" if onnx else ""))
    check_export_path(output, overwrite, export_format)
    if start_keras().backend.backend() != "tensorflow":
        from hwkeras.export import export_in_tensorflow  # Keras is loaded now

        click.echo(export_in_tensorflow(target, output, overwrite, export_format))
        return
    from hwkeras.export import export_saved_model
    from hwkeras.export_onnx import GRAPHS, export_onnx

    model = load_model(model_path)
    run_dir = os.path.normpath(target) if os.path.isdir(target) else None
    card = {"dataset": config.get("dataset"), "training_steps": config.get("steps_trained"),
            **_metrics(run_dir or os.path.dirname(model_path))}
    if os.path.isdir(model_path):  # no model.keras: a checkpoint of a run that stopped early
        card.update(complete=False, checkpoint=os.path.basename(model_path))
    if onnx:
        path = export_onnx(model, output, overwrite=overwrite, card=card)
        click.echo(f"ONNX ({', '.join(graph + '.onnx' for graph in GRAPHS)}): {path}")
        return
    path = export_saved_model(model, output, overwrite=overwrite, card=card)
    click.echo(f"SavedModel: {path}")


def require_onnx_export():
    """One line, before any work, when the packages Keras's ONNX export needs are missing."""
    from importlib.util import find_spec

    missing = [name for name in ("onnx", "tf2onnx") if find_spec(name) is None]
    if missing:
        raise InputError(f"ONNX export needs {' and '.join(missing)}, not installed here: "
                         "pip install 'hwkeras[onnx]'")


def check_export_path(output, overwrite, export_format="savedmodel"):
    """Before any work: a new directory, or (--overwrite) a former export of the same format, in a
    writable place."""
    from hwkeras.export_onnx import is_onnx_export
    from hwkeras.files import is_saved_model_export

    if os.path.exists(output) and not os.path.isdir(output):
        raise InputError(f"--output {output}: exists and is not a directory")
    if export_format == "onnx":
        check_replaceable(output, "--output", overwrite, is_onnx_export, "an ONNX export")
    else:
        check_replaceable(output, "--output", overwrite, is_saved_model_export, "a SavedModel export")
    check_creatable_dir(os.path.dirname(os.path.abspath(output)), "--output")


def _metrics(run_dir):
    """The card's metrics: ``metrics`` (metrics.json, as before) and every metrics*.json by protocol."""
    import glob

    path = os.path.join(run_dir, layout.METRICS)
    card = {"metrics": read_json(path) if os.path.isfile(path) else None}
    by_protocol = {}
    for other in sorted(glob.glob(os.path.join(run_dir, "metrics*.json"))):
        record = read_json(other)
        if isinstance(record.get("metrics"), dict):
            by_protocol.setdefault(record.get("protocol") or os.path.basename(other), record)
    if by_protocol:
        card["metrics_by_protocol"] = by_protocol
    return card
