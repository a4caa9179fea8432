"""SavedModel export: served by TensorFlow alone in a fresh process; written atomically."""

import json
import os
import subprocess
import sys

import pytest

import hwkeras
from hwkeras.export import export_saved_model

HERE = os.path.dirname(__file__)


def serve(path, shape):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "serve_check.py"), str(path), *map(str, shape)],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("shape", [(32, 32, 1), (16, 32, 3)])
def test_saved_model_serves_without_hwkeras(tmp_path, shape):
    p = 3
    model = hwkeras.HyperpriorVAE(latent_dim=p, nu=10.0, image_shape=shape, hidden_units=16, seed=0)
    path = export_saved_model(model, tmp_path / "model")
    report = serve(path, shape)
    assert report["imported"] == []
    assert report["signatures"] == ["decode", "encode", "reconstruct", "sample", "serving_default"]
    assert report["encode"] == {"mean": [3, p], "scale_tril": [3, p, p]}
    assert report["serving_default"] == report["encode"]
    assert report["decode"] == report["reconstruct"] == [3, *shape]
    assert report["reconstruct_minus_decode_mean"] < 1e-5
    assert report["sample"] == {"images": [4, *shape], "z": [4, p]}
    assert report["sample_calls_differ"]
    assert os.listdir(tmp_path) == ["model"]  # no staging directory left behind


def test_export_refuses_to_overwrite_and_keeps_the_old_model(tmp_path):
    model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
    path = export_saved_model(model, tmp_path / "m")
    before = sorted(os.listdir(path))
    with pytest.raises(FileExistsError, match="overwrite"):
        export_saved_model(model, path)
    assert sorted(os.listdir(path)) == before
    export_saved_model(model, path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_failed_export_leaves_nothing_at_the_target(tmp_path, monkeypatch):
    import hwkeras.export

    def broken_rename(new, target):
        raise RuntimeError("disk full")

    # Fails after the SavedModel was written to the staging directory, before the rename.
    monkeypatch.setattr(hwkeras.export, "_replace_dir", broken_rename)
    model = hwkeras.HyperpriorVAE(latent_dim=2, nu=10.0, image_shape=(16, 16, 1), hidden_units=8)
    with pytest.raises(RuntimeError):
        export_saved_model(model, tmp_path / "m")
    assert os.listdir(tmp_path) == []
