"""Runs a list of disentanglement metrics and returns one JSON-ready record.

Each metric gets a fresh ``np.random.RandomState(seed)``, as disentanglement_lib's
``evaluation.evaluate`` does, so a metric's numbers do not depend on which other metrics ran
before it. The record carries the parameters that were used, the seed and the library versions
(scikit-learn's classifiers change between releases, so a number without them is not
reproducible).
"""

import importlib.metadata
import json
import platform
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hwkeras.errors import UserError
from hwkeras.metrics import beta_vae, dci, factor_vae, mig, modularity, sap, utils
from hwkeras.metrics.encoder import ENCODE_BATCH_SIZE, representation_from_model  # noqa: F401
from hwkeras.metrics.table import CodeTable, table_refusal


@dataclass(frozen=True)
class Metric:
    """A registered metric: how to call it, its defaults, and the number that headlines it.

    ``compute`` is the public ``compute_<metric>``; ``from_inputs`` is its body after the shared
    opening (``utils.metric_inputs``), for callers that checked the inputs themselves.
    """

    compute: Callable
    from_inputs: Callable
    defaults: dict
    headline: str
    description: str


#: Registry, in the order metrics run and print under ``"all"``.
METRICS = {
    "factor_vae": Metric(factor_vae.compute_factor_vae, factor_vae.from_inputs,
                         factor_vae.DLIB_PROTOCOL, "eval_accuracy",
                         "FactorVAE score (majority-vote accuracy)"),
    "beta_vae": Metric(beta_vae.compute_beta_vae, beta_vae.from_inputs, beta_vae.DEFAULTS,
                       "eval_accuracy", "BetaVAE score (logistic-regression accuracy)"),
    "mig": Metric(mig.compute_mig, mig.from_inputs, mig.DEFAULTS,
                  "discrete_mig", "Mutual Information Gap (20-bin histograms)"),
    "dci": Metric(dci.compute_dci, dci.from_inputs, dci.DEFAULTS,
                  "disentanglement", "DCI disentanglement / completeness / informativeness"),
    "sap": Metric(sap.compute_sap, sap.from_inputs, sap.DEFAULTS,
                  "SAP_score", "Separated Attribute Predictability"),
    "modularity": Metric(modularity.compute_modularity_explicitness, modularity.from_inputs,
                         modularity.DEFAULTS, "modularity_score", "Modularity and explicitness"),
}

#: Protocols: ``"chyvae"`` changes only the FactorVAE score (the one the CHyVAE paper reports).
PROTOCOLS = tuple(factor_vae.PROTOCOLS)


def parse_metric_names(names):
    """``"all"``, ``"factor_vae,mig"`` or a list of names -> tuple of registered names.

    Order is kept and duplicates dropped; an unknown or empty name is a ValueError that lists
    the valid ones.
    """
    if isinstance(names, str):
        names = [names]
    parts = [part.strip() for name in names for part in str(name).split(",")]
    parts = [part for part in parts if part]
    if not parts:
        raise ValueError(f"no metric named; use 'all' or a comma-separated list of "
                         f"{', '.join(METRICS)}.")
    if "all" in parts:
        if len(parts) > 1:
            raise ValueError("'all' cannot be combined with other metric names.")
        return tuple(METRICS)
    unknown = [part for part in parts if part not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; valid metrics are "
                         f"{', '.join(METRICS)} (or 'all').")
    return tuple(dict.fromkeys(parts))


def metric_parameters(name, protocol="dlib", overrides=None):
    """The parameters a metric runs with under ``protocol``, updated by ``overrides``."""
    overrides = dict(overrides or {})
    if name == "factor_vae":
        return factor_vae.protocol_params(protocol, **overrides)
    return utils.resolve_params(name, METRICS[name].defaults, overrides)


