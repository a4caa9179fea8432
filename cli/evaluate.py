"""``hwkeras evaluate``: disentanglement metrics of a trained model, printed and saved as JSON.

    hwkeras evaluate runs/correlated-ellipses-chyvae-20250101-120000
    hwkeras evaluate model.keras --dataset correlated-ellipses --metrics factor_vae,mig

A run directory (what ``hwkeras fit`` writes) holds ``config.json`` (``dataset`` and
``dataset_options``) and ``model.keras``; a bare ``.keras`` file needs ``--dataset``. The
representation is the encoder mean, computed 64 images at a time.
"""

import os

import click

from hwkeras.cli.common import (InputError, backend_option, load_model, one_line, parse_assignments,
                                parse_metric_params, resolve_run, write_json_atomically)
from hwkeras.metrics.evaluate import METRICS, PROTOCOLS

METRICS_FILENAME = "metrics.json"


def resolve_target(target, dataset_name, dataset_options):
    """(model path, dataset name, dataset options, run directory or None, default output)."""
    model_path, config, _ = resolve_run(target)
    if not os.path.isdir(target):  # a .keras file: nothing says which dataset it was trained on
        if dataset_name is None:
            raise InputError(f"--dataset is required with a .keras file ({target}): the "
                             f"metrics need the dataset's ground-truth factors")
        default_output = model_path[: -len(".keras")] + ".metrics.json"
        return model_path, dataset_name, dict(dataset_options), None, default_output
    if config is None and dataset_name is None:
        raise InputError(f"{target} has no config.json; pass --dataset NAME")
    name = dataset_name or config.get("dataset")
    if not name:
        raise InputError(f"{os.path.join(target, 'config.json')} has no \"dataset\" key; pass --dataset NAME")
    options = dict(config.get("dataset_options") or {}) if dataset_name is None else {}
    options.update(dataset_options)
    return model_path, name, options, target, os.path.join(target, METRICS_FILENAME)


def _get_dataset(name, options):
    from hwkeras.data import get_dataset

    return get_dataset(name, **options)


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------

def format_table(record):
    """Markdown-style table of every scalar score, the headline scores marked with '*'."""
    from hwkeras.metrics.evaluate import scalar_rows

    rows = [("metric", "score", "value")]
    for metric, key, value in scalar_rows(record):
        mark = " *" if METRICS[metric].headline == key else ""
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((metric, key + mark, text))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------

@click.command("evaluate")
@backend_option
@click.argument("target", metavar="RUN_DIR_OR_MODEL")
@click.option("--metrics", default="all", show_default=True,
              help=f"'all' or a comma-separated list of: {', '.join(METRICS)}.")
@click.option("--protocol", type=click.Choice(list(PROTOCOLS)), default="dlib",
              show_default=True,
              help="dlib: disentanglement_lib's constants for every metric. chyvae: the CHyVAE "
                   "paper's FactorVAE protocol (800 + 800 votes of 200 images, no pruning).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Every metric starts from np.random.RandomState(SEED).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="JSON file to write.  [RUN_DIR/metrics.json, or MODEL.metrics.json]")
@click.option("--dataset", "dataset_name",
              help="Dataset name; required with a .keras file, overrides config.json's.")
@click.option("--dataset-option", "dataset_option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Dataset constructor option (repeatable), e.g. image_size=64.")
@click.option("--param", "param_pairs", multiple=True, metavar="METRIC.NAME=VALUE",
              help="Override a protocol constant (repeatable), e.g. factor_vae.num_train=1000 "
                   "for a quick look; the JSON records what was used.")
def evaluate_command(target, metrics, protocol, seed, output, dataset_name,
                     dataset_option_pairs, param_pairs):
    """Disentanglement metrics of a trained model (encoder mean as the representation).

    The dlib protocol encodes about 3 million images for all metrics (BetaVAE alone 1.9
    million); use --metrics or --param to ask for less on a CPU.
    """
    from hwkeras.metrics import evaluate as evaluate_fn
    from hwkeras.metrics.evaluate import metric_parameters, parse_metric_names, representation_from_model

    try:
        names = parse_metric_names(metrics)
    except ValueError as exc:
        raise InputError(f"--metrics: {one_line(exc)}") from None
    params = parse_metric_params(param_pairs)
    try:
        for metric, overrides in params.items():
            if metric not in names:
                raise ValueError(f"--param names metric {metric!r}, which is not being "
                                 f"computed (--metrics {metrics})")
            metric_parameters(metric, protocol, overrides)
    except ValueError as exc:
        raise InputError(one_line(exc)) from None
    dataset_options = parse_assignments(dataset_option_pairs, "--dataset-option")

    model_path, name, options, run_dir, default_output = resolve_target(
        target, dataset_name, dataset_options)
    output = output or default_output
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise InputError(f"--output: directory {out_dir} does not exist")

    try:
        dataset = _get_dataset(name, options)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise InputError(f"dataset {name!r}: {one_line(exc)}") from None
    from hwkeras.metrics.utils import check_ground_truth_data

    try:
        check_ground_truth_data(dataset)
    except ValueError as exc:
        raise InputError(one_line(exc)) from None

    model = load_model(model_path)

    click.echo(f"hwkeras evaluate: {model_path} on {name} ({', '.join(names)}; protocol "
               f"{protocol}, seed {seed})")
    try:
        record = evaluate_fn(dataset, representation_from_model(model), names, protocol=protocol,
                             seed=seed, params=params,
                             log=lambda message: click.echo(f"  {message}", err=True))
    except ValueError as exc:
        raise InputError(one_line(exc)) from None

    record = {"model": os.path.abspath(model_path),
              "run_dir": os.path.abspath(run_dir) if run_dir else None,
              "dataset": name, "dataset_options": options, **record}
    write_json_atomically(record, output)
    click.echo(format_table(record))
    click.echo(f"(* = headline score)  Wrote {output}")
