"""The ``hwkeras`` command line: one-line errors, and a tiny end-to-end ``fit``."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.helpers import deadline

# The console script installed next to the interpreter running the tests.
HWKERAS = os.path.join(os.path.dirname(sys.executable), "hwkeras")


def run(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([HWKERAS, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=deadline(300))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--nu", "5", "--latent-dim", "10"], "nu=5 must exceed latent_dim - 1 = 9"),
        (["--psi", "0"], "Psi must be positive definite"),
        (["--psi", "-2"], "Psi must be positive definite"),
        (["--image-size", "50"], "renders at 16, 32, 64, 128 or 256 pixels"),
        (["--dataset", "mnist"], "unknown dataset 'mnist'; choose one of: correlated-ellipses"),
        (["--steps", "0"], "--steps must be a positive integer, got 0"),
        (["--model", "vae", "--nu", "50"], "model 'vae' takes no option nu"),
        (["--model", "gan"], "unknown model 'gan'; choose one of: chyvae, vae"),
        (["--data-dir", "/nonexistent"], "procedural"),
        (["--eval-every", "5", "--eval-metrics", "mig,irs"], "unknown metric(s) irs"),
        (["--eval-every", "5", "--eval-param", "dci.num_train=3"], "--eval-metrics does not compute"),
    ],
)
def test_bad_input_gives_one_line_error(tmp_path, args, message):
    result = run("fit", "--output-dir", str(tmp_path / "runs"), "--export-dir", str(tmp_path / "sm"), *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_fit_writes_the_run_and_exports(tmp_path):
    result = run(
        "fit", "--steps", "3", "--batch-size", "4", "--latent-dim", "3", "--nu", "12", "--image-size", "32",
        "--output-dir", "runs", "--export-dir", "sm", "--run-name", "tiny", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Training on CPU" in result.stdout or "Training on GPU" in result.stdout
    run_dir = tmp_path / "runs" / "tiny"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["latent_dim"] == 3 and config["model_options"] == {"nu": 12.0} and config["steps_trained"] == 3
    assert config["model"] == "chyvae" and config["model_config"]["nu"] == 12.0
    assert config["dataset"] == "correlated-ellipses" and config["image_shape"] == [32, 32, 1]
    assert (run_dir / "model.keras").stat().st_size > 0
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # header + 1 epoch
    assert any((run_dir / "logs").rglob("events.out.tfevents.*"))
    traversal = Image.open(run_dir / "traversal.png")
    assert traversal.size == (10 * 34 + 2, 3 * 34 + 2)  # 10 steps x 3 latents of 32 px, 2 px padding
    assert Image.open(run_dir / "reconstructions.png").size == (8 * 34 + 2, 2 * 34 + 2)
    assert (tmp_path / "sm" / "tiny" / "saved_model.pb").exists()
    page = (run_dir / "report.html").read_text()
    assert "<html" in page.lower() and "data:image/gif;base64," in page  # the KL-sorted traversal GIFs
    images = [p for p in (run_dir / "logs").rglob("events.out.tfevents.*") if "images" in p.parts]
    assert images, "the TensorBoard traversal summaries were not written"
    assert str(os.path.join("sm", "tiny")) in result.stdout
    again = run("fit", "--steps", "1", "--output-dir", "runs", "--export-dir", "sm", "--run-name", "tiny", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.slow
def test_fit_trains_a_baseline_with_its_options(tmp_path):
    result = run(
        "fit", "--model", "beta-tcvae", "--beta", "3", "--steps", "2", "--batch-size", "4", "--latent-dim", "2",
        "--image-size", "32", "--output-dir", "runs", "--no-export", "--run-name", "tc", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "runs" / "tc" / "config.json").read_text())
    assert config["model"] == "beta-tcvae" and config["model_config"]["beta"] == 3.0
    assert "for the discriminator" not in result.stdout
    header = (tmp_path / "runs" / "tc" / "history.csv").read_text().splitlines()[0]
    assert "tc" in header.split(",") and "kl" in header.split(",")
    assert not (tmp_path / "saved_models").exists()


@pytest.mark.slow
def test_fit_logs_disentanglement_metrics_during_training(tmp_path):
    result = run(
        "fit", "--steps", "4", "--eval-every", "2", "--eval-metrics", "mig", "--eval-param", "mig.num_train=300",
        "--batch-size", "4", "--latent-dim", "2", "--image-size", "32", "--output-dir", "runs", "--no-export",
        "--run-name", "ev", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "runs" / "ev"
    rows = (run_dir / "history.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 3 and "eval_mig" in header  # two evaluations, one per 2-step epoch
    values = [float(r.split(",")[header.index("eval_mig")]) for r in rows[1:]]
    records = json.loads((run_dir / "eval_metrics.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2]
    assert [r["summary"]["mig"] for r in records] == values
    assert all(0.0 <= v <= 1.0 for v in values)
    assert records[0]["parameters"]["mig"]["num_train"] == 300


@pytest.mark.slow
def test_fit_gives_a_vae_first_model_two_batches_per_step(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hwkeras.cli.fit import fit_command
    from hwkeras.data import CorrelatedEllipses

    asked = []
    original = CorrelatedEllipses.batches
    monkeypatch.setattr(CorrelatedEllipses, "batches",
                        lambda self, batch_size, **kw: asked.append(batch_size) or original(self, batch_size, **kw))
    monkeypatch.chdir(tmp_path)
    for model, images in [("bf-vae-0", 8), ("factor-vae", 4)]:
        result = CliRunner().invoke(fit_command, [
            "--model", model, "--steps", "2", "--batch-size", "4", "--latent-dim", "2", "--image-size", "32",
            "--output-dir", "runs", "--no-export", "--no-report", "--summary-every", "0", "--run-name", model])
        assert result.exit_code == 0, result.output
        assert asked[-1] == images  # bf-vae's default is vae-first: the discriminator's batch comes on top
    config = json.loads((tmp_path / "runs" / "bf-vae-0" / "config.json").read_text())
    assert config["model_config"]["update_order"] == "vae-first" and config["model_config"]["discriminator_layers"] == 5
