"""A sweep directory's contents for its page (the format: docs/REPORTS.md, written by ``hwkeras sweep``).

    DIR/sweep.json  results.csv  summary.csv  tradeoff.png  trials/<trial>/  (ordinary run directories)

The page shows the sweep's answer first: the trial UDR chooses (selection.json, or chosen here
from results.csv as ``hwkeras sweep --select`` would) and how far the supervised metrics agree
with it; then the tables (scrolling inside their box, the first column kept in view), the
trade-off plot (drawn here when tradeoff.png is missing) and, per configuration, every seed's
traversals side by side, each linking to its run's page. Settings read as ``beta 4, nu 12``.
"""

import csv
import io
import os
import re

from hwkeras.files import csv_number
from hwkeras.models import load_model
from hwkeras.report import latents
from hwkeras.report.run import gather_run, is_run_dir, load_images, one_line, read_json
from hwkeras.runs import layout
from hwkeras.sweep.directory import SWEEP_JSON
from hwkeras.sweep.results import RESULTS, SUMMARY, TRADEOFF, TRIALS, UDR_COLUMNS
from hwkeras.sweep.selection import SELECTION
from hwkeras.sweep.tradeoff import choose_metric, tradeoff_plot

TRIAL_NAME = re.compile(r"^(?P<configuration>.+)-seed(?P<seed>\d+)$")
#: The UDR column the choice is made by when selection.json is missing (``hwkeras sweep --select-by``'s default).
DEFAULT_SELECT_BY = "udr_lasso"
#: The per-trial columns that describe a trial rather than measure it.
LABELS = ("trial", "configuration", "model", "seed", "steps", "status", "run_dir")


def is_sweep_dir(path):
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in (SWEEP_JSON, RESULTS))


def read_csv(path, notes):
    """(header, rows as dicts) or (None, []) with a note."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return None, []
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = [row for row in reader if None not in row and None not in row.values()]
            header = reader.fieldnames
            total = reader.line_num - 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        notes.append(f"{name} could not be read ({exc.__class__.__name__}); left out")
        return None, []
    if not header:
        notes.append(f"{name} is empty; left out")
        return None, []
    if len(rows) < total:
        notes.append(f"{name}: {total - len(rows)} incomplete rows left out (truncated file?)")
    return header, rows


def display(text):
    """A CSV cell as the tables show it: numbers to 4 significant digits, the rest as written."""
    value = csv_number(text)
    if value is None or text.strip().lstrip("-").isdigit():
        return text
    return f"{value:.4g}"


def readable(value):
    """A setting as a person writes it: ``{'beta': [1.0, 4.0], 'nu': [12.0]}`` -> ``beta 1, 4; nu 12``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {readable(v)}".strip() for k, v in value.items())
    return str(value)


def configuration_label(row, grid_keys):
    """``chyvae-nu=12`` as ``chyvae, nu 12`` from a results/summary row (its model and grid keys)."""
    settings = [f"{key} {display(row[key])}" for key in grid_keys if (row.get(key) or "").strip()]
    return ", ".join([row.get("model") or row.get("configuration", "")] + settings)


def _metric_columns(spec, header):
    from hwkeras.metrics.evaluate import METRICS

    columns = spec.get("metric_columns") if isinstance(spec, dict) else None
    if columns:
        return [c for c in columns if c in (header or ())]
    return [h for h in header or () if "." in h and h.split(".", 1)[1] in METRICS]


def _ordered(header, metric_columns, first=()):
    """The columns in reading order: ``first``, the UDR scores, the supervised metrics, the
    reconstruction, then the rest as the file has them."""
    front = [h for h in first if h in header]
    front += [h for h in header if h.split("_mean")[0] in UDR_COLUMNS and h not in front]
    front += [h for h in header if h.split("_mean")[0] in metric_columns and h not in front]
    front += [h for h in header if h.startswith("reconstruction_nll") and h not in front]
    return front + [h for h in header if h not in front]


