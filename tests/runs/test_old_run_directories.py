"""Run directories written by an earlier hwkeras keep working (issue 20: behaviour stays).

``tests/fixtures/run-0.1.0.tar.xz`` is a run made by hwkeras 0.1.0 as of 2026-12-03, before the run
directory got an owner (``hwkeras/runs``) and a versioned config.json, and is never regenerated:

    hwkeras fit --steps 6 --batch-size 4 --image-size 16 --latent-dim 2 --hidden-units 8 \\
        --checkpoint-every 2 --keep-checkpoints 2 --no-export --run-name run-0.1.0 --output-dir . \\
        --eval-every 3 --eval-metrics mig --eval-param mig.num_train=64

(then the step-4 checkpoint and report.html removed, to keep the archive at 1.7 MB). Every command
must accept it as it is: evaluate, report, export, predict on the export, and fit --resume.
"""

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from tests.helpers import deadline

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                       "run-0.1.0.tar.xz")


def hwkeras(*args, cwd):
    done = subprocess.run([sys.executable, "-m", "hwkeras.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=deadline(300), env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("old")
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(root, filter="data")
    return root


def test_the_fixture_is_the_old_format():
    with tarfile.open(FIXTURE) as archive:
        config = json.load(archive.extractfile("run-0.1.0/config.json"))
    assert "format" not in config and config["steps_trained"] == 6


def test_an_old_run_evaluates_reports_exports_and_predicts(old_run):
    hwkeras("evaluate", "run-0.1.0", "--metrics", "mig", "--param", "mig.num_train=64", cwd=old_run)
    with open(old_run / "run-0.1.0" / "metrics.json") as f:
        assert f.read().count('"mig"') >= 1
    hwkeras("report", "run-0.1.0", cwd=old_run)
    assert (old_run / "run-0.1.0" / "report.html").stat().st_size > 10_000
    hwkeras("export", "run-0.1.0", "--output", "exported", cwd=old_run)
    assert (old_run / "exported" / "saved_model.pb").is_file()
    hwkeras("predict", "exported", "--signature", "sample", "--num-samples", "3", "--output", "samples.npy",
            cwd=old_run)
    assert np.load(old_run / "samples.npy").shape == (3, 16, 16, 1)


def test_an_old_run_resumes_from_its_checkpoint(old_run):
    out = hwkeras("fit", "--resume", "run-0.1.0", "--steps", "8", "--no-export", "--no-report", cwd=old_run)
    assert "Resuming run-0.1.0 from its checkpoint at step 6 (of 8)" in out
    with open(old_run / "run-0.1.0" / "config.json") as f:
        config = json.load(f)
    assert config["steps_trained"] == 8 and config["completed"] is True
    with open(old_run / "run-0.1.0" / "history_steps.csv") as f:
        steps = [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]
    assert steps == list(range(1, 9))
