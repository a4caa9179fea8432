"""A run directory's contents for its page: everything that exists, a one-line note for what does not.

A run directory is what ``hwkeras fit`` writes: config.json, model.keras, history.csv, logs/, and
later metrics.json (``hwkeras evaluate``). Any of them may be missing or damaged (a run that was
interrupted, a file copied half-way); the page then shows the rest and says what is missing.
"""

import csv
import glob
import io
import json
import os

import numpy as np

from hwkeras.files import csv_number
from hwkeras.models import load_model
from hwkeras.report import latents
from hwkeras.report.pictures import gif_uri, png_uri
from hwkeras.runs import layout

#: ``hwkeras evaluate`` writes metrics.json; ``--output RUN_DIR/metrics-chyvae.json`` keeps a second protocol beside it.
METRICS_PATTERN = "metrics*.json"
#: Order of the training-curve panels; other logged terms follow in the file's order.
TERM_ORDER = ("loss", "reconstruction", "kl", "kl_latent", "kl_hyperprior", "tc", "elbo")


def is_run_dir(path):
    return layout.RunDir(path).is_run()


def one_line(exc):
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0]}" if text else exc.__class__.__name__


def read_json(path, notes):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        notes.append(f"{os.path.basename(path)} is not readable JSON ({exc.__class__.__name__}); left out")
        return None


# -- settings, history, metrics -----------------------------------------------------------------

def settings_rows(config):
    """(key, text) for every setting; nested dicts one level deep as ``outer.inner``."""
    rows = []
    for key, value in config.items():
        if isinstance(value, dict) and value:
            rows += [(f"{key}.{k}", _text(v)) for k, v in value.items()]
        else:
            rows.append((key, _text(value)))
    return rows


def _text(value):
    return value if isinstance(value, str) else json.dumps(value)


def read_history(path, notes, steps_per_epoch=None, total_steps=None):
    """history_steps.csv (``step, <term>...``) or history.csv (Keras's CSVLogger, ``epoch, <term>...``)
    -> {"file", "x", "xlabel", "columns": {term: values}}; incomplete rows are left out.

    An epoch row is placed at the epoch's last step when ``steps_per_epoch`` is known (config.json),
    so that both files draw against steps; else against the epoch (1-based).
    """
    name = os.path.basename(path)
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        notes.append(f"{name} could not be read ({exc.__class__.__name__}); no training curves")
        return None
    if not lines or not lines[0]:
        notes.append(f"{name} is empty; no training curves")
        return None
    header, body = lines[0], lines[1:]
    complete = [row for row in body if len(row) == len(header) and csv_number(row[0]) is not None]
    if len(complete) < len(body):
        notes.append(f"{name}: {len(body) - len(complete)} of {len(body)} rows incomplete "
                     f"(truncated file?); curves show the {len(complete)} complete ones")
    if not complete:
        return None
    index = header[0] if header[0] in ("step", "epoch") else None
    if index == "step":
        xs, xlabel = [int(csv_number(row[0])) for row in complete], "step"
    else:
        epochs = [int(csv_number(row[0])) + 1 if index else i + 1 for i, row in enumerate(complete)]
        if steps_per_epoch:
            last = total_steps or float("inf")
            xs, xlabel = [min(e * int(steps_per_epoch), last) for e in epochs], "step"
        else:
            xs, xlabel = epochs, "epoch"
    names = [n for n in header if n != index]
    names.sort(key=lambda n: (TERM_ORDER.index(n) if n in TERM_ORDER else len(TERM_ORDER), n.startswith("eval_")))
    columns = {n: [csv_number(row[header.index(n)]) for row in complete] for n in names}
    # Keras's CSVLogger writes "NA" columns (e.g. val_* without validation data): nothing to draw.
    return {"file": name, "x": xs, "xlabel": xlabel,
            "columns": {n: values for n, values in columns.items() if any(v is not None for v in values)}}