def udr_choice(sweep_dir, spec, header, results, summary, notes):
    """The sweep's answer for the page: selection.json (the sweep's own choice), else the choice
    ``hwkeras.sweep.selection.select`` makes from results.csv and summary.csv; with, per supervised
    metric, the chosen trial's rank and the Spearman rank correlations (None when no UDR exists)."""
    from hwkeras.sweep import selection

    path = os.path.join(sweep_dir, SELECTION)
    record, source = None, None
    if os.path.isfile(path):
        record = read_json(path, notes)
        if not isinstance(record, dict) or "trial" not in record or not isinstance(record.get("agreement"), dict):
            if record is not None:
                notes.append(f"{SELECTION} is not a selection record; the choice is made here from {RESULTS}")
            record = None
        else:
            source = f"{SELECTION}, as the sweep chose"
    if record is None:
        if not results:
            return None
        have = [c for c in UDR_COLUMNS if any(csv_number(r.get(c)) is not None for r in results)]
        by = DEFAULT_SELECT_BY if DEFAULT_SELECT_BY in have or not have else have[0]
        try:
            record = selection.select(results, summary, by, _metric_columns(spec, header))
        except ValueError as exc:
            return {"missing": str(exc)}
        source = f"chosen here from {RESULTS} (the sweep wrote no {SELECTION}), as hwkeras sweep --select would"
    by = record.get("by", "")
    best = record.get("best_configuration") or None
    rows = []
    for metric, a in record["agreement"].items():
        trials, configurations = a.get("trials") or {}, a.get("configurations") or {}
        rows.append({"metric": metric, "value": a.get("chosen_value"), "rank": a.get("chosen_rank"),
                     "of": a.get("trials_ranked"), "best_trial": a.get("best_trial"), "best_value": a.get("best_value"),
                     "rho": trials.get("rho"), "p": trials.get("p"), "n": trials.get("n"),
                     "rho_configurations": configurations.get("rho"), "n_configurations": configurations.get("n")})
    return {"by": by, "trial": record.get("trial"), "configuration": record.get("configuration"),
            "score": record.get("score"), "reconstruction_nll": record.get("reconstruction_nll"),
            "best_configuration": best and {"configuration": best.get("configuration"),
                                            "mean": best.get(f"{by}_mean"), "n": best.get("n")},
            "trials_scored": record.get("trials_scored"), "agreement": rows, "source": source}


def tradeoff_uri(sweep_dir, summary_rows, metric, notes):
    """tradeoff.png as the sweep wrote it, or drawn from summary.csv when it is missing."""
    from hwkeras.report.pictures import data_uri

    path = os.path.join(sweep_dir, TRADEOFF)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return data_uri(f.read(), "image/png"), f"{TRADEOFF} (as the sweep drew it)"
    if not summary_rows or metric is None:
        notes.append("no tradeoff.png, and summary.csv has no metric to draw one from")
        return None, None
    buffer = io.BytesIO()
    tradeoff_plot(summary_rows, metric, buffer)
    return data_uri(buffer.getvalue(), "image/png"), f"{metric} against reconstruction_nll (drawn from summary.csv)"


def study_pictures(results, metric_columns, label, notes):
    """The study's pictures from results.csv (hwkeras.sweep.study_plots): per score (the metrics, then
    the UDR columns with a value), its distribution over seeds per setting; and the Spearman rank
    correlations between the scores across the finished trials. None without a finished score."""
    from hwkeras.report.pictures import data_uri
    from hwkeras.sweep import study_plots

    finished = [r for r in results if r.get("status") == "finished"]
    columns = [c for c in [*metric_columns, *UDR_COLUMNS] if any(csv_number(r.get(c)) is not None for r in finished)]
    if not columns:
        return None
    try:
        distributions = []
        for column in columns:
            buffer = io.BytesIO()
            study_plots.distribution_plot(results, column, buffer, label=label)
            distributions.append({"column": column, "uri": data_uri(buffer.getvalue(), "image/png")})
        correlations = study_plots.rank_correlations(results, columns)
        buffer = io.BytesIO()
        study_plots.rank_correlation_plot(correlations, buffer)
    except Exception as exc:  # noqa: BLE001 - a plot failure must not cost the rest of the page
        notes.append(f"the study's pictures could not be drawn ({one_line(exc)})")
        return None
    return {"distributions": distributions, "correlations": correlations,
            "correlations_uri": data_uri(buffer.getvalue(), "image/png"), "trials": len(finished)}


