"""Bad input is refused before TensorFlow, JAX or torch loads (issue 23, item 5).

Each case runs the command in a process where ``import tensorflow`` fails and the backend is
TensorFlow: had the command reached Keras first, its answer would be "TensorFlow ... is not
installed"; it must instead be the one line about the input. That order is what makes every
bad-input error take a fraction of a second (benchmarks/bench_errors.py measures the time).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")


def hwkeras_without_tensorflow(args, cwd):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow",
           "PYTHONPATH": os.pathsep.join([NO_TENSORFLOW] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    done = subprocess.run([sys.executable, "-m", "hwkeras.cli.main", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=deadline(60))
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A finished 2-step run (its config.json only) and an export (its card only): enough for the
    checks, which must not need the model."""
    root = tmp_path_factory.mktemp("errors")
    run = root / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"never read by these checks")
    (run / "config.json").write_text(json.dumps({
        "model": "chyvae", "dataset": "correlated-ellipses", "seed": 0, "batch_size": 4, "learning_rate": 1e-3,
        "steps": 2, "steps_per_epoch": 2, "steps_trained": 2, "completed": True, "image_size": 64,
        "image_shape": [64, 64, 1], "run_options": {}, "latent_dim": 10, "model_options": {}}))
    export = root / "export"
    export.mkdir()
    (export / "saved_model.pb").write_bytes(b"never read by these checks")
    (export / "model.json").write_text(json.dumps({"signature_inputs": {
        "encode": {"images": [None, 64, 64, 1]}, "decode": {"z": [None, 10]},
        "sample": {"num_samples": []}}}))
    np.save(root / "not_pd.npy", -np.eye(10))
    np.save(root / "small_images.npy", np.zeros((2, 16, 16, 1), "float32"))
    np.save(root / "codes_of_5.npy", np.zeros((2, 5), "float32"))
    return root


CASES = [
    (["fit", "--nu", "9"], "nu=9 must exceed latent_dim - 1 = 9"),
    (["fit", "--model", "vae", "--nu", "300"], "model 'vae' takes no option nu"),
    (["fit", "--model", "factor-vae", "--update-order", "sideways"], "update_order must be one of"),
    (["fit", "--psi", "not_pd.npy"], "Psi must be positive definite"),
    (["fit", "--latent-dim", "100000"], "--latent-dim 100000 is too large"),
    (["fit", "--eval-every", "1", "--eval-metrics", "nope"], "unknown metric(s) nope"),
    (["fit", "--resume", "run", "--steps", "1"], "--steps 1 is below the 2 steps run has trained"),
    (["fit", "--resume", "run"], "the run is complete (2 steps)"),
    (["sweep", "--grid", "nu=abc"], "--grid nu=abc: 'abc' is not a valid float"),
    (["sweep", "--grid", "nu=5,200"], "nu=5 must exceed latent_dim - 1 = 9"),
    (["sweep", "--model", "vae", "--grid", "nu=200,300"], "none of the selected models (vae) takes nu"),
    (["report", "missing"], "missing does not exist"),
    (["predict", "export", "--signature", "nope", "--output", "o.npy"], "no signature 'nope'; this SavedModel has"),
    (["predict", "export", "--signature", "encode", "--input", "small_images.npy", "--output", "o.npy"],
     "wrong image size: --input holds an array of shape (2, 16, 16, 1)"),
    (["predict", "export", "--signature", "decode", "--input", "codes_of_5.npy", "--output", "o.npy"],
     "takes latent codes of shape (n, 10)"),
    (["predict", "export", "--signature", "sample", "--input", "codes_of_5.npy", "--output", "o.npy"],
     "--input does not apply to signature 'sample'"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_refused_before_any_framework_loads(place, args, message):
    code, lines = hwkeras_without_tensorflow(args, cwd=place)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert message in lines[0], lines


def test_good_input_then_needs_the_framework(place):
    """The control: options that pass every check reach Keras, which says what to install."""
    code, lines = hwkeras_without_tensorflow(["fit", "--steps", "2", "--output-dir", "runs", "--no-export"],
                                             cwd=place)
    assert code == 2 and "TensorFlow, which is not installed" in lines[-1], lines
