"""What a sweep measures of each trained model, inside its trial.

- the disentanglement metrics under both protocols: ``<protocol>.<metric>`` columns; the chyvae
  protocol differs from dlib's only for the metrics whose parameters differ (the FactorVAE
  score), so only those are computed twice. The records are written as ``hwkeras evaluate``
  writes them: ``metrics.json`` (dlib) and ``metrics-chyvae.json`` beside it;
- the held-out reconstruction NLL: the Bernoulli negative log-likelihood of decode(encoder mean)
  on a fixed sample of the dataset (the same images for every trial), nats per image;
- the codes UDR compares (``udr_codes.npz``): encoder means and mean KL per latent of the same
  images in every trial, drawn as ``hwkeras.metrics.udr.compute_udr`` draws them.
"""

import os

import numpy as np

from hwkeras.files import atomic_path, write_json_atomically
from hwkeras.runs import layout

#: ``--evaluate`` protocols, in column order.
PROTOCOLS = ("dlib", "chyvae")
#: The held-out sample's seed: apart from the training streams (seeded by the trial's seed).
HELD_OUT_SEED = 20190801
#: UDR's images: dlib's defaults (``udr.gin``: 1000 images in batches of 10) and seed.
UDR_SETTINGS = {"seed": 0, "batch_size": 10, "num_data_points": 1000}
UDR_CODES = "udr_codes.npz"
NLL_BATCH_SIZE = 250


def metric_columns(text):
    """``--evaluate``: ``"factor_vae,mig"``, ``"chyvae.factor_vae,dlib.mig"``, ``"all"`` or ``"none"``
    -> ordered ``[(protocol, metric), ...]``; a plain name means every protocol under which it differs."""
    from hwkeras.metrics.evaluate import METRICS, metric_parameters, parse_metric_names

    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if parts == ["none"]:
        return []
    chosen = []
    for part in parts:
        protocol, dot, name = part.rpartition(".")
        if dot and protocol not in PROTOCOLS:
            raise ValueError(f"--evaluate {part}: unknown protocol {protocol!r}; use "
                             f"{' or '.join(PROTOCOLS)} (e.g. chyvae.factor_vae), or a plain metric name")
        if dot and name == "all":
            names = tuple(METRICS) if protocol == "dlib" else differing(protocol)
        else:
            names = parse_metric_names(name)  # "all", or one name; ValueError lists the valid ones
        for metric in names:
            protocols = [protocol] if dot else [p for p in PROTOCOLS if p == "dlib" or
                                                 metric_parameters(metric, p) != metric_parameters(metric, "dlib")]
            for p in protocols:
                if p != "dlib" and metric_parameters(metric, p) == metric_parameters(metric, "dlib"):
                    raise ValueError(f"--evaluate {p}.{metric} is dlib.{metric}: the {p} protocol changes "
                                     f"only {', '.join(differing(p)) or 'nothing'}")
                chosen.append((p, metric))
    if not chosen:
        raise ValueError(f"--evaluate names no metric; use 'none', 'all' or a list of {', '.join(METRICS)}")
    # Column order: every dlib metric, then the other protocols', each in the order given.
    chosen = list(dict.fromkeys(chosen))
    return sorted(chosen, key=lambda pm: PROTOCOLS.index(pm[0]))


def differing(protocol):
    from hwkeras.metrics.evaluate import METRICS, metric_parameters

    return [m for m in METRICS if metric_parameters(m, protocol) != metric_parameters(m, "dlib")]


def column(protocol, metric):
    return f"{protocol}.{metric}"


def check_metric_params(columns, params):
    """``--evaluate-param`` overrides: only for metrics being computed, valid under each protocol."""
    from hwkeras.metrics.evaluate import metric_parameters

    computed = {metric for _, metric in columns}
    for metric, overrides in params.items():
        if metric not in computed:
            raise ValueError(f"--evaluate-param names metric {metric!r}, which --evaluate does not compute")
        for protocol in {p for p, m in columns if m == metric}:
            metric_parameters(metric, protocol, overrides)


def evaluate_protocols(model, dataset, columns, params, run_dir, dataset_name, dataset_options, seed=0):
    """Runs the metrics, writes one record per protocol into the run; returns ``{column: headline}``."""
    from hwkeras.metrics.evaluate import evaluate, representation_from_model
    from hwkeras.metrics.utils import to_builtin

    representation = representation_from_model(model)
    scores = {}
    for protocol in PROTOCOLS:
        names = [metric for p, metric in columns if p == protocol]
        if not names:
            continue
        record = evaluate(dataset, representation, names, protocol=protocol, seed=seed,
                          params={m: params[m] for m in names if m in params})
        # The record as `hwkeras evaluate RUN_DIR [--protocol chyvae --output metrics-chyvae.json]` writes it.
        record = {"model": os.path.abspath(os.path.join(run_dir, layout.MODEL)),
                  "run_dir": os.path.abspath(run_dir), "dataset": dataset_name,
                  "dataset_options": dataset_options, **record}
        filename = layout.metrics_file(protocol)
        write_json_atomically(to_builtin(record), os.path.join(run_dir, filename))
        for metric in names:
            scores[column(protocol, metric)] = record["summary"][metric]
    return scores


def held_out_images(dataset, num_images):
    """The fixed sample every trial of a dataset is scored on."""
    return np.asarray(dataset.sample_observations(int(num_images), np.random.RandomState(HELD_OUT_SEED)),
                      np.float32)


def reconstruction_nll(model, images, batch_size=NLL_BATCH_SIZE):
    """Mean over ``images`` of -log p(x | decode(encoder mean)), Bernoulli pixels, nats per image.

    ``model``: ``encode(x)[0]`` the posterior mean, ``decode_logits(z)`` the pixel logits; the NLL is
    the training loss's own ``hwkeras.base.bernoulli_nll`` at the mean instead of a sampled z.
    """
    from hwkeras.base import bernoulli_nll
    from hwkeras.metrics.encoder import to_numpy

    images = np.asarray(images, np.float32)
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        logits = model.decode_logits(model.encode(x)[0])
        total += float(np.sum(to_numpy(bernoulli_nll(x, logits)), dtype=np.float64))
    return total / len(images)


def save_udr_codes(model, dataset, run_dir, settings=None):
    """Writes ``udr_codes.npz`` (``codes`` (n, d), ``kl`` (d,)) of the sweep's UDR images."""
    from hwkeras.metrics.udr import representation_with_kl, representations

    settings = dict(UDR_SETTINGS, **(settings or {}))
    codes, kl = representations(dataset, [representation_with_kl(model)],
                                np.random.RandomState(settings["seed"]), settings["batch_size"],
                                settings["num_data_points"])
    path = os.path.join(run_dir, UDR_CODES)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, codes=codes[0], kl=kl[0])
    return path


def load_udr_codes(run_dir):
    with np.load(os.path.join(run_dir, UDR_CODES)) as data:
        return data["codes"], data["kl"]


def final_losses(run_dir, term_names):
    """The last epoch's loss terms from history.csv (``loss`` and the model's ``term_names``)."""
    import csv

    with open(os.path.join(run_dir, layout.HISTORY), newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    last = rows[-1]
    return {name: float(last[name]) for name in ("loss", *term_names) if last.get(name) not in (None, "")}