def trial_rows(sweep_dir, results, notes):
    """results.csv's rows, or, without it, one row per trials/<trial> directory."""
    if results:
        return results
    trials_dir = os.path.join(sweep_dir, TRIALS)
    names = sorted(os.listdir(trials_dir)) if os.path.isdir(trials_dir) else []
    rows = []
    for name in names:
        match = TRIAL_NAME.match(name)
        if match and os.path.isdir(os.path.join(trials_dir, name)):
            rows.append({"trial": name, "configuration": match["configuration"], "seed": match["seed"],
                         "status": "", "run_dir": os.path.join(TRIALS, name)})
    if not rows:
        notes.append(f"no {RESULTS} and no trials/<trial>/ directories: nothing to show")
    return rows


class _Images:
    """The preview images per dataset, drawn once: every trial of a dataset shows the same images."""

    def __init__(self):
        self.cache = {}

    def __call__(self, config, notes):
        key = repr(((config or {}).get("dataset"), sorted(((config or {}).get("dataset_options") or {}).items())))
        if key not in self.cache:
            self.cache[key] = load_images(config, None, notes)
        return self.cache[key]


def trial_traversals(run_dir, page_dir, run_reports, images):
    """(traversal pictures or None, link to the trial's page or None, a note for the cell or None)."""
    from hwkeras.report import REPORT_FILENAME
    from hwkeras.report.page import render, write_page
    from hwkeras.report.run import traversal_pictures

    page = os.path.join(run_dir, REPORT_FILENAME)
    if not is_run_dir(run_dir):
        return None, None, "no run directory"
    has_model = os.path.isfile(os.path.join(run_dir, layout.MODEL))
    if run_reports and not os.path.isfile(page):
        context = gather_run(run_dir)
        write_page(render("run.html", **context), page)
        pictures = (context["pictures"] or {}).get("traversals")
        problem = None if pictures else (f"no {layout.MODEL}" if not has_model else "no pictures (see its page)")
        return pictures, os.path.relpath(page, page_dir), problem
    link = os.path.relpath(page, page_dir) if os.path.isfile(page) else None
    if not has_model:
        return None, link, f"no {layout.MODEL}"
    try:
        model = load_model(os.path.join(run_dir, layout.MODEL))
        config = read_json(os.path.join(run_dir, layout.CONFIG), []) or {}
        return traversal_pictures(model, images(config, []), gifs=False), link, None
    except Exception as exc:  # noqa: BLE001 - one damaged trial must not cost the sweep's page
        return None, link, f"{layout.MODEL} could not be used ({one_line(exc)})"


