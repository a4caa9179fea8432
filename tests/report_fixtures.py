"""Tiny run and sweep directories in the formats ``hwkeras fit`` / ``hwkeras sweep`` write.

The runs are real: a 32x32 model with 3 latents and 16 hidden units, trained a few steps with
Keras's CSVLogger, saved as model.keras, and evaluated with ``hwkeras.metrics.evaluate`` on
small samples, so the report reads exactly what the commands write.
"""

import csv
import json
import os

import numpy as np

IMAGE_SIZE = 32
LATENT_DIM = 3
HIDDEN_UNITS = 16
DATASET = "correlated-ellipses"
QUICK_METRICS = {"mig": {"num_train": 200}, "factor_vae": {"num_train": 50, "num_eval": 50,
                                                           "num_variance_estimate": 200}}


def make_run(run_dir, model="chyvae", seed=0, epochs=2, steps_per_epoch=2, evaluate=True, eval_every=False,
             **model_options):
    """A run directory as ``hwkeras fit`` (+ ``hwkeras evaluate``) leaves it; returns the model."""
    import keras

    from hwkeras import build_model
    from hwkeras.data import get_dataset
    from hwkeras.metrics.evaluate import evaluate as evaluate_fn
    from hwkeras.metrics.evaluate import representation_from_model

    os.makedirs(run_dir)
    dataset = get_dataset(DATASET, image_size=IMAGE_SIZE)
    keras.utils.set_random_seed(seed)
    net = build_model(model, latent_dim=LATENT_DIM, image_shape=(IMAGE_SIZE, IMAGE_SIZE, 1),
                      hidden_units=HIDDEN_UNITS, seed=seed, **model_options)
    net.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # a few steps: tracing would cost more
    images = dataset.sample_observations(8 * steps_per_epoch, np.random.RandomState(seed + 10))
    net.fit(images, batch_size=8, epochs=epochs, verbose=0,
            callbacks=[keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"))])
    net.save(os.path.join(run_dir, "model.keras"))
    config = {"model": model, "dataset": DATASET, "latent_dim": LATENT_DIM, "batch_size": 8,
              "steps": epochs * steps_per_epoch, "learning_rate": 1e-3, "preset": "quick", "seed": seed,
              "image_size": IMAGE_SIZE, "hidden_units": HIDDEN_UNITS, "psi": None, "data_dir": None,
              "model_options": {k: float(v) for k, v in model_options.items()},
              "model_config": net.get_config(), "steps_trained": epochs * steps_per_epoch,
              "image_shape": [IMAGE_SIZE, IMAGE_SIZE, 1], "dataset_options": {"image_size": IMAGE_SIZE}}
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if evaluate:
        record = evaluate_fn(dataset, representation_from_model(net), ["factor_vae", "mig"],
                             params=QUICK_METRICS)
        record = {"model": os.path.abspath(os.path.join(run_dir, "model.keras")),
                  "run_dir": os.path.abspath(run_dir), "dataset": DATASET,
                  "dataset_options": {"image_size": IMAGE_SIZE}, **record}
        with open(os.path.join(run_dir, "metrics.json"), "w") as f:
            json.dump(record, f, indent=2)
    if eval_every:
        records = [{"epoch": e + 1, **evaluate_fn(dataset, representation_from_model(net), ["mig"],
                                                  params={"mig": QUICK_METRICS["mig"]})} for e in range(epochs)]
        with open(os.path.join(run_dir, "eval_metrics.json"), "w") as f:
            json.dump(records, f, indent=2)
    return net


# -- a sweep directory (the contract hwkeras sweep writes; docs/REPORTS.md) -------------------------

GRID_KEYS = ("beta", "nu")
METRIC_COLUMNS = ("dlib.factor_vae", "dlib.mig")
LOSS_COLUMNS = ("loss", "reconstruction", "kl", "kl_latent", "kl_hyperprior")
RESULTS_HEADER = (("trial", "configuration", "model") + GRID_KEYS + ("seed", "steps", "status", "wall_time_s")
                  + METRIC_COLUMNS + ("reconstruction_nll",) + LOSS_COLUMNS + ("udr_lasso", "udr_spearman", "run_dir"))
#: (model, its grid values, seeds); the last configuration's trial failed before saving a model.
SWEEP_TRIALS = (("beta-vae", {"beta": 4.0}, (0, 1)), ("chyvae", {"nu": 12.0}, (0, 1)), ("vae", {}, (0,)))


def trial_name(model, options, seed):
    keys = "".join(f"-{k}={v:g}" for k, v in sorted(options.items()))
    return f"{model}{keys}-seed{seed}"


def _last_history_row(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return list(csv.DictReader(f))[-1]


def make_sweep(sweep_dir):
    """DIR/sweep.json, trials/<trial>/ (tiny runs), results.csv and summary.csv; no tradeoff.png."""
    os.makedirs(os.path.join(sweep_dir, "trials"))
    rng = np.random.RandomState(7)
    with open(os.path.join(sweep_dir, "sweep.json"), "w") as f:
        json.dump({"models": ["beta-vae", "chyvae", "vae"], "grid": {"beta": [4.0], "nu": [12.0]}, "seeds": 2,
                   "fit_options": {"steps": 4, "batch_size": 8, "image_size": IMAGE_SIZE, "latent_dim": LATENT_DIM},
                   "evaluate": ["factor_vae", "mig"], "protocols": ["dlib"], "created": "2025-01-01T12:00:00",
                   "hwkeras_version": "0.1.0"}, f, indent=2)
    rows = []
    for model, options, seeds in SWEEP_TRIALS:
        for seed in seeds:
            name = trial_name(model, options, seed)
            run_dir = os.path.join(sweep_dir, "trials", name)
            row = {"trial": name, "configuration": name.rsplit("-seed", 1)[0], "model": model,
                   **{k: (f"{options[k]:g}" if k in options else "") for k in GRID_KEYS}, "seed": str(seed),
                   "steps": "4", "run_dir": os.path.join("trials", name)}
            if model == "vae":  # failed: its directory has the config and nothing else
                os.makedirs(run_dir)
                with open(os.path.join(run_dir, "config.json"), "w") as f:
                    json.dump({"model": model, "dataset": DATASET, "seed": seed}, f)
                row.update(status="failed")
            else:
                make_run(run_dir, model=model, seed=seed, evaluate=False, **options)
                last = _last_history_row(run_dir)
                row.update(status="finished", wall_time_s=f"{rng.uniform(5, 9):.3f}",
                           **{m: f"{rng.uniform(0.2, 0.9):.4f}" for m in METRIC_COLUMNS},
                           reconstruction_nll=f"{float(last['reconstruction']) + rng.uniform(-2, 2):.3f}",
                           udr_lasso=f"{rng.uniform(0, 1):.4f}", udr_spearman=f"{rng.uniform(0, 1):.4f}",
                           **{k: last.get(k, "") for k in LOSS_COLUMNS})
            rows.append({k: row.get(k, "") for k in RESULTS_HEADER})
    with open(os.path.join(sweep_dir, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, RESULTS_HEADER)
        writer.writeheader()
        writer.writerows(rows)
    write_summary(sweep_dir, rows)
    return rows


def write_summary(sweep_dir, rows):
    """summary.csv: per configuration, X_mean and X_sd (ddof=1, empty when n < 2) of every numeric column."""
    numeric = [c for c in RESULTS_HEADER if c not in ("trial", "configuration", "model", "seed", "status", "run_dir")
               and c not in GRID_KEYS]
    header = ["configuration", "model", *GRID_KEYS, "n"] + [f"{c}_{s}" for c in numeric for s in ("mean", "sd")]
    out = []
    for configuration in dict.fromkeys(r["configuration"] for r in rows):
        group = [r for r in rows if r["configuration"] == configuration]
        summary = {"configuration": configuration, "model": group[0]["model"], "n": str(len(group)),
                   **{k: group[0][k] for k in GRID_KEYS}}
        for c in numeric:
            values = np.array([float(r[c]) for r in group if r[c] != ""])
            summary[f"{c}_mean"] = f"{values.mean():.6g}" if len(values) else ""
            summary[f"{c}_sd"] = f"{values.std(ddof=1):.6g}" if len(values) >= 2 else ""
        out.append(summary)
    with open(os.path.join(sweep_dir, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(out)
    return out
