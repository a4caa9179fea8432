"""FactorVAE disentanglement score (Kim & Mnih, "Disentangling by Factorising", ICML 2018).

A vote: fix one randomly chosen factor, draw a batch of images whose other factors vary, encode
them, divide each code dimension's variance in the batch by its variance over the whole dataset,
and record (fixed factor, dimension with the smallest ratio). A majority-vote classifier maps each
dimension to the factor that most often chose it; the score is its accuracy on fresh votes.

Two protocols:

* ``"dlib"`` (default): google-research/disentanglement_lib's unsupervised_study_v1 gin values,
  and its exact sequence of ``random_state`` calls, so identical inputs give identical numbers.
* ``"chyvae"``: the protocol behind the published numbers of CHyVAE (Ansari & Soh, AAAI 2019,
  code ``clear-nus/CHyVAE``): scale from 5000 images, 800 training and 800 evaluation votes,
  each vote from 200 images, no pruning of collapsed dimensions.

Differences from disentanglement_lib, none of which changes a score it could compute:

* ``num_active_dims`` is the number of dimensions kept after pruning (dlib reports the length of
  its boolean mask, i.e. always every dimension).
* dlib records a vote under the dimension's index *among the active ones*; we record it under
  the dimension's own index. This relabels the columns of the vote matrix one-to-one, which
  leaves the majority-vote accuracy unchanged, and makes ``votes`` readable.
* A dimension whose global variance is exactly 0 is never a candidate (dlib would divide 0/0
  and send every vote to it when pruning is off).
"""

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/unsupervised_study_v1/metric_configs/factor_vae_metric.gin.
#: Note that dlib's threshold applies to the *standard deviation* (``sqrt(var) >= 0.05``),
#: although the gin binding is commonly described as a variance threshold.
DLIB_PROTOCOL = {
    "batch_size": 64,
    "num_train": 10000,
    "num_eval": 5000,
    "num_variance_estimate": 10000,
    "prune_threshold": 0.05,
}

#: CHyVAE's own code (code/utils.py: compute_metric): std over 100 batches of 50 test images,
#: ``B=800`` votes to train and 800 to evaluate, ``sample_fixed_factor(size=200)``, no pruning.
CHYVAE_PROTOCOL = {
    "batch_size": 200,
    "num_train": 800,
    "num_eval": 800,
    "num_variance_estimate": 5000,
    "prune_threshold": 0.0,
}

PROTOCOLS = {"dlib": DLIB_PROTOCOL, "chyvae": CHYVAE_PROTOCOL}

#: Batch size for encoding the variance-estimate images (dlib's ``eval_batch_size``).
EVAL_BATCH_SIZE = 64


def protocol_params(protocol="dlib", **overrides):
    """The protocol's constants updated by ``overrides`` (``None`` values are ignored), checked."""
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown FactorVAE protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")
    params = utils.resolve_params("factor_vae", PROTOCOLS[protocol], overrides)
    if params["batch_size"] < 2:
        raise ValueError("batch_size must be at least 2: a vote needs a variance within a batch.")
    if params["num_variance_estimate"] < 2:
        raise ValueError("num_variance_estimate must be at least 2.")
    return params


