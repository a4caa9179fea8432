"""BetaVAE disentanglement score (Higgins et al., "beta-VAE", ICLR 2017), scikit-learn version.

A training point: fix one randomly chosen factor in two batches of images (the other factors
drawn independently), encode both, and take the mean absolute difference of the codes over the
batch. A linear classifier (``LogisticRegression``) predicts the fixed factor from that vector;
the score is its accuracy on fresh points.

Constants and the sequence of ``random_state`` calls are disentanglement_lib's
(``beta_vae_sklearn`` with unsupervised_study_v1's gin values), so identical inputs give
identical numbers.
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/beta_vae_sklearn.gin.
DEFAULTS = {
    "batch_size": 64,
    "num_train": 10000,
    "num_eval": 5000,
}


def from_inputs(inputs):
    """The BetaVAE score of checked ``utils.MetricInputs``."""
    ground_truth_data, representation_function = inputs.ground_truth_data, inputs.representation_function
    random_state, batch_size = inputs.random_state, inputs.params["batch_size"]
    train_points, train_labels = _points(ground_truth_data, representation_function,
                                         batch_size, inputs.params["num_train"], random_state)
    # dlib hands the RandomState to the classifier; lbfgs does not draw from it, but passing it
    # keeps the classifier identical should a solver that does be configured.
    from sklearn import linear_model  # see utils: scikit-learn loads when a metric runs

    model = linear_model.LogisticRegression(random_state=random_state)
    with utils.quiet_convergence():
        model.fit(train_points, train_labels)
    train_accuracy = np.mean(model.predict(train_points) == train_labels)

    eval_points, eval_labels = _points(ground_truth_data, representation_function,
                                       batch_size, inputs.params["num_eval"], random_state)
    eval_accuracy = model.score(eval_points, eval_labels)
    return {"train_accuracy": float(train_accuracy), "eval_accuracy": float(eval_accuracy)}


def compute_beta_vae(ground_truth_data, representation_function, random_state, **params):
    """Computes the BetaVAE score.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``params``: ``batch_size``,
    ``num_train``, ``num_eval`` overriding ``DEFAULTS``.

    Returns:
      dict with ``train_accuracy`` and ``eval_accuracy``.
    """
    params = utils.resolve_params("beta_vae", DEFAULTS, params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def _points(ground_truth_data, representation_function, batch_size, num_points, random_state):
    """``num_points`` feature vectors (float64) and the index of the factor each one fixed.

    All points' images are drawn first, in dlib's order of random_state calls, and encoded in
    chunks (``utils.codes_of_batches``).
    """
    labels = np.zeros(num_points, dtype=np.int64)

    def point_batches():
        for i in range(num_points):
            labels[i] = random_state.randint(ground_truth_data.num_factors)
            factors1 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2 = ground_truth_data.sample_factors(batch_size, random_state)
            factors2[:, labels[i]] = factors1[:, labels[i]]
            yield ground_truth_data.sample_observations_from_factors(factors1, random_state)
            yield ground_truth_data.sample_observations_from_factors(factors2, random_state)

    codes = utils.codes_of_batches(representation_function, point_batches())
    points = None  # the width is known after the first code
    for i, (codes1, codes2) in enumerate(zip(codes, codes)):
        # Computed in the representation's own dtype, then stored as float64, as dlib does.
        feature = np.mean(np.abs(codes1 - codes2), axis=0)
        if points is None:
            points = np.zeros((num_points, feature.shape[0]))
        points[i] = feature
    return points, labels
