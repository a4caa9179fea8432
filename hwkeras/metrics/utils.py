"""Helpers shared by the disentanglement metrics.

scikit-learn and scipy are imported inside the functions that use them, in every metric module,
so that importing the registry (the CLI's --help, `hwkeras datasets`) costs numpy alone.

Every metric reads a dataset only through the ground-truth API (``hwkeras.data.ground_truth``)
and a model only through a *representation function* ``observations (n, H, W, C) -> codes (n, d)``
(the encoder mean). The helpers below sample codes and factors in exactly the batch sizes and
order that google-research/disentanglement_lib uses, so that one ``np.random.RandomState`` seed
draws the same images in both libraries.

Layout note: arrays here are ``(num_points, num_dims)`` (the scikit-learn layout), where
disentanglement_lib keeps them transposed as ``(num_dims, num_points)``. Every reduction is taken
over the same elements in the same order, so the numbers agree to the last bit (see
docs/METRICS.md).
"""

import contextlib
import dataclasses
import numbers
import warnings
from typing import Callable

import numpy as np

#: Bins of the histogram discretiser used by MIG and modularity (disentanglement_lib's gin value).
NUM_BINS = 20

#: Images gathered for one call of the representation function (64 MiB of 64x64x1 float32).
ENCODE_CHUNK = 4096


# --------------------------------------------------------------------------------------------
# Input checks: fail early with one line that names the problem and the fix.
# --------------------------------------------------------------------------------------------

def check_random_state(random_state):
    """Returns a ``np.random.RandomState``; an int is taken as its seed.

    A ``np.random.Generator`` is refused: the metrics call ``random_state.randint`` in the same
    sequence as disentanglement_lib, which only a ``RandomState`` reproduces.
    """
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise ValueError(
        f"random_state must be a np.random.RandomState or an int seed, got "
        f"{type(random_state).__name__}; pass np.random.RandomState(seed).")


def check_ground_truth_data(ground_truth_data):
    """Raises ValueError unless the dataset exposes known factors of variation."""
    name = type(ground_truth_data).__name__
    missing = [attr for attr in ("sample_factors", "sample_observations_from_factors", "sample")
               if not callable(getattr(ground_truth_data, attr, None))]
    if missing:
        raise ValueError(
            f"dataset {name} has no ground-truth factors (it lacks {', '.join(missing)}); "
            f"disentanglement metrics need a GroundTruthData dataset such as dsprites or "
            f"correlated_ellipses.")
    factor_sizes = tuple(getattr(ground_truth_data, "factor_sizes", ()) or ())
    if not factor_sizes:
        raise ValueError(
            f"dataset {name} has no ground-truth factors (factor_sizes is empty); "
            f"disentanglement metrics need a dataset with known factors such as dsprites or "
            f"correlated_ellipses.")
    if getattr(ground_truth_data, "num_factors", len(factor_sizes)) != len(factor_sizes):
        raise ValueError(
            f"dataset {name}: num_factors does not match len(factor_sizes); "
            f"fix the dataset class so both describe the same factors.")


def check_positive(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def checked_representation(representation_function):
    """Wraps a representation function so that a bad code fails with a clear ValueError.

    The check runs on every batch: a diverged encoder usually returns NaN for some images only.
    It does not touch the random state, so it cannot change any number.
    """

    def wrapped(observations):
        codes = np.asarray(representation_function(observations))
        if codes.ndim != 2 or codes.shape[0] != len(observations):
            raise ValueError(
                f"the representation function returned shape {codes.shape} for "
                f"{len(observations)} observations; it must return (num_observations, "
                f"num_dims), e.g. the encoder mean.")
        if not np.issubdtype(codes.dtype, np.number):
            raise ValueError(
                f"the representation function returned dtype {codes.dtype}; it must return "
                f"numbers (the encoder mean).")
        if not np.all(np.isfinite(codes)):
            raise ValueError(
                "the representation contains NaN or inf; the encoder has diverged or the "
                "inputs are not scaled to [0, 1]: check the checkpoint and the dataset.")
        return codes

    return wrapped


def resolve_params(metric, defaults, overrides):
    """Defaults updated by overrides, sample sizes checked.

    An unknown parameter name is a ValueError, and so is a ``batch_size`` or ``num_*`` that is
    not a positive integer: ``evaluate`` calls this for every metric before the first one runs.
    """
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"{metric}: unknown parameter(s) {', '.join(unknown)}; valid ones are "
            f"{', '.join(sorted(defaults))}.")
    params = dict(defaults)
    params.update({k: v for k, v in overrides.items() if v is not None})
    for name, value in params.items():
        if name == "batch_size" or name.startswith("num_"):
            params[name] = check_positive(name, value)
    return params


@dataclasses.dataclass(frozen=True)
class MetricInputs:
    """What every metric computes from, already checked (see ``metric_inputs``)."""

    ground_truth_data: object
    #: Wrapped by ``checked_representation``.
    representation_function: Callable
    random_state: np.random.RandomState
    #: Resolved by ``resolve_params``.
    params: dict


def metric_inputs(ground_truth_data, representation_function, random_state, params):
    """The opening shared by every ``compute_*``: checks the dataset, the random state and
    (batch by batch) the representation. ``evaluate`` builds ``MetricInputs`` itself, so that
    it checks the dataset once for all metrics."""
    check_ground_truth_data(ground_truth_data)
    return MetricInputs(ground_truth_data, checked_representation(representation_function),
                        check_random_state(random_state), params)