def eval_series(records, steps_per_epoch, total_steps=None):
    """--eval-every's headline scores as curves: {eval_<metric>: (steps, values)} (epoch e ends at step e * N)."""
    series = {}
    if not isinstance(records, list) or not steps_per_epoch:
        return series
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("summary"), dict) or not record.get("epoch"):
            continue
        step = min(int(record["epoch"]) * int(steps_per_epoch), total_steps or float("inf"))
        for metric, value in record["summary"].items():
            if isinstance(value, (int, float)):
                xs, ys = series.setdefault(f"eval_{metric}", ([], []))
                xs.append(step)
                ys.append(float(value))
    return series


def _spacing(xs):
    """The steps between two rows (the most common gap), or None for a single row."""
    gaps = [b - a for a, b in zip(xs, xs[1:])]
    return max(set(gaps), key=gaps.count) if gaps else None


def stale_metrics(record, steps_trained):
    """(step the record's metrics were computed at, the model's step) when they differ, else None.

    ``hwkeras evaluate`` records the run's ``steps_trained`` as ``training_steps``; a run trained
    further since (``fit --resume --steps``) has a model of a later step than its metrics.
    """
    computed = record.get("training_steps") if isinstance(record, dict) else None
    if not isinstance(computed, int) or not isinstance(steps_trained, int) or computed == steps_trained:
        return None
    return computed, steps_trained


def rerun_evaluate(run_dir, file, record):
    """The command that recomputes ``file``'s metrics for the model as it is now."""
    protocol = record.get("protocol") or "dlib"
    words = ["hwkeras evaluate", run_dir]
    if protocol != "dlib":
        words.append(f"--protocol {protocol}")
    if file not in (layout.METRICS, layout.metrics_file(protocol)):
        words.append(f"--output {os.path.join(run_dir, file)}")
    metrics = list((record.get("metrics") or {}).keys())
    if metrics:
        words.append(f"--metrics {','.join(metrics)}")
    if record.get("seed") not in (None, 0):
        words.append(f"--seed {record['seed']}")
    return " ".join(words + ["--overwrite"])


def metric_tables(run_dir, notes, steps_trained=None):
    """One table per ``hwkeras evaluate`` record in the run directory; a record of an earlier step
    than the model (``steps_trained``) is marked stale, with a note."""
    from hwkeras.metrics.evaluate import METRICS, scalar_rows

    tables = []
    for path in sorted(glob.glob(os.path.join(run_dir, METRICS_PATTERN))):
        record = read_json(path, notes)
        if record is None:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
            notes.append(f"{os.path.basename(path)} is not an `hwkeras evaluate` record; left out")
            continue
        rows = [{"metric": metric, "score": key, "value": value,
                 "headline": metric in METRICS and METRICS[metric].headline == key}
                for metric, key, value in scalar_rows(record)]
        stale = stale_metrics(record, steps_trained)
        if stale:
            notes.append(f"{os.path.basename(path)}: computed at step {stale[0]}; the model is at step {stale[1]}; "
                         f"rerun {rerun_evaluate(run_dir, os.path.basename(path), record)}")
        tables.append({
            "stale": stale and {"computed_at": stale[0], "model_at": stale[1],
                                "rerun": rerun_evaluate(run_dir, os.path.basename(path), record)},
            "training_steps": record.get("training_steps"),
            "file": os.path.basename(path),
            "protocol": record.get("protocol"),
            "seed": record.get("seed"),
            "dataset": record.get("dataset"),
            "versions": record.get("versions") or {},
            "parameters": json.dumps(record.get("parameters") or {}, indent=1, sort_keys=True),
            "rows": rows,
        })
    if not tables:
        notes.append("no metrics.json: `hwkeras evaluate RUN_DIR` computes the disentanglement metrics")
    return tables


def eval_table(records, notes):
    """--eval-every's records -> {"metrics": names, "rows": [(epoch, [headline per metric])]}."""
    if not isinstance(records, list) or not all(isinstance(r, dict) and "summary" in r for r in records):
        notes.append(f"{layout.EVAL_METRICS} is not a list of evaluation records; left out")
        return None
    names = list(dict.fromkeys(name for r in records for name in r["summary"]))
    return {"metrics": names,
            "rows": [(r.get("epoch"), [r["summary"].get(name) for name in names]) for r in records]}