def versions():
    """Versions of everything that can change a metric's value."""
    import scipy
    import sklearn

    try:
        hwkeras_version = importlib.metadata.version("hwkeras")
    except importlib.metadata.PackageNotFoundError:
        hwkeras_version = None
    return {
        "hwkeras": hwkeras_version,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def evaluate(ground_truth_data, representation_function, metrics="all", protocol="dlib",
             seed=0, params=None, log=None, encode_once=False):
    """Computes several metrics of one representation.

    Args:
      ground_truth_data: a ``GroundTruthData`` (known factors).
      representation_function: ``observations (n, H, W, C) -> codes (n, d)``, the encoder mean.
      metrics: ``"all"``, ``"factor_vae,mig"`` or a list of names from ``METRICS``.
      protocol: ``"dlib"`` (default) or ``"chyvae"`` (the CHyVAE paper's FactorVAE protocol).
      seed: int; every metric starts from ``np.random.RandomState(seed)``.
      params: optional ``{metric name: {parameter: value}}`` overriding protocol constants
        (smaller sample sizes for tests and quick looks; the record states what was used).
      log: optional callable taking one string, told when each metric starts and ends.
      encode_once: False: every draw is encoded (the sampled path). True: when the dataset is
        finite and its images a function of the factors alone (``table.table_refusal``), each
        distinct image is encoded once into a ``table.CodeTable`` kept for this call, and every
        metric's draws are looked up there; otherwise the sampled path, the reason in the
        record. Only for a deterministic representation (the encoder mean). Or a ``CodeTable``
        of this dataset and representation (the command line's, read from its disk cache).

    Returns:
      dict with ``metrics`` (each metric's scores), ``summary`` (one headline number per
      metric), ``parameters``, ``protocol``, ``seed``, ``versions``, ``elapsed_seconds`` and
      ``encoding`` (which path ran: ``{"path": "table", ...counts}`` or ``{"path": "sampled"}``).
    """
    names = parse_metric_names(metrics)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}.")
    params = dict(params or {})
    unknown = sorted(set(params) - set(METRICS))
    if unknown:
        raise ValueError(f"params given for unknown metric(s) {', '.join(unknown)}; valid "
                         f"metrics are {', '.join(METRICS)}.")
    # Validate everything before the first (possibly long) metric runs, the dataset once for all
    # metrics: the shared opening of compute_* (utils.metric_inputs) is done here.
    utils.check_ground_truth_data(ground_truth_data)
    resolved = {name: metric_parameters(name, protocol, params.get(name)) for name in names}
    table, encoding = _code_table(ground_truth_data, representation_function, encode_once)
    if table is not None:
        ground_truth_data, representation_function = table.ground_truth_data, table.representation_function
    representation_function = utils.checked_representation(representation_function)

    results, summary, elapsed = {}, {}, {}
    for name in names:
        if log is not None:
            log(f"computing {name} ...")
        start = time.perf_counter()
        inputs = utils.MetricInputs(ground_truth_data, representation_function,
                                    np.random.RandomState(int(seed)), resolved[name])
        scores = METRICS[name].from_inputs(inputs)
        elapsed[name] = time.perf_counter() - start
        results[name] = utils.to_builtin(scores)
        summary[name] = results[name][METRICS[name].headline]
        if log is not None:
            log(f"{name}: {summary[name]:.4f} ({elapsed[name]:.1f} s)")

    return utils.to_builtin({
        "metrics": results,
        "summary": summary,
        "parameters": resolved,
        "protocol": protocol,
        "seed": int(seed),
        "num_factors": ground_truth_data.num_factors,
        "factor_sizes": list(ground_truth_data.factor_sizes),
        "versions": versions(),
        "elapsed_seconds": elapsed,
        "encoding": table.summary() if table is not None else encoding,
    })


def _code_table(ground_truth_data, representation_function, encode_once):
    """``(CodeTable or None, the sampled path's record entry)`` for ``evaluate``'s ``encode_once``."""
    if isinstance(encode_once, CodeTable):
        return encode_once, None
    if not encode_once:
        return None, {"path": "sampled"}
    why = table_refusal(ground_truth_data)
    if why is not None:
        return None, {"path": "sampled", "why": why}
    return CodeTable(ground_truth_data, representation_function), None


def scalar_rows(record):
    """``(metric, score name, value)`` for every scalar score of an ``evaluate`` record."""
    rows = []
    for name, scores in record["metrics"].items():
        for key, value in scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append((name, key, value))
    return rows


# Metric parameters written as METRIC.NAME=VALUE (the command line's --param, config.json's eval_params).

def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(pairs, option):
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they can be)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{option} {pair!r} is not KEY=VALUE")
        parsed[key.strip()] = _parse_value(value.strip())
    return parsed


def parse_metric_params(pairs, option="--param"):
    """``("factor_vae.num_train=1000",)`` -> ``{"factor_vae": {"num_train": 1000}}``."""
    params = {}
    for key, value in parse_assignments(pairs, option).items():
        metric, dot, name = key.partition(".")
        if not dot or not name:
            raise UserError(f"{option} {key!r} must look like METRIC.NAME=VALUE, "
                             f"e.g. factor_vae.num_train=1000")
        params.setdefault(metric, {})[name] = value
    return params
