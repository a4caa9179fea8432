"""DCI's classifiers fitted side by side give the numbers of the fits in order, bit for bit, and leave the
metric's random state where the fits in order would (hwkeras/metrics/dci.py, ``_fit_side_by_side``)."""

import numpy as np
import pytest

from hwkeras.errors import UserError
from hwkeras.metrics import dci


def codes_and_factors(n, seed):
    rng = np.random.RandomState(seed)
    factors = np.stack([rng.randint(0, k, n) for k in (2, 3, 7, 4)], axis=1)  # 2 classes: one tree per stage
    codes = factors[:, [0, 1, 2, 3, 2]] + rng.randn(n, 5) * 0.8  # informative, with ties to break
    return codes, factors


def importance(n_jobs, seed=5, n=400):
    codes, factors = codes_and_factors(n, 0)
    test_codes, test_factors = codes_and_factors(n // 2, 1)
    random_state = np.random.RandomState(seed)
    out = dci.importance_gbt(codes, factors, test_codes, test_factors, random_state, n_jobs=n_jobs)
    return out, random_state.randint(0, 2**31 - 1, size=3)


def test_side_by_side_equals_in_order_bit_for_bit(monkeypatch):
    monkeypatch.setattr(dci, "PARALLEL_MIN_POINTS", 100)
    (matrix, train, test), after = importance(n_jobs=1)
    (matrix_2, train_2, test_2), after_2 = importance(n_jobs=2)
    assert np.array_equal(matrix, matrix_2) and train == train_2 and test == test_2
    assert np.array_equal(after, after_2)  # the random state ends where the fits in order leave it
    # The seeds matter (else the test could not tell a wrong state): another seed gives another matrix.
    (matrix_other, _, _), _ = importance(n_jobs=2, seed=6)
    assert not np.array_equal(matrix, matrix_other)


def test_a_wrong_prediction_of_the_states_falls_back_to_fits_in_order(monkeypatch):
    monkeypatch.setattr(dci, "PARALLEL_MIN_POINTS", 100)
    (matrix, _, _), after = importance(n_jobs=1)
    right = dci._states_after

    def off_by_one_tree(random_state, tasks):  # as if scikit-learn drew one seed more per classifier
        states = right(random_state, tasks)
        shifted = []
        for state in states:
            walker = np.random.RandomState()
            walker.set_state(state)
            walker.randint(0, 2**31 - 1)
            shifted.append(walker.get_state())
        return states[:1] + shifted[1:]

    monkeypatch.setattr(dci, "_states_after", off_by_one_tree)
    (matrix_2, _, _), after_2 = importance(n_jobs=2)
    assert np.array_equal(matrix, matrix_2) and np.array_equal(after, after_2)


def test_small_samples_and_no_random_state_fit_in_order(monkeypatch):
    calls = []
    monkeypatch.setattr(dci, "_fit_side_by_side", lambda *a: calls.append(a))
    importance(n_jobs=2)  # 400 points < PARALLEL_MIN_POINTS
    codes, factors = codes_and_factors(3000, 0)
    dci.importance_gbt(codes[:, :2], factors[:, :2], codes[:10, :2], factors[:10, :2], None, n_jobs=2)
    assert calls == []


def test_ctrl_c_stops_the_fits_at_once(tmp_path):
    """The fits run in daemon threads: Ctrl-C ends the process without waiting for trees being built
    (a 40-class ensemble takes a minute at dlib's size)."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "dci.py"
    script.write_text(
        "import numpy as np, sys\n"
        "from hwkeras.metrics import dci\n"
        "rng = np.random.RandomState(0)\n"
        "codes, factors = rng.randn(4000, 10), rng.randint(0, 40, size=(4000, 3))\n"
        "print('fitting', flush=True)\n"
        "try:\n"
        "    dci.importance_gbt(codes, factors, codes[:100], factors[:100], rng, n_jobs=3)\n"
        "except KeyboardInterrupt:\n"
        "    print('stopped', flush=True)\n"
        "    sys.exit(130)\n")
    # SIGINT restored to its default: a pytest-xdist worker's children inherit it ignored, and a Python
    # started so never turns Ctrl-C into KeyboardInterrupt (a terminal's process does).
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline().strip() == "fitting"
    time.sleep(2.0)  # the fits are under way (scikit-learn imported, trees being built)
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 130 and "stopped" in out
    assert time.monotonic() - sent < 10  # the three 40-class ensembles alone would take far longer


def test_metric_jobs_reads_the_environment_and_never_exceeds_the_fits(monkeypatch):
    import os

    for text, expected in (("1", 1), ("3", 3), ("9", 5), ("0", 1)):
        monkeypatch.setenv("HWKERAS_METRIC_JOBS", text)
        assert dci.metric_jobs(5) == expected, text
    for text in ("two", "-1", "1.5"):
        monkeypatch.setenv("HWKERAS_METRIC_JOBS", text)
        with pytest.raises(UserError, match="HWKERAS_METRIC_JOBS=.* is not a whole number: set it to 1"):
            dci.metric_jobs(5)
    monkeypatch.delenv("HWKERAS_METRIC_JOBS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert dci.metric_jobs(5) == 1  # one CPU: in order
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert dci.metric_jobs(5) == 5  # all at once
