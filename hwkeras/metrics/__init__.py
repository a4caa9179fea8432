"""Disentanglement metrics with the definitions, defaults and random-state call sequence of
google-research/disentanglement_lib (identical inputs give identical numbers; see
docs/METRICS.md for the comparison).

Each metric is a pure function
``compute_<metric>(ground_truth_data, representation_function, random_state, **params) -> dict``:

* ``ground_truth_data``: a ``GroundTruthData`` (known factors, ``hwkeras.data.ground_truth``);
* ``representation_function``: observations ``(n, H, W, C)`` -> codes ``(n, d)``, the encoder
  mean (``representation_from_model`` makes one from a model, compiled for its backend); the
  metrics hand it up to ``utils.ENCODE_CHUNK`` images at a time;
* ``random_state``: a ``np.random.RandomState`` (or an int seed); all sampling draws from it;
* ``params``: overrides of the metric's protocol constants (its ``DEFAULTS``).

``evaluate`` runs several and returns one JSON-ready record. ``compute_udr`` (module ``udr``) is
the unsupervised UDR score, which compares several models with each other instead of one model
with known factors. The package needs numpy, scipy and scikit-learn only: the Keras callback that
runs metrics during training is ``hwkeras.runs.callbacks.DisentanglementCallback``.
"""

from hwkeras.metrics.beta_vae import compute_beta_vae
from hwkeras.metrics.dci import compute_dci
from hwkeras.metrics.encoder import representation_from_model
from hwkeras.metrics.evaluate import METRICS, PROTOCOLS, evaluate, parse_metric_names
from hwkeras.metrics.factor_vae import compute_factor_vae
from hwkeras.metrics.mig import compute_mig, discretisation_ceiling
from hwkeras.metrics.modularity import compute_modularity_explicitness
from hwkeras.metrics.sap import compute_sap
from hwkeras.metrics.udr import compute_udr, udr_from_codes

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "compute_beta_vae",
    "compute_dci",
    "compute_factor_vae",
    "compute_mig",
    "compute_modularity_explicitness",
    "compute_sap",
    "compute_udr",
    "discretisation_ceiling",
    "evaluate",
    "parse_metric_names",
    "representation_from_model",
    "udr_from_codes",
]
