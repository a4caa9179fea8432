"""Disentanglement metrics with the definitions, defaults and random-state call sequence of
google-research/disentanglement_lib (identical inputs give identical numbers; see
docs/METRICS.md for the comparison).

Each metric is a pure function
``compute_<metric>(ground_truth_data, representation_function, random_state, **params) -> dict``
where ``representation_function`` maps observations ``(n, H, W, C)`` to codes ``(n, d)`` (the
encoder mean) and ``random_state`` is a ``np.random.RandomState``. ``evaluate`` runs several.
"""

from hwkeras.metrics.beta_vae import compute_beta_vae
from hwkeras.metrics.callback import DisentanglementCallback
from hwkeras.metrics.dci import compute_dci
from hwkeras.metrics.evaluate import METRICS, PROTOCOLS, evaluate, parse_metric_names
from hwkeras.metrics.factor_vae import compute_factor_vae
from hwkeras.metrics.mig import compute_mig, discretisation_ceiling
from hwkeras.metrics.modularity import compute_modularity_explicitness
from hwkeras.metrics.sap import compute_sap

__all__ = [
    "DisentanglementCallback",
    "METRICS",
    "PROTOCOLS",
    "compute_beta_vae",
    "compute_dci",
    "compute_factor_vae",
    "compute_mig",
    "compute_modularity_explicitness",
    "compute_sap",
    "discretisation_ceiling",
    "evaluate",
    "parse_metric_names",
]