def curves_uri(history, notes, extra=None):
    """The training curves as a PNG data URI: ``history`` from ``read_history``; ``extra``: more
    {name: (x, values)} panels against the same axis (``eval_series``)."""
    from hwkeras.report.plots import training_curves

    series = {name: (history["x"], values) for name, values in history["columns"].items()}
    for name, xy in (extra or {}).items():
        series.setdefault(name, xy)
    buffer = io.BytesIO()
    try:
        training_curves(series, buffer, xlabel=history["xlabel"])
    except Exception as exc:  # noqa: BLE001 - a plot failure must not cost the rest of the page
        notes.append(f"training curves could not be drawn ({one_line(exc)})")
        return None
    from hwkeras.report.pictures import data_uri

    return data_uri(buffer.getvalue(), "image/png")


# -- the model and its pictures -------------------------------------------------------------------

def load_images(config, dataset, notes, num=latents.KL_IMAGES):
    """The preview and KL images from ``dataset`` or the one config.json names (None if neither)."""
    if dataset is None:
        name = (config or {}).get("dataset")
        if not name:
            notes.append("config.json names no dataset: traversals start at z = 0, in latent order, "
                         "and there are no reconstructions")
            return None
        options = dict((config or {}).get("dataset_options") or {"image_size": config.get("image_size", 64)})
    else:
        name = getattr(dataset, "name", type(dataset).__name__)
    try:
        if dataset is None:
            from hwkeras.data import get_dataset

            dataset = get_dataset(name, **options)
        images = dataset.sample_observations(num, np.random.RandomState(latents.PREVIEW_SEED))
    except Exception as exc:  # noqa: BLE001 - a missing data folder is the usual case
        notes.append(f"dataset {name!r} is not available here ({one_line(exc)}): traversals start "
                     f"at z = 0, in latent order, and there are no reconstructions")
        return None
    return np.asarray(images, np.float32)


