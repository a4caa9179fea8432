"""A sweep directory's tables, read from its trials: results.csv, summary.csv and tradeoff.png.

Each trial leaves ``trials/<trial>/trial.json`` when it ends (status ``finished`` or ``failed``);
the tables are always rebuilt from those files, so a resumed or re-aggregated sweep gives the
same tables as one that ran through. The columns are the sweep directory format's
(docs/REPORTS.md): trial, configuration, model, the grid keys, seed, steps, status, wall_time_s,
``<protocol>.<metric>``, reconstruction_nll, the final loss terms, the UDR columns, run_dir.
"""

import csv
import json
import math
import os

from hwkeras.files import atomic_open, atomic_path, csv_number
from hwkeras.runs import layout
from hwkeras.runs.layout import RESULTS, SUMMARY, TRADEOFF, TRIAL_RECORD, TRIALS  # noqa: F401 - the sweep's names

#: finished and failed come from trial.json; running while this sweep runs it; stopped: started by an
#: earlier run of the sweep that ended (killed, or --time-budget) before it did; pending: not started.
STATUSES = ("finished", "failed", "running", "stopped", "pending")
#: Duan et al.'s UDR across the seeds of a configuration, and all-to-all across the sweep's trials.
UDR_COLUMNS = ("udr_lasso", "udr_spearman", "udr_a2a_lasso", "udr_a2a_spearman")
#: Loss terms in this order first; a model's other terms follow in the order met.
LOSS_ORDER = ("loss", "reconstruction", "elbo", "kl", "kl_latent", "kl_hyperprior", "tc")
#: Columns that describe a trial rather than measure it (no mean or sd in summary.csv).
_LABELS = ("trial", "configuration", "model", "seed", "model_num", "status", "run_dir")


def run_dir(sweep_dir, trial):
    return os.path.join(sweep_dir, TRIALS, trial.name)


def read_trial(sweep_dir, trial):
    """The trial's trial.json, or None when it has not ended (or the file is unreadable)."""
    path = os.path.join(run_dir(sweep_dir, trial), TRIAL_RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in ("finished", "failed") else None


def is_finished(sweep_dir, trial):
    record = read_trial(sweep_dir, trial)
    return bool(record and record["status"] == "finished"
                and os.path.isfile(os.path.join(run_dir(sweep_dir, trial), layout.MODEL)))


def status(sweep_dir, trial, running=()):
    if trial.name in running:
        return "running"
    record = read_trial(sweep_dir, trial)
    if record is not None:
        return "finished" if is_finished(sweep_dir, trial) else "failed"
    return "stopped" if os.path.isdir(run_dir(sweep_dir, trial)) else "pending"


def loss_columns(records):
    names = list(dict.fromkeys(name for r in records for name in (r.get("losses") or {})))
    return [n for n in LOSS_ORDER if n in names] + [n for n in names if n not in LOSS_ORDER]


def collect(sweep_dir, trials, grid_keys, metric_columns, running=(), udr=None):
    """(header, rows): one row per trial, in the sweep's order. ``udr``: trial name -> UDR columns."""
    udr = udr or {}
    records = {t.name: read_trial(sweep_dir, t) or {} for t in trials}
    losses = loss_columns(records.values())
    # A study's trials: disentanglement_lib's model number (empty for a method the study did not have).
    numbered = ["model_num"] if any(t.study for t in trials) else []
    header = (["trial", "configuration", "model", *grid_keys, "seed", *numbered, "steps", "status", "wall_time_s",
               *metric_columns, "reconstruction_nll", *losses, *UDR_COLUMNS, "run_dir"])
    rows = []
    for trial in trials:
        record = records[trial.name]
        row = {"trial": trial.name, "configuration": trial.configuration, "model": trial.model,
               **{k: trial.values.get(k, "") for k in grid_keys}, "seed": trial.seed,
               **({"model_num": (trial.study or {}).get("model_num")} if numbered else {}),
               "steps": record.get("steps", ""), "status": status(sweep_dir, trial, running),
               "wall_time_s": record.get("wall_time_s", ""),
               **{c: (record.get("metrics") or {}).get(c, "") for c in metric_columns},
               "reconstruction_nll": record.get("reconstruction_nll", ""),
               **{c: (record.get("losses") or {}).get(c, "") for c in losses},
               **{c: udr.get(trial.name, {}).get(c, "") for c in UDR_COLUMNS},
               "run_dir": os.path.join(TRIALS, trial.name)}
        rows.append({k: _cell(v) for k, v in row.items()})
    return header, rows


def summarise(header, rows, grid_keys):
    """(header, rows) of summary.csv: per configuration, n finished trials, X_mean and X_sd (ddof=1)."""
    measures = [c for c in header if c not in _LABELS and c not in grid_keys]
    out_header = ["configuration", "model", *grid_keys, "n"] + [f"{c}_{s}" for c in measures for s in ("mean", "sd")]
    out = []
    for configuration in dict.fromkeys(r["configuration"] for r in rows):
        group = [r for r in rows if r["configuration"] == configuration]
        done = [r for r in group if r["status"] == "finished"]
        summary = {"configuration": configuration, "model": group[0]["model"],
                   **{k: group[0][k] for k in grid_keys}, "n": str(len(done))}
        for c in measures:
            values = [v for v in (csv_number(r[c]) for r in done) if v is not None]
            summary[f"{c}_mean"] = f"{sum(values) / len(values):.6g}" if values else ""
            summary[f"{c}_sd"] = f"{_sd(values):.6g}" if len(values) >= 2 else ""
        out.append(summary)
    return out_header, out


def write_tables(sweep_dir, header, rows, grid_keys, tradeoff_metric=None):
    """Writes results.csv, summary.csv and (when a trial finished) tradeoff.png; returns the summary rows."""
    write_csv(os.path.join(sweep_dir, RESULTS), header, rows)
    summary_header, summary_rows = summarise(header, rows, grid_keys)
    write_csv(os.path.join(sweep_dir, SUMMARY), summary_header, summary_rows)
    if any(r["status"] == "finished" for r in rows):
        from hwkeras.sweep.tradeoff import choose_metric, tradeoff_plot

        metric = choose_metric(summary_header, tradeoff_metric, [])
        if metric is not None:
            path = os.path.join(sweep_dir, TRADEOFF)
            with atomic_path(path, suffix=".png") as tmp:
                tradeoff_plot(summary_rows, metric, tmp)
    return summary_rows


def write_csv(path, header, rows):
    with atomic_open(path, newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in header} for row in rows)


def _cell(value):
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def _sd(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
