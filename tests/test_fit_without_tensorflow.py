"""``hwkeras fit --backend jax|torch`` where TensorFlow cannot be imported (a GPU machine with JAX or
PyTorch only), for a procedural and a file dataset; and on a machine that has TensorFlow, the
SavedModel of a JAX run written by a TensorFlow process from its model.keras."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.data.test_datasets_dsprites import write_small_dsprites
from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
TINY = ["--steps", "4", "--batch-size", "8", "--latent-dim", "3", "--hidden-units", "16", "--summary-every", "0",
        "--no-report", "--checkpoint-every", "2"]


def fit(tmp_path, backend, *args, block_tensorflow=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KERAS_BACKEND", None)  # --backend decides
    if block_tensorflow:
        env["PYTHONPATH"] = os.pathsep.join([NO_TENSORFLOW, ROOT])
    return subprocess.run([sys.executable, "-m", "hwkeras.cli.main", "fit", "--backend", backend, *TINY, *args,
                           "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "exports"),
                           "--run-name", "r"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=deadline(400))


@pytest.mark.parametrize("backend,dataset", [("jax", "correlated-ellipses"), ("torch", "dsprites")])
def test_fit_trains_and_saves_without_tensorflow(tmp_path, backend, dataset):
    extra = ["--dataset", dataset]
    if dataset == "dsprites":
        write_small_dsprites(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
        extra += ["--data-dir", str(tmp_path)]
    else:
        extra += ["--image-size", "32"]
    done = fit(tmp_path, backend, *extra)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"({backend} backend)" in done.stdout
    # Said before training and again at the end: no SavedModel without TensorFlow, and what to install.
    assert "Note: TensorFlow is not installed, so no SavedModel will be written" in done.stderr
    assert "No SavedModel: TensorFlow writes it and is not installed here (pip install 'tensorflow" in done.stderr
    assert "Traceback" not in done.stderr
    run_dir = tmp_path / "runs" / "r"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["completed"] is True and config["steps_trained"] == 4 and config["dataset"] == dataset
    assert (run_dir / "model.keras").stat().st_size > 0 and not (tmp_path / "exports").exists()
    assert [int(n.split("-")[1]) for n in sorted(os.listdir(run_dir / "checkpoints"))][-1] == 4
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2 and history[0].startswith("epoch")
    # TensorBoard's epoch scalars, written without TensorFlow.
    events = os.listdir(run_dir / "logs" / "train")
    assert any(name.startswith("events.out.tfevents") for name in events)


def test_a_jax_run_is_exported_by_tensorflow(tmp_path):
    """TensorFlow installed: the JAX run's model.keras becomes a SavedModel that serves its outputs."""
    done = fit(tmp_path, "jax", "--image-size", "32", block_tensorflow=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    export = tmp_path / "exports" / "r"
    assert f"SavedModel (encode, decode, reconstruct, sample, sample_seeded, traverse): {export}" in done.stdout
    card = json.loads((export / "model.json").read_text())
    assert card["training_steps"] == 4 and card["dataset"] == "correlated-ellipses"

    import tensorflow as tf

    import hwkeras

    model = hwkeras.load_model(str(tmp_path / "runs" / "r" / "model.keras"))  # the JAX weights, under TF
    x = np.random.default_rng(0).uniform(size=(3, 32, 32, 1)).astype("float32")
    served = tf.saved_model.load(str(export)).signatures["encode"](images=tf.constant(x))
    np.testing.assert_allclose(served["mean"], np.asarray(model.encode(x)[0]), rtol=1e-5, atol=1e-5)
