"""``hwkeras evaluate`` on the table path: which path ran, the cache on disk (reused, stale,
corrupt), --encode-every-draw, and Ctrl-C leaving nothing behind. A toy model and dataset stand in
(the numbers' equality with a real encoder is tests/metrics/test_table.py's)."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.cli import evaluate as cli_evaluate
from hwkeras.runs import evaluate as run_evaluate
from hwkeras.runs import target as run_target
from tests.metrics.test_table import PerImage, SmallGrid

QUICK = ["--metrics", "factor_vae,mig", "--param", "factor_vae.num_train=30", "--param", "factor_vae.num_eval=20",
         "--param", "factor_vae.num_variance_estimate=300", "--param", "mig.num_train=400"]


class ToyModel:
    """The encoder mean is a fixed projection of the image; ``stop_after`` calls raise Ctrl-C."""

    def __init__(self):
        self.weights = np.random.RandomState(1).randn(36, 4).astype(np.float32)
        self.images = 0
        self.stop_after = None

    def encode(self, x):
        if self.stop_after is not None and self.images >= self.stop_after:
            raise KeyboardInterrupt
        self.images += len(x)
        mean = np.tanh(np.asarray(x).reshape(len(x), -1) @ self.weights)
        return mean, np.zeros_like(mean)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    model = ToyModel()
    monkeypatch.setattr(run_evaluate, "_get_dataset", lambda name, options: SmallGrid())
    monkeypatch.setattr(run_target, "deserialize", lambda path: model)
    (tmp_path / "m.keras").write_bytes(b"stub weights")
    return model


def invoke(tmp_path, *args):
    cache = tmp_path / "cache"
    return CliRunner().invoke(cli_evaluate.evaluate_command,
                              [str(tmp_path / "m.keras"), "--dataset", "small", "--code-cache", str(cache),
                               *QUICK, *[str(a) for a in args]])


def record(path):
    return json.loads(path.read_text())


def test_table_path_is_said_cached_and_reused(tmp_path, toy):
    result = invoke(tmp_path, "--output", tmp_path / "a.json")
    assert result.exit_code == 0, result.output
    assert "codes: each distinct image encoded once (360 in the grid, none cached yet)" in result.output
    first = record(tmp_path / "a.json")
    encoded = first["encoding"]["images_encoded"]
    assert 0 < encoded <= 360 and toy.images == encoded < first["encoding"]["draws_looked_up"]
    assert f"codes: {encoded:,} images encoded, 0 read from the cache" in result.output
    [cache] = os.listdir(tmp_path / "cache")
    assert cache.startswith("codes-small-") and cache.endswith(".npz")

    result = invoke(tmp_path, "--output", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert f", {encoded:,} read from {tmp_path / 'cache' / cache})" in result.output
    second = record(tmp_path / "b.json")
    assert toy.images == encoded and second["encoding"]["images_encoded"] == 0
    assert second["metrics"] == first["metrics"]

    result = invoke(tmp_path, "--encode-every-draw", "--output", tmp_path / "c.json")
    assert result.exit_code == 0, result.output
    assert "codes: every draw encoded (--encode-every-draw)" in result.output
    sampled = record(tmp_path / "c.json")
    assert sampled["encoding"] == {"path": "sampled"} and sampled["metrics"] == first["metrics"]
    assert toy.images == encoded + first["encoding"]["draws_looked_up"]


def test_stale_and_corrupt_caches_are_said_and_replaced(tmp_path, toy):
    assert invoke(tmp_path, "--output", tmp_path / "a.json").exit_code == 0
    [cache] = (tmp_path / "cache").iterdir()
    (tmp_path / "m.keras").write_bytes(b"retrained weights")
    result = invoke(tmp_path, "--output", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert (f"Note: ignored the code table {cache}: stale (made for another model_sha256); it will be replaced"
            in result.output)
    assert "none cached yet" in result.output
    cache.write_bytes(b"garbage")
    result = invoke(tmp_path, "--output", tmp_path / "c.json")
    assert result.exit_code == 0, result.output
    assert f"Note: ignored the code table {cache}: corrupt (not an .npz file); it will be replaced" in result.output
    assert "table saved in" in result.output and cache.read_bytes()[:2] == b"PK"


def test_ctrl_c_stops_cleanly_and_writes_nothing(tmp_path, toy):
    toy.stop_after = 100
    result = invoke(tmp_path)
    assert result.exit_code == 130, result.output
    assert "Stopped (Ctrl-C): nothing written; the code table on disk is as it was." in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")
    assert sorted(os.listdir(tmp_path)) == ["cache", "m.keras"] or sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_no_code_cache_and_a_dataset_without_the_table(tmp_path, toy, monkeypatch):
    result = invoke(tmp_path, "--no-code-cache", "--output", tmp_path / "a.json")
    assert result.exit_code == 0, result.output
    assert "none cached yet" in result.output and "table saved" not in result.output
    assert not (tmp_path / "cache").exists()

    from hwkeras.data.dsprites_procedural import ProceduralDSprites
    from hwkeras.data.dsprites_variants import ColorDSprites

    monkeypatch.setattr(run_evaluate, "_get_dataset", lambda name, options: ColorDSprites(ProceduralDSprites()))
    monkeypatch.setattr(toy, "weights", np.random.RandomState(1).randn(64 * 64 * 3, 4).astype(np.float32))
    result = invoke(tmp_path, "--output", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert ("codes: every draw encoded (ColorDSprites does not declare that an image is a function of its "
            "factor indices alone (observations_fixed_by_factors))") in result.output


def test_an_unwritable_code_cache_is_one_line_before_any_work(tmp_path, toy):
    (tmp_path / "cache").write_text("a file")
    result = invoke(tmp_path)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == (f"Error: Invalid value for '--code-cache': Directory "
                                                      f"'{tmp_path / 'cache'}' is a file.")
    assert toy.images == 0 and not (tmp_path / "m.metrics.json").exists()


def test_progress_lines_with_rate_and_time_left(capsys):
    from hwkeras.metrics.table import CodeTable

    now = [0.0]
    progress = run_evaluate.Progress()
    progress.tty, progress.clock, progress.last = False, lambda: now[0], 0.0
    table = CodeTable(SmallGrid(), PerImage(36), progress=progress.update, chunk=90)
    table.representation_function(np.arange(90))  # under a minute since the start: nothing said
    assert capsys.readouterr().err == ""
    now[0] = 61.0
    table.encode_seconds = 1.0  # 90 images in 1 s (plus the next chunk's microseconds)
    table.representation_function(np.arange(90, 180))
    assert capsys.readouterr().err == "  encoding: 180 of 360 images (50%), 180 images/s, at most 1 s left\n"
