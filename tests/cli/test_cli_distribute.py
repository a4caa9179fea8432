"""``hwkeras fit --precision`` and ``--distribute``, end to end in subprocesses."""

import glob
import json
import os
import subprocess
import sys

import keras
import pytest

import hwkeras
from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
NET = ["--dataset", "correlated-ellipses", "--image-size", "32", "--latent-dim", "3", "--hidden-units", "16",
       "--steps", "2", "--summary-every", "1", "--no-report"]
TINY = NET + ["--batch-size", "4"]


def fit(tmp_path, *args, backend, block_tensorflow=False, host_devices=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    if block_tensorflow:  # as on a GPU machine with JAX and no TensorFlow
        env["PYTHONPATH"] = os.pathsep.join([NO_TENSORFLOW] + [p for p in [env.get("PYTHONPATH")] if p])
    if host_devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={host_devices}"
    command = [sys.executable, "-m", "hwkeras.cli.main", "fit", "--backend", backend, "--output-dir", "runs",
               "--export-dir", "sm", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=deadline(600))


def test_data_parallel_in_mixed_bfloat16_on_two_devices_without_tensorflow(tmp_path):
    done = fit(tmp_path, *TINY, "--distribute", "data-parallel", "--precision", "mixed_bfloat16", "--no-export",
               "--run-name", "dp", backend="jax", block_tensorflow=True, host_devices=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "data-parallel over 2 devices (cpu:0, cpu:1)" in done.stdout and "precision mixed_bfloat16" in done.stdout
    run_dir = tmp_path / "runs" / "dp"
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["precision"], config["distribute"]) == ("mixed_bfloat16", "data-parallel")
    assert config["model_config"]["dtype"] == "mixed_bfloat16"
    assert glob.glob(str(run_dir / "logs" / "train" / "events.out.tfevents.*"))  # epoch scalars, no TensorFlow
    hwkeras.register_keras_classes()
    model = keras.saving.load_model(run_dir / "model.keras")
    assert model.dtype_policy.name == "mixed_bfloat16" and model.head.dtype_policy.name == "float32"


def test_mirrored_builds_compiles_and_exports_in_the_strategy(tmp_path):
    done = fit(tmp_path, *TINY, "--distribute", "mirrored", "--run-name", "mirrored", backend="tensorflow")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mirrored over 1 device" in done.stdout
    assert (tmp_path / "sm" / "mirrored" / "saved_model.pb").is_file()


@pytest.mark.parametrize("backend,distribution,message", [
    ("torch", "mirrored", "--distribute mirrored runs on the tensorflow backend, not torch; use --backend tensorflow"),
    ("tensorflow", "data-parallel", "--distribute data-parallel runs on the jax backend, not tensorflow; "
                                    "use --backend jax (on tensorflow use --distribute mirrored)"),
])
def test_a_distribution_on_the_wrong_backend_is_one_line(tmp_path, backend, distribution, message):
    done = fit(tmp_path, *TINY, "--distribute", distribution, backend=backend)
    assert done.returncode == 2 and done.stderr.strip() == f"Error: {message}", done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_batch_that_does_not_split_over_the_devices_is_one_line(tmp_path):
    done = fit(tmp_path, *NET, "--batch-size", "3", "--distribute", "data-parallel", backend="jax",
               block_tensorflow=True, host_devices=2)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == ("Error: --batch-size 3 does not split evenly over 2 devices; "
                                                    "use a multiple of 2")
    assert not (tmp_path / "runs").exists()
