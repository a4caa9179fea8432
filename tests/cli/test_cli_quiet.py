"""A normal run says each thing once and nothing from the frameworks (issue 23, item 4)."""

import os
import subprocess
import sys

from tests.helpers import deadline

#: Lines TensorFlow's C++ runtime writes at start-up (oneDNN, CUDA probing, absl's preamble).
FRAMEWORK_NOISE = ("oneDNN", "absl", "cudart", "cuda_", "I0000", "W0000", "E0000", "tensorflow/")


def test_a_jax_fit_with_its_export_prints_no_framework_lines_and_each_line_once(tmp_path):
    """On JAX, Keras imports TensorFlow (when installed) to seed it, and the export runs in a
    TensorFlow process: formerly TensorFlow's start-up lines reached stderr and "SavedModel:" was
    printed twice (the export process's line, then fit's)."""
    done = subprocess.run(
        [sys.executable, "-m", "hwkeras.cli.main", "fit", "--backend", "jax", "--steps", "2", "--batch-size", "2",
         "--image-size", "16", "--latent-dim", "2", "--hidden-units", "8", "--no-report", "--output-dir", "runs",
         "--export-dir", "exports", "--run-name", "quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=deadline(240),
        env={k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")})
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.splitlines() if any(mark in line for mark in FRAMEWORK_NOISE)]
    assert not noise, noise
    said = [line for line in done.stdout.splitlines() if line.startswith("SavedModel")]
    assert len(said) == 1 and said[0].endswith(os.path.join("exports", "quiet")), done.stdout
    assert os.path.isfile(tmp_path / "exports" / "quiet" / "saved_model.pb")