def gather_sweep(sweep_dir, page_dir, metric=None, run_reports=True):
    notes = []
    spec_path = os.path.join(sweep_dir, SWEEP_JSON)
    spec = read_json(spec_path, notes) if os.path.isfile(spec_path) else None
    if not os.path.isfile(spec_path):
        notes.append(f"{SWEEP_JSON} is missing: the sweep's grid and options are unknown")
    results_header, results = read_csv(os.path.join(sweep_dir, RESULTS), notes)
    if results_header is None and not os.path.isfile(os.path.join(sweep_dir, RESULTS)):
        notes.append(f"{RESULTS} is missing: no per-trial table")
    summary_header, summary = read_csv(os.path.join(sweep_dir, SUMMARY), notes)
    if summary_header is None and not os.path.isfile(os.path.join(sweep_dir, SUMMARY)):
        notes.append(f"{SUMMARY} is missing: no per-configuration table")
    metric = choose_metric(summary_header, metric, notes)
    try:
        tradeoff, tradeoff_caption = tradeoff_uri(sweep_dir, summary, metric, notes)
    except Exception as exc:  # noqa: BLE001 - a plot failure must not cost the rest of the page
        notes.append(f"the trade-off plot could not be drawn ({one_line(exc)})")
        tradeoff, tradeoff_caption = None, None

    images = _Images()
    configurations = {}
    for row in trial_rows(sweep_dir, results, notes):
        run_dir = os.path.join(sweep_dir, row.get("run_dir") or os.path.join(TRIALS, row.get("trial", "")))
        pictures, link, problem = trial_traversals(run_dir, page_dir, run_reports, images)
        row["link"] = link
        trial = {"trial": row.get("trial", ""), "seed": row.get("seed", ""), "status": row.get("status", ""),
                 "link": link, "pictures": pictures, "problem": problem}
        configurations.setdefault(row.get("configuration", row.get("trial", "")), []).append(trial)
    for trials in configurations.values():
        trials.sort(key=lambda t: (csv_number(t["seed"]) is None, csv_number(t["seed"]) or 0.0))

    spec = spec if isinstance(spec, dict) else {}
    metric_columns = _metric_columns(spec, results_header)
    grid_keys = [k for k in (spec.get("grid") or {}) if k in (results_header or ())]
    if not grid_keys:  # no sweep.json: the columns between model and seed are the grid's
        header = list(results_header or ())
        if "model" in header and "seed" in header:
            grid_keys = header[header.index("model") + 1:header.index("seed")]
    labels = {}
    for row in results:
        labels.setdefault(row.get("configuration", ""), configuration_label(row, grid_keys))
    choice = udr_choice(sweep_dir, spec, results_header, results, summary, notes)
    if choice and choice.get("trial"):
        chosen = next((r for r in results if r.get("trial") == choice["trial"]), {})
        choice["link"] = chosen.get("link")
        choice["label"] = labels.get(choice["configuration"], choice["configuration"])
    study = study_pictures(results, metric_columns, lambda row: configuration_label(row, grid_keys).split(", ", 1)[-1],
                           notes)
    results_columns = _ordered([h for h in results_header or () if h != "run_dir"], metric_columns,
                               first=("trial", "status"))
    return {
        "name": os.path.basename(os.path.abspath(sweep_dir)),
        "spec": {key: readable(spec[key]) for key in ("models", "grid", "seeds", "evaluate", "protocols", "created",
                                                      "hwkeras_version") if key in spec},
        "fit_options": {key: readable(value) for key, value in (spec.get("fit_options") or {}).items()},
        "choice": choice,
        "labels": labels,
        "results": {"header": results_columns, "rows": results},
        "summary": summary_table(summary_header, summary, metric_columns),
        "tradeoff": tradeoff,
        "tradeoff_caption": tradeoff_caption,
        "study": study,
        "configurations": configurations,
        "threshold": latents.COLLAPSED_KL,
        "display": display,
        "notes": notes,
    }


def summary_table(header, rows, metric_columns=()):
    """summary.csv with each X_mean / X_sd pair shown as one 'mean ± sd' column (UDR and metrics first)."""
    if header is None:
        return None
    keys = [h for h in header if not (h.endswith("_mean") or h.endswith("_sd"))]
    measures = [h[: -len("_mean")] for h in header if h.endswith("_mean")]
    measures = _ordered(measures, metric_columns)
    table = []
    for row in rows:
        cells = [display(row.get(k, "")) for k in keys]
        for name in measures:
            mean, sd = row.get(f"{name}_mean", ""), row.get(f"{name}_sd", "")
            cells.append(f"{display(mean)} ± {display(sd)}" if sd.strip() else display(mean))
        table.append(cells)
    return {"header": keys + measures, "rows": table}


__all__ = ["gather_sweep", "is_sweep_dir"]
