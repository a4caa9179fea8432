"""Unsupervised Disentanglement Ranking (Duan et al., "Unsupervised Model Selection for
Variational Disentangled Representation Learning", ICLR 2020, arXiv 1905.12614).

UDR needs no ground-truth factors: it ranks models trained with different seeds (and
hyperparameters) by how much their representations agree. The assumption is that
disentangled models are alike (each latent matches one latent of the other model, up to
permutation and sign) while entangled ones differ from each other in many ways.

For every ordered pair of models (i, j) on the same inputs:

1. each model's codes are standardised; latents whose mean KL to the prior is at most 0.01 are
   set to 0 (they carry no information);
2. a similarity matrix R (latents of i x latents of j): absolute Lasso coefficients (alpha 0.1)
   predicting model j's latents from model i's (UDR_L), or absolute Spearman correlations (UDR_S);
3. R is restricted to the active latents (mean KL above ``kl_filter_threshold``) of both models
   and scored by its relative strength: for each column and for each row, max^2 / sum, averaged
   over columns and over rows, and the two averages averaged;
4. model j's UDR is the median of the scores of the pairs (i, j) over all i != j.

Constants, defaults and the order of ``random_state`` calls are disentanglement_lib's
(``evaluation/udr/metrics/udr.py``, ``udr_sklearn`` with its ``udr.gin`` and
``udr_spearman.gin`` values), so identical inputs give identical numbers (docs/METRICS.md).
Not a ground-truth metric: it is not in ``evaluate.METRICS``; call ``compute_udr`` (from
representation functions) or ``udr_from_codes`` (from codes already computed).
"""

import warnings

import numpy as np

from hwkeras.metrics import utils

#: disentanglement_lib, config/tests/methods/udr/udr.gin (``udr_spearman.gin`` differs only in
#: ``correlation_matrix="spearman"``).
DEFAULTS = {
    "batch_size": 10,
    "num_data_points": 1000,
    "correlation_matrix": "lasso",
    "filter_low_kl": True,
    "kl_filter_threshold": 0.01,
}

CORRELATION_MATRICES = ("lasso", "spearman")

#: Lasso's regularisation (dlib's hard-coded value).
LASSO_ALPHA = 0.1

#: Latents whose mean KL is at most this are zeroed before R is computed. dlib hard-codes it,
#: separately from ``kl_filter_threshold`` (which only picks the rows and columns of R scored).
ACTIVE_KL = 0.01


def compute_udr(dataset, representation_functions, random_state, **params):
    """UDR of several models from their representations of the same random images.

    Args:
      dataset: anything with ``sample_observations(num, random_state)`` (or ``sample``); no
        ground-truth factors are needed.
      representation_functions: one per model, ``observations (n, H, W, C) -> (codes (n, d),
        kl (d,))``, ``kl`` being the mean over the batch of each latent's KL to the prior (dlib's
        contract; ``representation_with_kl`` makes one from a model).
      random_state: ``np.random.RandomState`` (or an int seed); draws the images.
      **params: ``batch_size``, ``num_data_points`` (a multiple of ``batch_size``),
        ``correlation_matrix`` (``"lasso"`` or ``"spearman"``), ``filter_low_kl``,
        ``kl_filter_threshold`` overriding ``DEFAULTS``.

    Returns:
      dict as ``udr_from_codes``.
    """
    params = utils.resolve_params("udr", DEFAULTS, params)
    _check_correlation_matrix(params["correlation_matrix"])
    random_state = utils.check_random_state(random_state)
    functions = list(representation_functions)
    if len(functions) < 2:
        raise ValueError(f"UDR compares models with each other: give at least 2 representation "
                         f"functions, got {len(functions)}.")
    if not callable(getattr(dataset, "sample_observations", None)) and \
            not callable(getattr(dataset, "sample", None)):
        raise ValueError(f"dataset {type(dataset).__name__} cannot sample observations; UDR "
                         f"needs a dataset with sample_observations(num, random_state).")
    codes, kl = representations(dataset, functions, random_state, params["batch_size"],
                                params["num_data_points"])
    return udr_from_codes(codes, kl, random_state,
                          correlation_matrix=params["correlation_matrix"],
                          filter_low_kl=params["filter_low_kl"],
                          kl_filter_threshold=params["kl_filter_threshold"])


