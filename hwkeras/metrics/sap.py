"""Separated Attribute Predictability (Kumar et al., "DIP-VAE", ICLR 2018, Section 3).

A score matrix S (code dims x factors) holds how well each single code dimension predicts each
factor: for discrete factors the held-out accuracy of a linear SVM on that one dimension
(``LinearSVC(C=0.01, class_weight="balanced")``), for continuous ones the squared correlation.
SAP is the mean over factors of the gap between the best and second-best dimension.

Constants and ``random_state`` calls are disentanglement_lib's (``sap_score`` with
unsupervised_study_v1's gin values: 10000 train / 5000 test points, discrete factors), so
identical inputs give identical numbers.
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/sap_score.gin; ``batch_size``
#: is the default of ``compute_sap``.
DEFAULTS = {
    "num_train": 10000,
    "num_test": 5000,
    "batch_size": 16,
    "continuous_factors": False,
}

#: The SVM's regularisation for discrete factors (dlib's hard-coded value).
SVM_C = 0.01

#: Below this variance a code dimension is treated as constant for continuous factors.
MIN_VARIANCE = 1e-12


def from_inputs(inputs):
    """SAP of checked ``utils.MetricInputs``."""
    (codes, factors), (codes_test, factors_test) = utils.train_test_codes(inputs)
    return sap_from_codes(codes, factors, codes_test, factors_test,
                          bool(inputs.params["continuous_factors"]),
                          random_state=inputs.random_state)


def compute_sap(ground_truth_data, representation_function, random_state, **params):
    """Computes the SAP score.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``params``: ``num_train``,
    ``num_test``, ``batch_size``, ``continuous_factors``.

    Returns:
      dict with ``SAP_score`` (dlib's name) and ``score_matrix``.
    """
    params = utils.resolve_params("sap", DEFAULTS, params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def sap_from_codes(codes, factors, codes_test, factors_test, continuous_factors=False,
                   random_state=None):
    """SAP of fixed codes ``(n, d)`` and integer factors ``(n, k)``."""
    if codes.shape[1] < 2:
        raise ValueError("SAP needs a representation with at least 2 dimensions: the gap is "
                         "between the best and the second-best dimension.")
    matrix = score_matrix(codes, factors, codes_test, factors_test, continuous_factors,
                          random_state)
    return {"SAP_score": float(avg_diff_top_two(matrix)), "score_matrix": matrix.tolist()}


def score_matrix(codes, factors, codes_test, factors_test, continuous_factors,
                 random_state=None):
    """Predictability of factor j from code dimension i alone, shape ``(num_dims, num_factors)``."""
    num_dims, num_factors = codes.shape[1], factors.shape[1]
    matrix = np.zeros((num_dims, num_factors))
    with utils.quiet_convergence():
        for i in range(num_dims):
            for j in range(num_factors):
                if continuous_factors:
                    matrix[i, j] = _squared_correlation(codes[:, i], factors[:, j])
                else:
                    matrix[i, j] = _svm_accuracy(codes[:, i], factors[:, j],
                                                 codes_test[:, i], factors_test[:, j],
                                                 random_state)
    return matrix


def _squared_correlation(code, factor):
    covariance = np.cov(code, factor, ddof=1)
    if covariance[0, 0] > MIN_VARIANCE:
        return covariance[0, 1] ** 2 / (covariance[0, 0] * covariance[1, 1])
    return 0.0


def _svm_accuracy(code, factor, code_test, factor_test, random_state):
    if np.unique(factor).size < 2:
        # One class only: an SVM cannot be fitted and the constant prediction is trivially right.
        return float(np.mean(factor_test == factor[0]))
    # dlib passes no random state: liblinear then seeds from numpy's global generator. With
    # scikit-learn's dual="auto" and one feature the primal solver runs, which draws nothing,
    # so passing the metric's random state only removes the dependence on global state.
    from sklearn import svm  # see utils: scikit-learn loads when a metric runs

    classifier = svm.LinearSVC(C=SVM_C, class_weight="balanced", random_state=random_state)
    classifier.fit(code[:, np.newaxis], factor)
    return np.mean(classifier.predict(code_test[:, np.newaxis]) == factor_test)


def avg_diff_top_two(matrix):
    """Mean over columns of the gap between the largest and second-largest entry."""
    ordered = np.sort(matrix, axis=0)
    return np.mean(ordered[-1, :] - ordered[-2, :])
