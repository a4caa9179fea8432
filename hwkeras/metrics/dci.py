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

from hwkeras.errors import UserError
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


def importance_gbt(codes_train, factors_train, codes_test, factors_test, random_state=None, n_jobs=None):
    """Importance matrix ``(num_dims, num_factors)`` and mean train / test accuracies.

    One classifier per factor, in factor order, each drawing its trees' seeds from ``random_state``
    where the previous one left it (dlib's order). The fits are independent otherwise, so with a
    ``RandomState`` and enough points they run side by side in threads (``n_jobs`` at once; default
    ``metric_jobs(num_factors)``), each started from the state the sequential order would give it
    (``_states_after``): the same numbers, bit for bit, in about half the time on 2 cores (DCI is most
    of the suite's time once the codes are tabled; docs/BENCHMARKS.md). Should a scikit-learn release
    draw differently, the states do not meet and the factors are fitted again one after another.
    """
    num_dims, num_factors = codes_train.shape[1], factors_train.shape[1]
    jobs = metric_jobs(num_factors) if n_jobs is None else min(n_jobs, num_factors)
    tasks = [(codes_train, factors_train[:, j], codes_test, factors_test[:, j]) for j in range(num_factors)]
    results = None
    if isinstance(random_state, np.random.RandomState) and jobs > 1 and len(codes_train) >= PARALLEL_MIN_POINTS:
        results = _fit_side_by_side(tasks, random_state, jobs)
    if results is None:
        results = []
        for task in tasks:
            results.append(_fit_factor(*task, random_state))
    importance = np.zeros((num_dims, num_factors), dtype=np.float64)
    for j, result in enumerate(results):
        importance[:, j] = result[0]
    return importance, np.mean([r[1] for r in results]), np.mean([r[2] for r in results])


#: Below this many training points the classifiers are fitted one after another: each fit takes
#: milliseconds, so threads would save nothing (the tests' small samples take dlib's plain path).
PARALLEL_MIN_POINTS = 2000
#: The largest value ``RandomState.randint`` is asked for by scikit-learn's trees for a seed (RAND_R_MAX).
_TREE_SEED_BOUND = np.iinfo(np.int32).max


def metric_jobs(fits):
    """How many of DCI's ``fits`` classifiers may be fitted at once: $HWKERAS_METRIC_JOBS (1: in order),
    else all of them when this process may run on more than one CPU.

    Threads, not processes: scikit-learn builds a tree without the GIL (over 90% of a boosted fit), and
    a thread costs no start-up and no copy of the codes. All factors at once rather than one per CPU:
    the operating system then shares the cores among every fit still running, so the largest factor
    (40 classes of dSprites' 113) no longer decides the wall time alone (docs/BENCHMARKS.md)."""
    import os

    text = os.environ.get("HWKERAS_METRIC_JOBS", "").strip()
    if text:
        if not text.isdigit():
            raise UserError(f"HWKERAS_METRIC_JOBS={text!r} is not a whole number: set it to 1 to fit DCI's "
                            "classifiers in order, or to how many may run at once (or unset it).")
        return max(1, min(int(text), fits))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1 if cpus < 2 else fits


def _fit_factor(codes_train, labels_train, codes_test, labels_test, random_state):
    """(importances, train accuracy, test accuracy, the random state's state after the fit) of one factor.

    ``random_state``: the RandomState the classifier draws from (advanced in place), its state as
    ``get_state()`` gives it (a worker's copy), or None (numpy's global generator, as dlib)."""
    from sklearn import ensemble  # see utils: scikit-learn loads when a metric runs

    if isinstance(random_state, tuple):
        state, random_state = random_state, np.random.RandomState()
        random_state.set_state(state)
    model = ensemble.GradientBoostingClassifier(random_state=random_state)
    model.fit(codes_train, labels_train)
    return (np.abs(model.feature_importances_), np.mean(model.predict(codes_train) == labels_train),
            np.mean(model.predict(codes_test) == labels_test),
            random_state.get_state() if random_state is not None else None)


def _states_after(random_state, tasks):
    """The state ``random_state`` would be in before each factor's fit when they run in order:
    GradientBoostingClassifier draws one tree seed per tree, one tree per class and stage (one per stage
    for two classes), 100 stages."""
    from sklearn import ensemble

    stages = ensemble.GradientBoostingClassifier().n_estimators
    walker = np.random.RandomState()
    walker.set_state(random_state.get_state())
    states = []
    for _, labels, _, _ in tasks:
        states.append(walker.get_state())
        classes = len(np.unique(labels))
        for _ in range(stages * (classes if classes > 2 else 1)):
            walker.randint(0, _TREE_SEED_BOUND)
    return states + [walker.get_state()]


def _same_state(a, b):
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


def _fit_side_by_side(tasks, random_state, jobs):
    """The factors' fits in ``jobs`` threads, largest first; None when a fit did not leave the random
    state where the next one was started from (then the caller fits them in order)."""
    import threading

    states = _states_after(random_state, tasks)
    order = sorted(range(len(tasks)), key=lambda j: -len(np.unique(tasks[j][1])))  # the longest fits first
    results, failures, lock = [None] * len(tasks), [], threading.Lock()

    def work():
        while True:
            with lock:
                if not order:
                    return
                j = order.pop(0)
            try:
                results[j] = _fit_factor(*tasks[j], states[j])
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                failures.append(error)

    # Daemon threads: on Ctrl-C the caller stops at once; a tree being built is not waited for.
    workers = [threading.Thread(target=work, name=f"dci-{i}", daemon=True) for i in range(jobs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    if not all(_same_state(result[3], states[j + 1]) for j, result in enumerate(results)):
        return None
    random_state.set_state(states[-1])  # where the fits in order would have left it
    return results


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