def from_inputs(inputs):
    """The FactorVAE score of checked ``utils.MetricInputs`` (params from ``protocol_params``)."""
    ground_truth_data, representation_function = inputs.ground_truth_data, inputs.representation_function
    random_state, params = inputs.random_state, inputs.params
    batch_size, num_train, num_eval = params["batch_size"], params["num_train"], params["num_eval"]
    global_variances = _global_variances(ground_truth_data, representation_function,
                                         params["num_variance_estimate"], random_state)
    active_dims = _active_dims(global_variances, params["prune_threshold"])
    if active_dims.size == 0:
        # Nothing left to vote for: every dimension collapsed to the prior.
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0,
                "votes": np.zeros((ground_truth_data.num_factors, global_variances.size),
                                  dtype=np.int64).tolist()}

    train_votes = _votes(ground_truth_data, representation_function, batch_size, num_train,
                         random_state, global_variances, active_dims)
    # The classifier: each dimension predicts the factor that chose it most often.
    classifier = np.argmax(train_votes, axis=0)
    train_accuracy = _accuracy(train_votes, classifier)

    eval_votes = _votes(ground_truth_data, representation_function, batch_size, num_eval,
                        random_state, global_variances, active_dims)
    eval_accuracy = _accuracy(eval_votes, classifier)
    return {
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(eval_accuracy),
        "num_active_dims": int(active_dims.size),
        "votes": train_votes.tolist(),
    }


def compute_factor_vae(ground_truth_data, representation_function, random_state,
                       protocol="dlib", **params):
    """Computes the FactorVAE score.

    Arguments as in ``hwkeras.metrics`` (the package docstring); ``protocol`` (``"dlib"`` or
    ``"chyvae"``) picks the defaults; ``params``: ``batch_size``, ``num_train``, ``num_eval``,
    ``num_variance_estimate``, ``prune_threshold`` (on the standard deviation), each overriding
    the protocol's value.

    Returns:
      dict with ``train_accuracy``, ``eval_accuracy``, ``num_active_dims`` and ``votes`` (the
      training vote matrix, factors x dimensions).
    """
    params = protocol_params(protocol, **params)
    return from_inputs(utils.metric_inputs(ground_truth_data, representation_function,
                                           random_state, params))


def _global_variances(ground_truth_data, representation_function, num_points, random_state):
    """Per-dimension variance (ddof=1) of the codes of ``num_points`` random images."""
    observations = utils.sample_observations(ground_truth_data, num_points, random_state)
    codes = utils.obtain_representation(observations, representation_function, EVAL_BATCH_SIZE)
    return np.var(codes, axis=0, ddof=1)


def _active_dims(global_variances, threshold):
    """Indices of the dimensions that are not collapsed to the prior.

    As in disentanglement_lib the threshold applies to the standard deviation. A dimension with
    variance exactly 0 cannot be normalised and is never active.
    """
    scale = np.sqrt(global_variances)
    keep = (scale >= threshold) & (global_variances > 0)
    return np.flatnonzero(keep)


def _votes(ground_truth_data, representation_function, batch_size, num_votes, random_state,
           global_variances, active_dims):
    """Vote counts, shape ``(num_factors, num_dims)``.

    All votes' images are drawn first, in dlib's order of random_state calls, and encoded in
    chunks (``utils.codes_of_batches``); each vote then goes to the active dimension whose
    in-batch variance is smallest relative to its global variance.
    """
    votes = np.zeros((ground_truth_data.num_factors, global_variances.shape[0]), dtype=np.int64)
    fixed_factors = []

    def vote_batches():
        for _ in range(num_votes):
            factor_index = random_state.randint(ground_truth_data.num_factors)
            factors = ground_truth_data.sample_factors(batch_size, random_state)
            factors[:, factor_index] = factors[0, factor_index]
            fixed_factors.append(factor_index)
            yield ground_truth_data.sample_observations_from_factors(factors, random_state)

    # A vote's codes arrive after its batch was drawn, so fixed_factors[i] is there by then.
    for i, codes in enumerate(utils.codes_of_batches(representation_function, vote_batches())):
        local_variances = np.var(codes, axis=0, ddof=1)
        ratio = local_variances[active_dims] / global_variances[active_dims]
        votes[fixed_factors[i], active_dims[np.argmin(ratio)]] += 1
    return votes


def _accuracy(votes, classifier):
    """Share of the votes whose factor is the one the classifier assigns to their dimension."""
    correct = votes[classifier, np.arange(votes.shape[1])]
    return np.sum(correct) * 1.0 / np.sum(votes)
