"""--distribute: one step on two devices gives the update of one device on the same global batch.

JAX's DataParallel on two host devices (XLA_FLAGS=--xla_force_host_platform_device_count=2) and
TensorFlow's MirroredStrategy on two logical CPUs, each in a subprocess running
tests/distribute_check.py (its docstring says how the step's randomness is made deterministic per
example, and why). The setup's own checks (backend, even split) are tested here directly.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from hwkeras.devices import check_distribution
from hwkeras.training import distribute
from tests import distribute_check
from tests.helpers import deadline

TOLERANCE = 1e-5  # of the largest update of each group of weights; float32 sums in another order
# The discriminator starts near chance, so its gradient is a near-cancelling difference between the
# real and the permuted codes' terms: its largest update is 1e-2 to 1e-4 of the VAE's (same learning
# rate), while float32's reordering error scales with the terms. Over 8 unseeded runs the worst
# relative difference was 1.5e-5 (a CI run failed at 1e-5). A wrong split (a replica's share dropped,
# gradients summed instead of averaged, a replica stepping on stale weights) would differ by O(1).
DISCRIMINATOR_TOLERANCE = 1e-4


def run_check(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    path = tmp_path / f"{backend}.npz"
    done = subprocess.run([sys.executable, distribute_check.__file__, str(path)], env=env, capture_output=True,
                          text=True, timeout=deadline(600))
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(path))


@pytest.fixture(scope="module", params=["jax", "tensorflow"])
def record(request, tmp_path_factory):
    return request.param, run_check(request.param, tmp_path_factory.mktemp(request.param))


def names(backend):
    return [n for n in ("chyvae", "factor-vae", "bf-vae-1", "random/chyvae") if backend == "jax" or "/" not in n]


def test_two_devices_give_the_one_device_update(record):
    backend, out = record
    for name in names(backend):
        assert int(out[f"{name}/one/replicas"]) == 1 and int(out[f"{name}/two/replicas"]) == 2, name
        for group in ("", "discriminator_"):
            before = out[f"{name}/one/{group}before"]
            np.testing.assert_array_equal(out[f"{name}/two/{group}before"], before)
            if not before.size:
                continue
            update = out[f"{name}/one/{group}after"] - before
            scale = np.abs(update).max()
            assert scale > 1e-6, (name, group)  # a real step, so the comparison means something
            # The weights are float32: each `after` is rounded to its own ulp, which for a weight much
            # larger than its update exceeds TOLERANCE * scale; two such roundings are allowed on top.
            after_one, after_two = out[f"{name}/one/{group}after"], out[f"{name}/two/{group}after"]
            tolerance = DISCRIMINATOR_TOLERANCE if group else TOLERANCE
            bound = tolerance * scale + 2 * np.spacing(np.abs(after_one).astype(np.float32))
            excess = np.abs(after_two - after_one) - bound
            assert (excess <= 0).all(), (f"{backend} {name} {group}weights: {int((excess > 0).sum())} of "
                                         f"{excess.size} beyond the bound, worst by {excess.max():.3g}")
        logs = [k for k in out if k.startswith(f"{name}/one/log/")]
        assert f"{name}/one/log/loss" in logs
        for key in logs:  # the trackers report the global batch's means
            np.testing.assert_allclose(out[key.replace("/one/", "/two/")], out[key], rtol=1e-5, err_msg=key)


def test_distribution_needs_its_backend_and_an_even_split():
    with pytest.raises(ValueError, match="runs on the jax backend, not tensorflow; use --backend jax"):
        check_distribution("data-parallel", "tensorflow")
    with pytest.raises(ValueError, match="runs on the tensorflow backend, not torch"):
        check_distribution("mirrored", "torch")
    with pytest.raises(ValueError, match="unknown distribution"):
        check_distribution("ring", "jax")
    assert check_distribution(None, "torch") == "none"
    with pytest.raises(ValueError, match="--batch-size 50 does not split evenly over 4 devices; use a multiple of 4"):
        distribute._check_split(50, 4)
