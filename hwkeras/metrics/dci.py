"""Disentanglement, Completeness, Informativeness (Eastwood & Williams, ICLR 2018).

One gradient-boosted tree classifier per factor predicts the factor from the whole code; its
feature importances fill column ``j`` of the importance matrix R (code dims x factors).

* disentanglement: for each code dimension, 1 - entropy (base = number of factors) of its row of
  R normalised to a distribution; averaged with weights proportional to the row sums.
* completeness: the same with factors and dimensions swapped (base = number of dimensions).
* informativeness: the classifiers' mean accuracy on the training and on held-out points.

Constants and ``random_state`` calls are disentanglement_lib's (``dci`` with unsupervised_study_v1's
gin values), so identical inputs give identical samples.

One deliberate difference: dlib builds ``GradientBoostingClassifier()`` with no random state,
so the trees break ties between equally good splits with numpy's *global* generator and the
score can change from run to run. We pass the metric's ``random_state`` (after all sampling is
done, so the samples are untouched) to make the score a function of the seed alone.
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/dci.gin; ``batch_size`` is the
#: default of ``compute_dci``.
DEFAULTS = {
    "num_train": 10000,
    "num_test": 5000,
    "batch_size": 16,
}

#: Added to the importances before the entropies, as dlib does, so that zero rows are defined.
EPSILON = 1e-11


def from_inputs(inputs):
    """DCI of checked ``utils.MetricInputs``."""
    (codes_train, factors_train), (codes_test, factors_test) = utils.train_test_codes(inputs)
    return dci_from_codes(codes_train, factors_train, codes_test, factors_test,
                          random_state=inputs.random_state)


def compute_dci(ground_truth_data, representation_function, random_state, **params):
    """Computes the DCI scores.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``params``: ``num_train``,
    ``num_test``, ``batch_size`` overriding ``DEFAULTS``.

    Returns:
      dict with ``disentanglement``, ``completeness``, ``informativeness_train``,
      ``informativeness_test`` (dlib's names) and ``importance_matrix``.
    """
    params = utils.resolve_params("dci", DEFAULTS, params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def dci_from_codes(codes_train, factors_train, codes_test, factors_test, random_state=None):
    """DCI of fixed codes ``(n, d)`` and integer factors ``(n, k)``."""
    importance, train_accuracy, test_accuracy = importance_gbt(
        codes_train, factors_train, codes_test, factors_test, random_state)
    return {
        "informativeness_train": float(train_accuracy),
        "informativeness_test": float(test_accuracy),
        "disentanglement": float(disentanglement(importance)),
        "completeness": float(completeness(importance)),
        "importance_matrix": importance.tolist(),
    }


def importance_gbt(codes_train, factors_train, codes_test, factors_test, random_state=None):
    """Importance matrix ``(num_dims, num_factors)`` and mean train / test accuracies."""
    num_dims, num_factors = codes_train.shape[1], factors_train.shape[1]
    importance = np.zeros((num_dims, num_factors), dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    for j in range(num_factors):
        from sklearn import ensemble  # see utils: scikit-learn loads when a metric runs

        model = ensemble.GradientBoostingClassifier(random_state=random_state)
        model.fit(codes_train, factors_train[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(codes_train) == factors_train[:, j]))
        test_accuracy.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
    return importance, np.mean(train_accuracy), np.mean(test_accuracy)


def disentanglement_per_code(importance):
    """1 - H_K(P_i.) for every code dimension i (K = number of factors)."""
    import scipy.stats

    return 1.0 - scipy.stats.entropy(importance.T + EPSILON, base=importance.shape[1])


def disentanglement(importance):
    """Disentanglement, each dimension weighted by its share of the total importance."""
    return _weighted_mean(disentanglement_per_code(importance), importance, axis=1)


def completeness_per_factor(importance):
    """1 - H_D(P_.j) for every factor j (D = number of code dimensions)."""
    import scipy.stats

    return 1.0 - scipy.stats.entropy(importance + EPSILON, base=importance.shape[0])


def completeness(importance):
    """Completeness, each factor weighted by its share of the total importance."""
    return _weighted_mean(completeness_per_factor(importance), importance, axis=0)


def _weighted_mean(scores, importance, axis):
    """``scores`` weighted by the importance sums along ``axis`` (equal weights if all zero)."""
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    return np.sum(scores * (importance.sum(axis=axis) / importance.sum()))
