"""A sweep directory as a whole: its spec (sweep.json), its trials' states, and the aggregate files.

    DIR/sweep.json      what was asked: models, grid, seeds, fit options, metrics (the trials follow from it)
    DIR/trials/<trial>/ one hwkeras run directory per trial, trial.json when it ended
    DIR/logs/<trial>.log each trial's output (training progress, warnings, a failure's traceback)
    DIR/unfinished/     trials a killed sweep left unfinished without a checkpoint, moved here by --resume
                        before rerunning them (one with a checkpoint continues from it in place)
    DIR/tune/           Ray Tune's own bookkeeping
    DIR/results.csv  summary.csv  tradeoff.png  selection.json  report.html

The full format is in docs/REPORTS.md.
"""

import datetime
import json
import os

from hwkeras.files import write_json_atomically
from hwkeras.runs import layout
from hwkeras.runs.layout import SWEEP_JSON, TUNE, UNFINISHED  # noqa: F401 - the sweep's names, one owner
from hwkeras.runs.layout import SWEEP_LOGS as LOGS  # noqa: F401
from hwkeras.sweep import grid, results, selection


def model_keys():
    """Every command-line option of a registered model (``hwkeras.models.cli_options``: nu, psi, beta,
    ...): the grid keys that apply per model, to the models that take them."""
    from hwkeras.models import cli_options

    return set(cli_options())


def takes(model, key):
    from hwkeras.models import model_options

    return key in model_options(model)


def read_spec(sweep_dir):
    """sweep.json as a dict; ValueError (one line) when DIR is not a sweep directory."""
    path = os.path.join(sweep_dir, SWEEP_JSON)
    if not os.path.isfile(path):
        # A folder holding other things cannot become one: no advice that sends the user back here.
        occupied = os.path.isdir(sweep_dir) and os.listdir(sweep_dir)
        target = "NEW_DIR" if occupied else sweep_dir
        raise ValueError(f"{sweep_dir} is not a sweep directory (it has no {SWEEP_JSON}); "
                         f"start one with hwkeras sweep --output-dir {target} ...")
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc.__class__.__name__})") from None
    missing = [k for k in ("models", "grid", "seeds", "fit_options", "metric_columns") if k not in (spec or {})]
    if not isinstance(spec, dict) or missing:
        raise ValueError(f"{path} lacks {', '.join(missing) or 'a JSON object'}; it was not written by hwkeras sweep")
    return spec


def write_spec(sweep_dir, spec):
    from hwkeras import __version__

    spec = {**spec, "created": datetime.datetime.now().isoformat(timespec="seconds"), "hwkeras_version": __version__}
    write_json_atomically(spec, os.path.join(sweep_dir, SWEEP_JSON))
    return spec


def trials_of(spec):
    if spec.get("study"):
        from hwkeras.sweep import study

        return study.trials(spec["study"])
    return grid.expand(spec["models"], spec["grid"], grid.check_seeds(spec["seeds"]), takes, model_keys())


def grid_keys(spec):
    return sorted(spec["grid"])


def resumable(sweep_dir, trial):
    """The newest checkpoint of an unfinished trial's run directory (``hwkeras fit --resume``
    continues it), or None: nothing to continue, the trial runs again from the start."""
    from hwkeras.runs.checkpoints import latest_checkpoint

    run_dir = results.run_dir(sweep_dir, trial)
    if not layout.RunDir(run_dir).has_config():
        return None
    return latest_checkpoint(run_dir)


def move_aside(sweep_dir, trial):
    """Moves an unfinished trial's directory to DIR/unfinished/<trial>.<n> (kept, never deleted)."""
    source = results.run_dir(sweep_dir, trial)
    if not os.path.exists(source):
        return None
    os.makedirs(os.path.join(sweep_dir, UNFINISHED), exist_ok=True)
    attempt = 1
    while os.path.exists(os.path.join(sweep_dir, UNFINISHED, f"{trial.name}.{attempt}")):
        attempt += 1
    target = os.path.join(sweep_dir, UNFINISHED, f"{trial.name}.{attempt}")
    os.rename(source, target)
    return target


def tables(sweep_dir, spec, trials, running=(), udr=None, tradeoff_metric=None):
    """results.csv, summary.csv, tradeoff.png from the trials as they are now; returns (rows, summary rows)."""
    header, rows = results.collect(sweep_dir, trials, grid_keys(spec), spec["metric_columns"], running, udr)
    return rows, results.write_tables(sweep_dir, header, rows, grid_keys(spec), tradeoff_metric)


def aggregate(sweep_dir, spec, trials, tradeoff_metric=None, select_by="udr_lasso"):
    """The end of a sweep: UDR of the finished trials, the tables, selection.json.

    Returns (rows, selection or None, notes).
    """
    from hwkeras.sweep.measure import load_udr_codes

    notes = []
    finished = [t for t in trials if results.is_finished(sweep_dir, t)]
    codes = {}
    for trial in finished:
        try:
            codes[trial.name] = load_udr_codes(results.run_dir(sweep_dir, trial))
        except (OSError, KeyError, ValueError) as exc:
            notes.append(f"{trial.name}: no UDR codes ({exc.__class__.__name__}); it has no UDR")
    udr = selection.udr_scores(codes, {t.name: t.configuration for t in finished},
                               seed=spec.get("udr", {}).get("seed", 0))
    rows, summary_rows = tables(sweep_dir, spec, trials, udr=udr, tradeoff_metric=tradeoff_metric)
    chosen = None
    try:
        chosen = selection.select(rows, summary_rows, select_by, spec["metric_columns"])
    except ValueError as exc:
        notes.append(f"no selection: {exc}")
    if chosen is not None:
        write_selection(sweep_dir, chosen)
    return rows, chosen, notes


def write_selection(sweep_dir, chosen):
    path = os.path.join(sweep_dir, selection.SELECTION)
    write_json_atomically(chosen, path)
    return path


def read_tables(sweep_dir):
    """(results rows, summary rows) as the CSV files hold them; ValueError when results.csv is missing."""
    import csv

    rows = {}
    for name in (results.RESULTS, results.SUMMARY):
        path = os.path.join(sweep_dir, name)
        if not os.path.isfile(path):
            raise ValueError(f"{sweep_dir} has no {name}; hwkeras sweep --resume {sweep_dir} writes it")
        with open(path, newline="") as f:
            rows[name] = list(csv.DictReader(f))
    return rows[results.RESULTS], rows[results.SUMMARY]
