"""``hwkeras evaluate``: disentanglement metrics of a trained model, printed and saved as JSON.

    hwkeras evaluate runs/correlated-ellipses-chyvae-20250101-120000
    hwkeras evaluate model.keras --dataset correlated-ellipses --metrics factor_vae,mig

A run directory (what ``hwkeras fit`` writes) holds ``config.json`` (``dataset`` and
``dataset_options``) and ``model.keras``; a bare ``.keras`` file needs ``--dataset``. The
representation is the encoder mean, computed 64 images at a time.
"""

import json
import os

import click

from hwkeras.cli.common import InputError, resolve_run

METRICS_FILENAME = "metrics.json"


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


# --------------------------------------------------------------------------------------------
# Resolving what to evaluate. Kept as small functions so that tests can replace the loaders.
# --------------------------------------------------------------------------------------------

def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_assignments(pairs, option):
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they can be)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {pair!r} is not KEY=VALUE")
        parsed[key.strip()] = _parse_value(value.strip())
    return parsed


def _parse_metric_params(pairs):
    """``("factor_vae.num_train=1000",)`` -> ``{"factor_vae": {"num_train": 1000}}``."""
    params = {}
    for key, value in _parse_assignments(pairs, "--param").items():
        metric, dot, name = key.partition(".")
        if not dot or not name:
            raise InputError(f"--param {key!r} must look like METRIC.NAME=VALUE, "
                             f"e.g. factor_vae.num_train=1000")
        params.setdefault(metric, {})[name] = value
    return params


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


def _load_model(path):
    import keras

    import hwkeras  # noqa: F401  (registers the custom layers and models for deserialisation)

    return keras.saving.load_model(path)


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------

def format_table(record):
    """Markdown-style table of every scalar score, the headline scores marked with '*'."""
    from hwkeras.metrics.evaluate import METRICS, scalar_rows

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


def _write_json(record, path):
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------

@click.command("evaluate")
@click.argument("target", metavar="RUN_DIR_OR_MODEL")
@click.option("--metrics", default="all", show_default=True,
              help="'all' or a comma-separated list of: factor_vae, beta_vae, mig, dci, sap, "
                   "modularity.")
@click.option("--protocol", type=click.Choice(["dlib", "chyvae"]), default="dlib",
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
        raise InputError(f"--metrics: {_one_line(exc)}") from None
    params = _parse_metric_params(param_pairs)
    try:
        for metric, overrides in params.items():
            if metric not in names:
                raise ValueError(f"--param names metric {metric!r}, which is not being "
                                 f"computed (--metrics {metrics})")
            metric_parameters(metric, protocol, overrides)
    except ValueError as exc:
        raise InputError(_one_line(exc)) from None
    dataset_options = _parse_assignments(dataset_option_pairs, "--dataset-option")

    model_path, name, options, run_dir, default_output = resolve_target(
        target, dataset_name, dataset_options)
    output = output or default_output
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise InputError(f"--output: directory {out_dir} does not exist")

    try:
        dataset = _get_dataset(name, options)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise InputError(f"dataset {name!r}: {_one_line(exc)}") from None
    from hwkeras.metrics.utils import check_ground_truth_data

    try:
        check_ground_truth_data(dataset)
    except ValueError as exc:
        raise InputError(_one_line(exc)) from None

    try:
        model = _load_model(model_path)
    except Exception as exc:  # noqa: BLE001 - any unreadable model is the user's input problem
        raise InputError(f"could not load {model_path}: {exc.__class__.__name__}: "
                         f"{_one_line(exc)}") from None
    if not callable(getattr(model, "encode", None)):
        raise InputError(f"{model_path} holds a {type(model).__name__} without encode(); "
                         f"hwkeras evaluate needs an hwkeras model")

    click.echo(f"hwkeras evaluate: {model_path} on {name} ({', '.join(names)}; protocol "
               f"{protocol}, seed {seed})")
    try:
        record = evaluate_fn(dataset, representation_from_model(model), names, protocol=protocol,
                             seed=seed, params=params,
                             log=lambda message: click.echo(f"  {message}", err=True))
    except ValueError as exc:
        raise InputError(_one_line(exc)) from None

    record = {"model": os.path.abspath(model_path),
              "run_dir": os.path.abspath(run_dir) if run_dir else None,
              "dataset": name, "dataset_options": options, **record}
    _write_json(record, output)
    click.echo(format_table(record))
    click.echo(f"(* = headline score)  Wrote {output}")
