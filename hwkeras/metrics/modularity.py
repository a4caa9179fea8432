"""Modularity and explicitness (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the
F-Statistic Loss", NeurIPS 2018).

* modularity: each code dimension should carry information about one factor only. With m_if the
  mutual information between discretised dimension i and factor f, and theta_i = max_f m_if,
  dimension i scores 1 - sum_{f != argmax} m_if^2 / (theta_i^2 (K - 1)); the score is the mean.
* explicitness: a one-vs-rest logistic regression on the standardised code predicts each factor;
  the per-factor score is the macro ROC-AUC over its values, averaged over factors.

Constants and ``random_state`` calls are disentanglement_lib's (``modularity_explicitness`` with
unsupervised_study_v1's gin values), so identical inputs give identical numbers.

Differences from disentanglement_lib, only where it would fail: a constant code dimension is not
divided by a zero standard deviation, and the ROC-AUC is taken over the factor values that the
classifier saw in training and that occur in the test set (dlib raises when the two differ).
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/modularity_explicitness.gin;
#: ``batch_size`` is the default of ``compute_modularity_explicitness``.
DEFAULTS = {
    "num_train": 10000,
    "num_test": 5000,
    "batch_size": 16,
    "num_bins": utils.NUM_BINS,
}


def from_inputs(inputs):
    """Modularity and explicitness of checked ``utils.MetricInputs``."""
    (codes_train, factors_train), (codes_test, factors_test) = utils.train_test_codes(inputs)
    return modularity_explicitness_from_codes(codes_train, factors_train, codes_test,
                                              factors_test, inputs.params["num_bins"])


def compute_modularity_explicitness(ground_truth_data, representation_function, random_state,
                                    **params):
    """Computes modularity and explicitness.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``params``: ``num_train``,
    ``num_test``, ``batch_size``, ``num_bins``.

    Returns:
      dict with ``modularity_score``, ``explicitness_score_train`` and
      ``explicitness_score_test`` (dlib's names).
    """
    params = utils.resolve_params("modularity", DEFAULTS, params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def modularity_explicitness_from_codes(codes_train, factors_train, codes_test, factors_test,
                                       num_bins=utils.NUM_BINS):
    """Modularity and explicitness of fixed codes ``(n, d)`` and integer factors ``(n, k)``."""
    mutual_info = utils.discrete_mutual_info(
        utils.histogram_discretize(codes_train, num_bins), factors_train)
    scores = {"modularity_score": float(modularity(mutual_info))}

    train_norm, mean, stddev = utils.normalize_data(codes_train)
    test_norm, _, _ = utils.normalize_data(codes_test, mean, stddev)
    num_factors = factors_train.shape[1]
    explicit_train = np.zeros(num_factors)
    explicit_test = np.zeros(num_factors)
    with utils.quiet_convergence():
        for j in range(num_factors):
            explicit_train[j], explicit_test[j] = explicitness_per_factor(
                train_norm, factors_train[:, j], test_norm, factors_test[:, j])
    scores["explicitness_score_train"] = float(np.mean(explicit_train))
    scores["explicitness_score_test"] = float(np.mean(explicit_test))
    return scores


def explicitness_per_factor(codes_train, factor_train, codes_test, factor_test):
    """Macro ROC-AUC of a logistic regression predicting one factor, on train and on test."""
    if np.unique(factor_train).size < 2:
        # A factor constant in the sample cannot be classified; it is perfectly "explicit".
        return 1.0, 1.0
    from sklearn import linear_model  # see utils: scikit-learn loads when a metric runs

    classifier = linear_model.LogisticRegression().fit(codes_train, factor_train)
    return (_macro_auc(factor_train, classifier.predict_proba(codes_train), classifier.classes_),
            _macro_auc(factor_test, classifier.predict_proba(codes_test), classifier.classes_))


def _macro_auc(labels, probabilities, classes):
    """Macro-averaged one-vs-rest ROC-AUC over the classes present in ``labels``.

    When ``labels`` holds every class (the normal case) this is exactly dlib's
    ``roc_auc_score(MultiLabelBinarizer().fit_transform(labels[:, None]), probabilities)``.
    """
    from sklearn import metrics

    indicator = (labels[:, np.newaxis] == classes[np.newaxis, :]).astype(np.int64)
    # A column with only negatives (or only positives) has no ROC curve.
    usable = (indicator.sum(axis=0) > 0) & (indicator.sum(axis=0) < len(labels))
    if not usable.any():
        return 1.0
    if usable.sum() == 1:
        # A single column is a plain binary problem: roc_auc_score wants 1-D arrays for it.
        return metrics.roc_auc_score(indicator[:, usable][:, 0], probabilities[:, usable][:, 0])
    return metrics.roc_auc_score(indicator[:, usable], probabilities[:, usable])


def modularity(mutual_info):
    """Mean modularity of the code dimensions, from mutual information ``(num_dims, num_factors)``."""
    squared = np.square(mutual_info)
    max_squared = np.max(squared, axis=1)
    numerator = np.sum(squared, axis=1) - max_squared
    denominator = max_squared * (squared.shape[1] - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = 1.0 - numerator / denominator
    # A dimension with no information about any factor is not modular; it scores 0, as in dlib.
    per_dim[max_squared == 0.0] = 0.0
    return np.mean(per_dim)