def representations(dataset, representation_functions, random_state, batch_size=10,
                    num_data_points=1000):
    """Each model's ``(codes (num_data_points, d), mean KL (d,))`` of the same random images.

    The images are drawn batch by batch, as dlib draws them: the batch size decides how the
    random stream is cut, and the KL is averaged per batch first. A sweep's trials call this
    one model at a time with equal seeds, so their codes are of the same images and
    ``udr_from_codes`` on them equals ``compute_udr`` on the models together.
    """
    if num_data_points % batch_size:
        raise ValueError(f"num_data_points ({num_data_points}) must be a multiple of batch_size "
                         f"({batch_size}).")
    random_state = utils.check_random_state(random_state)
    functions = list(representation_functions)
    codes = [[] for _ in functions]
    kls = [[] for _ in functions]
    for _ in range(num_data_points // batch_size):
        observations = utils.sample_observations(dataset, batch_size, random_state)
        for i, function in enumerate(functions):
            batch_codes, batch_kl = function(observations)
            # float64 storage, as dlib's arrays, before any averaging.
            codes[i].append(np.asarray(batch_codes, dtype=np.float64))
            kls[i].append(np.asarray(batch_kl, dtype=np.float64))
    return [np.concatenate(c, axis=0) for c in codes], [np.mean(k, axis=0) for k in kls]


def udr_from_codes(codes, kl, random_state=None, correlation_matrix="lasso", filter_low_kl=True,
                   kl_filter_threshold=0.01, include_raw_correlations=True):
    """UDR of fixed codes: ``codes[i]`` is model i's ``(n, d_i)`` codes of the same n inputs,
    ``kl[i]`` its ``(d_i,)`` mean KL per latent.

    Returns:
      dict with ``model_scores`` (one UDR per model), ``pairwise_disentanglement_scores``
      (``[i][j]``: the score of R from model i to model j; 0 on the diagonal) and, with
      ``include_raw_correlations``, ``raw_correlations`` (``[i][j]``: R, ``d_i x d_j``; zeros on
      the diagonal). Names as in dlib.
    """
    from sklearn import preprocessing
    codes = [np.asarray(c, dtype=np.float64) for c in codes]
    kl = [np.asarray(k, dtype=np.float64) for k in kl]
    _check_codes(codes, kl)
    _check_correlation_matrix(correlation_matrix)
    num_models = len(codes)
    informative = []
    for i in range(num_models):
        scaler = preprocessing.StandardScaler().fit(codes[i])
        informative.append(scaler.transform(codes[i]) * np.greater(kl[i], ACTIVE_KL))
    active = [k > kl_filter_threshold for k in kl]

    raw = [[np.zeros((c.shape[1], other.shape[1])) for other in codes] for c in codes]
    pairwise = np.zeros((num_models, num_models))
    for i in range(num_models):
        for j in range(num_models):
            if i == j:
                continue
            if correlation_matrix == "lasso":
                raw[i][j] = lasso_correlation_matrix(informative[i], informative[j], random_state)
            else:
                raw[i][j] = spearman_correlation_matrix(informative[i], informative[j])
            matrix = raw[i][j][active[i]][:, active[j]] if filter_low_kl else raw[i][j]
            pairwise[i, j] = relative_strength_disentanglement(matrix)

    scores = {
        "model_scores": [float(np.median(np.delete(pairwise[:, j], j)))
                         for j in range(num_models)],
        "pairwise_disentanglement_scores": pairwise.tolist(),
    }
    if include_raw_correlations:
        scores["raw_correlations"] = [[m.tolist() for m in row] for row in raw]
    return scores


def lasso_correlation_matrix(codes1, codes2, random_state=None):
    """|Lasso coefficients| predicting ``codes2`` from ``codes1``, shape ``(d1, d2)``."""
    from sklearn import linear_model
    # The coordinate-descent solver is cyclic and draws nothing; the random state is passed as
    # dlib passes it, so that a random ``selection`` would stay comparable.
    model = linear_model.Lasso(alpha=LASSO_ALPHA, random_state=random_state)
    with utils.quiet_convergence():
        model.fit(codes1, codes2)
    return np.transpose(np.absolute(model.coef_.reshape(codes2.shape[1], codes1.shape[1])))


def spearman_correlation_matrix(codes1, codes2):
    """|Spearman correlation| of every latent of ``codes1`` with every one of ``codes2``.

    A constant latent (zeroed as inactive) has no rank correlation: its entries are NaN, as in
    dlib, and count as 0 in ``relative_strength_disentanglement``.
    """
    import scipy.stats
    matrix = np.zeros((codes1.shape[1], codes2.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.stats.ConstantInputWarning)
        for i in range(codes1.shape[1]):
            for j in range(codes2.shape[1]):
                # Pair by pair, as dlib: a vectorised rank correlation sums in another order.
                matrix[i, j] = scipy.stats.spearmanr(codes1[:, i], codes2[:, j],
                                                     nan_policy="omit")[0]
    return np.absolute(matrix)


def relative_strength_disentanglement(matrix):
    """Mean over columns and over rows of max^2 / sum, averaged; 1 for a permutation matrix.

    An undefined ratio (NaN, e.g. an all-zero column) counts as 0, as in dlib. A matrix without
    rows or columns (no active latent in one of the models) scores 0, where dlib would crash.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # dlib's nan_to_num(x, 0) passes 0 as `copy`: NaN -> 0, inf -> the largest float.
        per_column = np.nan_to_num(np.max(matrix, axis=0) ** 2 / np.sum(matrix, axis=0), copy=False)
        per_row = np.nan_to_num(np.max(matrix, axis=1) ** 2 / np.sum(matrix, axis=1), copy=False)
    return float((np.nanmean(per_column) + np.nanmean(per_row)) / 2)


def gaussian_kl_per_latent(mean, variance):
    """KL(N(mean, variance) || N(0, 1)) per example and latent: the ``(n, d)`` terms dlib averages."""
    mean, variance = np.asarray(mean, np.float64), np.asarray(variance, np.float64)
    return 0.5 * (np.square(mean) + variance - np.log(variance) - 1.0)


def representation_with_kl(model):
    """``observations -> (encoder mean, mean KL per latent)`` for ``compute_udr``.

    The second output of ``model.encode`` is read as a log-variance ``(n, d)`` (diagonal
    posteriors) or as a ``scale_tril`` ``(n, d, d)`` (CHyVAE's full covariance, whose marginal
    variances are the row sums of its square). The KL is each latent's marginal posterior
    against N(0, 1), as dlib computes it for every model; for the hierarchical priors this is the
    prior's mean covariance, which is all the filter of inactive latents needs.
    """
    from hwkeras.metrics.encoder import to_numpy

    def representation_function(observations):
        mean, second = (to_numpy(t) for t in model.encode(np.asarray(observations, np.float32))[:2])
        variance = np.sum(np.square(second), axis=-1) if second.ndim == 3 else np.exp(second)
        return mean, np.mean(gaussian_kl_per_latent(mean, variance), axis=0)

    return representation_function


def _check_correlation_matrix(name):
    if name not in CORRELATION_MATRICES:
        raise ValueError(f"unknown correlation_matrix {name!r}; use one of "
                         f"{', '.join(CORRELATION_MATRICES)}.")


def _check_codes(codes, kl):
    if len(codes) < 2 or len(codes) != len(kl):
        raise ValueError(f"UDR needs the codes of at least 2 models and one KL vector per model; "
                         f"got {len(codes)} code arrays and {len(kl)} KL vectors.")
    for i, (c, k) in enumerate(zip(codes, kl)):
        if c.ndim != 2 or k.shape != (c.shape[1],):
            raise ValueError(f"model {i}: codes must be (num_points, num_latents) and kl "
                             f"(num_latents,); got {c.shape} and {k.shape}.")
        if len(c) != len(codes[0]):
            raise ValueError(f"model {i} has codes of {len(c)} inputs, model 0 of "
                             f"{len(codes[0])}; UDR compares codes of the same inputs.")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(k))):
            raise ValueError(f"model {i}: the codes or KL contain NaN or inf; the encoder has "
                             f"diverged: check the checkpoint.")
