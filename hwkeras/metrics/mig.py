"""Mutual Information Gap (Chen et al., "Isolating Sources of Disentanglement in VAEs", 2018).

Codes are discretised column by column into 20 equal-width histogram bins; for each factor the
gap between the largest and second-largest mutual information with a code dimension, divided by
the factor's entropy, is averaged over factors.

Constants and ``random_state`` calls are disentanglement_lib's (``mig`` with
unsupervised_study_v1's gin values), so identical inputs give identical numbers.

The discretisation caps the score below 1: a factor with more values than bins shares bins, so
even the true factor as its own code carries only H(bin) < H(factor). With uniform factors the
cap is ``discretisation_ceiling(factor_sizes)``: about 0.90 on dSprites (3, 6, 40, 32, 32).
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/mig.gin; ``batch_size`` is
#: the default of ``compute_mig`` (it decides how sampling consumes the random state).
DEFAULTS = {
    "num_train": 10000,
    "batch_size": 16,
    "num_bins": utils.NUM_BINS,
}


def from_inputs(inputs):
    """MIG of checked ``utils.MetricInputs``."""
    p = inputs.params
    codes, factors = utils.generate_batch_factor_code(
        inputs.ground_truth_data, inputs.representation_function, p["num_train"],
        inputs.random_state, p["batch_size"])
    return mig_from_codes(codes, factors, p["num_bins"])


def compute_mig(ground_truth_data, representation_function, random_state, **params):
    """Computes MIG.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``params``: ``num_train``,
    ``batch_size``, ``num_bins`` overriding ``DEFAULTS``.

    Returns:
      dict with ``discrete_mig`` (dlib's name) and ``mig_per_factor``.
    """
    params = utils.resolve_params("mig", DEFAULTS, params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def mig_from_codes(codes, factors, num_bins=utils.NUM_BINS):
    """MIG of fixed codes ``(n, d)`` and integer factors ``(n, k)``."""
    if codes.shape[1] < 2:
        raise ValueError("MIG needs a representation with at least 2 dimensions: the gap is "
                         "between the best and the second-best dimension.")
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(codes, num_bins), factors)
    entropy = utils.discrete_entropy(factors)
    sorted_mi = np.sort(mutual_info, axis=0)[::-1]
    # A factor that is constant in the sample has no information to capture: dlib would divide
    # 0/0 and return NaN; we leave such a factor out of the mean.
    informative = entropy > 0
    if not informative.any():
        raise ValueError("every factor is constant in the sample; MIG is undefined. Use a "
                         "dataset whose factors vary, or more points (num_train).")
    gaps = np.divide(sorted_mi[0, informative] - sorted_mi[1, informative], entropy[informative])
    per_factor = np.full(factors.shape[1], np.nan)
    per_factor[informative] = gaps
    return {"discrete_mig": float(np.mean(gaps)),
            "mig_per_factor": [None if np.isnan(g) else float(g) for g in per_factor]}


def discretisation_ceiling(factor_sizes, num_bins=utils.NUM_BINS):
    """The MIG of a perfect code (each factor's index as its own dimension), uniform factors.

    Exact in the limit of many samples: the best code dimension then carries H(bin of the
    factor), the second best nothing, so each factor scores ``H(bin) / H(factor)``.
    A factor with a single value is left out, as in ``mig_from_codes``.
    """
    ratios = []
    for size in factor_sizes:
        if size < 2:
            continue
        values = np.arange(size, dtype=np.float64)[:, np.newaxis]
        bins = utils.histogram_discretize(values, num_bins)[:, 0]
        _, counts = np.unique(bins, return_counts=True)
        probabilities = counts / size
        ratios.append(-np.sum(probabilities * np.log(probabilities)) / np.log(size))
    return float(np.mean(ratios))