def _uint8(images):
    """Floats in [0, 1] (n, H, W, C) -> uint8 frames (n, H, W) or (n, H, W, 3), as image_grid rounds."""
    frames = (np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return frames[..., 0] if frames.shape[-1] == 1 else frames


def traversal_pictures(model, images, gifs=True):
    """Latent rows (largest KL first) with their strips (and GIFs), and the whole grid as one PNG."""
    from hwkeras.viz import image_grid

    if images is not None:
        rows = latents.latent_rows(latents.latent_kl(model, images))
        code = latents.posterior_mean(model, images[0])
    else:
        rows = [{"latent": j, "kl": None, "collapsed": False} for j in range(model.latent_dim)]
        code = np.zeros(model.latent_dim, np.float32)
    decoded = latents.sorted_traversals(model, code, [row["latent"] for row in rows])
    steps = decoded.shape[1]
    for row, strip in zip(rows, decoded):
        row["strip"] = png_uri(image_grid(strip, 1, steps))
        row["gif"] = gif_uri(_uint8(strip)) if gifs else None
    grid = png_uri(image_grid(decoded.reshape((-1,) + decoded.shape[2:]), len(rows), steps))
    return {"latents": rows, "grid": grid, "values": [float(v) for v in latents.traversal_values(steps)],
            "threshold": latents.COLLAPSED_KL}


def model_pictures(model, images):
    from hwkeras.viz import image_grid

    pictures = {"traversals": traversal_pictures(model, images), "reconstructions": None}
    if images is not None:
        preview = images[: latents.PREVIEW_IMAGES]
        recon = latents.reconstructions(model, preview)
        pictures["reconstructions"] = png_uri(image_grid(np.concatenate([preview, recon]), 2, len(preview)))
    pictures["prior_samples"] = [{"label": label, "strip": png_uri(image_grid(row, 1, len(row)))}
                                 for label, row in latents.prior_sample_rows(model)]
    return pictures


def checkpoint_model(run_dir, notes):
    """The newest checkpoint's model of a run stopped before its model.keras, with a note (or None)."""
    from hwkeras.runs.checkpoints import run_model

    try:
        _, checkpoint = run_model(run_dir)
        if checkpoint is not None:
            model = checkpoint.load_model()
            notes.append(f"{layout.MODEL} is missing (training stopped at step {checkpoint.step}): the pictures show "
                         f"the checkpoint of step {checkpoint.step}")
            return model
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint costs the pictures, not the page
        notes.append(f"the newest checkpoint could not be loaded ({one_line(exc)})")
        return None
    notes.append(f"{layout.MODEL} is missing: no traversals, reconstructions or prior samples")
    return None


# -- the whole run --------------------------------------------------------------------------------

def gather_run(run_dir, model=None, dataset=None, pictures=True):
    """Everything the run page shows, and ``notes``: one line per thing missing or unreadable.

    ``model`` / ``dataset``: already in memory (the end of ``hwkeras fit``), so nothing is reloaded.
    """
    notes = []
    config_path = os.path.join(run_dir, layout.CONFIG)
    config = read_json(config_path, notes) if os.path.isfile(config_path) else None
    if config is None and not os.path.isfile(config_path):
        notes.append(f"{layout.CONFIG} is missing: the run's settings are unknown")
    if config is not None and not isinstance(config, dict):
        notes.append(f"{layout.CONFIG} does not hold a JSON object; settings left out")
        config = None

    steps_per_epoch = (config or {}).get("steps_per_epoch")
    total_steps = (config or {}).get("steps_trained") or (config or {}).get("steps")
    records = None
    if os.path.isfile(os.path.join(run_dir, layout.EVAL_METRICS)):
        records = read_json(os.path.join(run_dir, layout.EVAL_METRICS), notes)
    evaluations = eval_table(records, notes) if records is not None else None
    # The curves: the step history (hwkeras fit --log-every) when the run has one, else history.csv's epochs.
    history, extra = None, {}
    if os.path.isfile(os.path.join(run_dir, layout.STEP_HISTORY)):
        history = read_history(os.path.join(run_dir, layout.STEP_HISTORY), notes)
        extra = eval_series(records, steps_per_epoch, total_steps)
    if history is None and os.path.isfile(os.path.join(run_dir, layout.HISTORY)):
        history = read_history(os.path.join(run_dir, layout.HISTORY), notes, steps_per_epoch, total_steps)
    elif history is None and not os.path.isfile(os.path.join(run_dir, layout.STEP_HISTORY)):
        notes.append(f"{layout.HISTORY} is missing: no training curves")
    curves = curves_uri(history, notes, extra) if history else None

    steps_trained = (config or {}).get("steps_trained")
    tables = metric_tables(run_dir, notes, steps_trained if isinstance(steps_trained, int) else None)

    model_path = os.path.join(run_dir, layout.MODEL)
    if model is None and pictures:
        if not os.path.isfile(model_path):
            model = checkpoint_model(run_dir, notes)
        else:
            try:
                model = load_model(model_path)
            except Exception as exc:  # noqa: BLE001 - a damaged file is the user's input, not a bug
                notes.append(f"{layout.MODEL} could not be loaded ({one_line(exc)}): no traversals, "
                             f"reconstructions or prior samples")
    drawn = None
    if model is not None and pictures:
        images = load_images(config, dataset, notes)
        try:
            drawn = model_pictures(model, images)
        except Exception as exc:  # noqa: BLE001 - e.g. images of another size than the model's
            notes.append(f"the model's pictures could not be drawn ({one_line(exc)})")

    config = config or {}
    return {
        "name": os.path.basename(os.path.abspath(run_dir)),
        "summary": {key: config[key] for key in ("model", "dataset", "latent_dim", "steps_trained",
                                                   "batch_size", "seed") if key in config},
        "model_options": config.get("model_options") or {},
        "settings": settings_rows(config),
        "curves": curves,
        "curves_source": history and {"file": history["file"], "xlabel": history["xlabel"],
                                      "points": len(history["x"]), "every": _spacing(history["x"])},
        "metric_tables": tables,
        "evaluations": evaluations,
        "pictures": drawn,
        "kl_images": latents.KL_IMAGES,
        "notes": notes,
    }