# --------------------------------------------------------------------------------------------
# Sampling codes and factors.
# --------------------------------------------------------------------------------------------

def sample_observations(ground_truth_data, num, random_state):
    """Observations only; uses the dataset's own ``sample_observations`` when it has one."""
    sampler = getattr(ground_truth_data, "sample_observations", None)
    if callable(sampler):
        return sampler(num, random_state)
    return ground_truth_data.sample(num, random_state)[1]


def codes_of_batches(representation_function, observation_batches, chunk=ENCODE_CHUNK):
    """Yields the codes of each batch of ``observation_batches``, in order.

    dlib encodes every small batch as soon as it is drawn: 64 images per call for a FactorVAE
    vote, ~50,000 calls at its sizes. Here the batches (any iterable, consumed lazily) are
    gathered until ``chunk`` images and encoded in one call. The representation function never
    touches the random state, so the sampling calls keep dlib's order, and a representation that
    encodes each image independently of the rest of its batch gives the same numbers. Memory
    stays bounded by one chunk of images.
    """
    pending, size = [], 0

    def encoded():
        codes = representation_function(np.concatenate(pending, axis=0))
        return np.split(codes, np.cumsum([len(batch) for batch in pending])[:-1])

    for batch in observation_batches:
        pending.append(batch)
        size += len(batch)
        if size >= chunk:
            yield from encoded()
            pending, size = [], 0
    if pending:
        yield from encoded()


def obtain_representation(observations, representation_function, batch_size):
    """Codes ``(n, d)`` of fixed observations (dlib cuts them into ``batch_size`` batches)."""
    batches = (observations[start:start + batch_size]
               for start in range(0, len(observations), batch_size))
    return np.concatenate(list(codes_of_batches(representation_function, batches)), axis=0)


def generate_batch_factor_code(ground_truth_data, representation_function, num_points,
                               random_state, batch_size):
    """Draws ``num_points`` (factors, observations) pairs and encodes them.

    Sampling goes ``batch_size`` points at a time, as in disentanglement_lib, because the batch
    size decides how the random state's stream is cut into factors and observation noise; the
    encoding goes in chunks (``codes_of_batches``).

    Returns:
      codes: ``(num_points, num_dims)`` array, in the dtype the representation returns.
      factors: ``(num_points, num_factors)`` integer array.
    """
    factors = []

    def observation_batches():
        done = 0
        while done < num_points:
            size = min(num_points - done, batch_size)
            batch_factors, batch_observations = ground_truth_data.sample(size, random_state)
            factors.append(np.asarray(batch_factors))
            done += size
            yield batch_observations

    codes = list(codes_of_batches(representation_function, observation_batches()))
    return np.concatenate(codes, axis=0), np.concatenate(factors, axis=0)


def train_test_codes(inputs):
    """``num_train`` then ``num_test`` (codes, factors) pairs, in dlib's order of sampling."""
    p = inputs.params
    return [generate_batch_factor_code(inputs.ground_truth_data, inputs.representation_function,
                                       num, inputs.random_state, p["batch_size"])
            for num in (p["num_train"], p["num_test"])]


# --------------------------------------------------------------------------------------------
# Discretisation, mutual information, entropy.
# --------------------------------------------------------------------------------------------

def histogram_discretize(codes, num_bins=NUM_BINS):
    """Each column mapped to the index (1..num_bins) of its equal-width histogram bin.

    The bins span each column's own min..max. A value equal to the maximum falls in the last
    bin. The result keeps the input dtype: the bin indices are only used as labels.
    """
    codes = np.asarray(codes)
    discretized = np.zeros_like(codes)
    for j in range(codes.shape[1]):
        column = codes[:, j]
        edges = np.histogram(column, num_bins)[1]
        # Dropping the last edge makes np.digitize put the maximum into bin num_bins.
        discretized[:, j] = np.digitize(column, edges[:-1])
    return discretized


def discrete_mutual_info(codes, factors):
    """Matrix ``(num_dims, num_factors)`` of mutual informations (nats) between label columns."""
    from sklearn.metrics import mutual_info_score

    codes, factors = np.asarray(codes), np.asarray(factors)
    mi = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            # Argument order (factor, code) as in disentanglement_lib: the contingency table is
            # summed in that order, which keeps the last bits identical.
            mi[i, j] = mutual_info_score(factors[:, j], codes[:, i])
    return mi


def discrete_entropy(factors):
    """Entropy (nats) of each label column, as its mutual information with itself."""
    factors = np.asarray(factors)
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factors[:, j], factors[:, j])
                     for j in range(factors.shape[1])])


def normalize_data(data, mean=None, stddev=None):
    """Columns standardised with the given (or their own) mean and standard deviation.

    A constant column (stddev 0) is left unscaled instead of becoming NaN: disentanglement_lib
    would crash on it in the classifier that follows.
    """
    if mean is None:
        mean = np.mean(data, axis=0)
    if stddev is None:
        stddev = np.std(data, axis=0)
        stddev = np.where(stddev > 0, stddev, 1.0).astype(stddev.dtype)
    return (data - mean[np.newaxis, :]) / stddev[np.newaxis, :], mean, stddev


# --------------------------------------------------------------------------------------------
# Results.
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def quiet_convergence():
    """Hides ConvergenceWarning inside the block.

    The protocols fix the classifiers' defaults (100 lbfgs iterations, 1000 liblinear ones);
    disentanglement_lib got the same warnings and reported the numbers regardless.
    """
    with warnings.catch_warnings():
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def to_builtin(value):
    """numpy scalars and arrays turned into JSON-ready Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
