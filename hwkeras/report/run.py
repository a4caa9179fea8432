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

CONFIG = "config.json"
MODEL = "model.keras"
HISTORY = "history.csv"
EVAL_METRICS = "eval_metrics.json"
#: ``hwkeras evaluate`` writes metrics.json; ``--output RUN_DIR/metrics-chyvae.json`` keeps a second protocol beside it.
METRICS_PATTERN = "metrics*.json"
RUN_FILES = (CONFIG, MODEL, HISTORY, "metrics.json")
#: Order of the training-curve panels; other logged terms follow in the file's order.
TERM_ORDER = ("loss", "reconstruction", "kl", "kl_latent", "kl_hyperprior", "tc", "elbo")


def is_run_dir(path):
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, name)) for name in RUN_FILES)


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


def read_history(path, notes):
    """history.csv (Keras's CSVLogger) -> (epochs, {term: values}); incomplete rows are left out."""
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        notes.append(f"{HISTORY} could not be read ({exc.__class__.__name__}); no training curves")
        return None
    if not lines or not lines[0]:
        notes.append(f"{HISTORY} is empty; no training curves")
        return None
    header, body = lines[0], lines[1:]
    complete = [row for row in body if len(row) == len(header) and csv_number(row[0]) is not None]
    if len(complete) < len(body):
        notes.append(f"{HISTORY}: {len(body) - len(complete)} of {len(body)} rows incomplete "
                     f"(truncated file?); curves show the {len(complete)} complete ones")
    if not complete:
        return None
    epoch_column = header.index("epoch") if "epoch" in header else None
    epochs = [int(csv_number(row[epoch_column])) + 1 if epoch_column is not None else i + 1
              for i, row in enumerate(complete)]
    names = [name for name in header if name != "epoch"]
    names.sort(key=lambda n: (TERM_ORDER.index(n) if n in TERM_ORDER else len(TERM_ORDER),
                              n.startswith("eval_")))
    columns = {name: [csv_number(row[header.index(name)]) for row in complete] for name in names}
    # Keras's CSVLogger writes "NA" columns (e.g. val_* without validation data): nothing to draw.
    return epochs, {name: values for name, values in columns.items() if any(v is not None for v in values)}


def metric_tables(run_dir, notes):
    """One table per ``hwkeras evaluate`` record in the run directory."""
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
        tables.append({
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
        notes.append(f"{EVAL_METRICS} is not a list of evaluation records; left out")
        return None
    names = list(dict.fromkeys(name for r in records for name in r["summary"]))
    return {"metrics": names,
            "rows": [(r.get("epoch"), [r["summary"].get(name) for name in names]) for r in records]}


def curves_uri(history, notes):
    from hwkeras.report.plots import training_curves

    epochs, columns = history
    buffer = io.BytesIO()
    try:
        training_curves(epochs, columns, buffer)
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
    from hwkeras.training.checkpoints import run_model

    try:
        _, checkpoint = run_model(run_dir)
        if checkpoint is not None:
            model = checkpoint.load_model()
            notes.append(f"{MODEL} is missing (training stopped at step {checkpoint.step}): the pictures show "
                         f"the checkpoint of step {checkpoint.step}")
            return model
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint costs the pictures, not the page
        notes.append(f"the newest checkpoint could not be loaded ({one_line(exc)})")
        return None
    notes.append(f"{MODEL} is missing: no traversals, reconstructions or prior samples")
    return None


# -- the whole run --------------------------------------------------------------------------------

def gather_run(run_dir, model=None, dataset=None, pictures=True):
    """Everything the run page shows, and ``notes``: one line per thing missing or unreadable.

    ``model`` / ``dataset``: already in memory (the end of ``hwkeras fit``), so nothing is reloaded.
    """
    notes = []
    config_path = os.path.join(run_dir, CONFIG)
    config = read_json(config_path, notes) if os.path.isfile(config_path) else None
    if config is None and not os.path.isfile(config_path):
        notes.append(f"{CONFIG} is missing: the run's settings are unknown")
    if config is not None and not isinstance(config, dict):
        notes.append(f"{CONFIG} does not hold a JSON object; settings left out")
        config = None

    history_path = os.path.join(run_dir, HISTORY)
    history = None
    if os.path.isfile(history_path):
        history = read_history(history_path, notes)
    else:
        notes.append(f"{HISTORY} is missing: no training curves")
    curves = curves_uri(history, notes) if history else None

    tables = metric_tables(run_dir, notes)
    evaluations = None
    if os.path.isfile(os.path.join(run_dir, EVAL_METRICS)):
        records = read_json(os.path.join(run_dir, EVAL_METRICS), notes)
        evaluations = eval_table(records, notes) if records is not None else None

    model_path = os.path.join(run_dir, MODEL)
    if model is None and pictures:
        if not os.path.isfile(model_path):
            model = checkpoint_model(run_dir, notes)
        else:
            try:
                model = load_model(model_path)
            except Exception as exc:  # noqa: BLE001 - a damaged file is the user's input, not a bug
                notes.append(f"{MODEL} could not be loaded ({one_line(exc)}): no traversals, "
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
        "metric_tables": tables,
        "evaluations": evaluations,
        "pictures": drawn,
        "kl_images": latents.KL_IMAGES,
        "notes": notes,
    }
