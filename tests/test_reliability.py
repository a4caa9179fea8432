"""Long runs survive (docs/RELIABILITY.md): a killed ``hwkeras fit`` resumes to the weights an
uninterrupted run reaches, SIGTERM/SIGINT save and say how to resume, a non-finite loss stops with
one line and keeps the last good checkpoint, a failed or half-written checkpoint loses nothing.

The runs are tiny (32-pixel images, latent 2, dense 16, batch 4, tens of steps, a checkpoint every
few steps); subprocess deadlines scale with HWKERAS_TEST_TIMEOUT_FACTOR.
"""

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import deadline

HWKERAS = os.path.join(os.path.dirname(sys.executable), "hwkeras")
DEADLINE = deadline(300)
TINY = ["--batch-size", "4", "--latent-dim", "2", "--image-size", "32", "--hidden-units", "16", "--no-export",
        "--no-report", "--summary-every", "0"]
#: 4 epochs of 12 steps (one per --eval-every), a checkpoint every 4 steps.
CHYVAE = TINY + ["--steps", "48", "--checkpoint-every", "4", "--eval-every", "12", "--eval-param", "mig.num_train=64"]
#: FactorVAE's discriminator is disentanglement_lib's 1000 x 6: its checkpoints are larger, so fewer of them.
FACTORVAE = TINY + ["--model", "factor-vae", "--steps", "24", "--checkpoint-every", "6", "--keep-checkpoints", "2"]


def fit(cwd, name, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([HWKERAS, "fit", "--output-dir", "runs", "--run-name", name, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def invoke_fit(*args):
    from hwkeras.cli.fit import fit_command

    return CliRunner().invoke(fit_command, [str(a) for a in args])


def finish(process):
    out, err = process.communicate(timeout=deadline(300))
    return process.returncode, out, err


def checkpoint_steps(run_dir):
    folder = os.path.join(run_dir, "checkpoints")
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(int(n.split("-")[1]) for n in names if n.startswith("step-"))


def stop_after(process, run_dir, step, sig):
    """Sends ``sig`` once a checkpoint at ``step`` or later exists (polling every 10 ms)."""
    until = time.monotonic() + DEADLINE
    while time.monotonic() < until and process.poll() is None:
        if any(s >= step for s in checkpoint_steps(run_dir)):
            process.send_signal(sig)
            return finish(process)
        time.sleep(0.01)
    raise AssertionError(f"no checkpoint at step {step} appeared: {finish(process)}")


def final_weights(path):
    import hwkeras

    return [np.asarray(v) for v in hwkeras.load_model(str(path)).weights]


def history(run_dir):
    lines = (run_dir / "history.csv").read_text().splitlines()
    return lines[0], lines[1:]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs of both models (in this process: no second start-up to pay for)."""
    root = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        for name, args in (("chyvae", CHYVAE), ("factor-vae", FACTORVAE)):
            result = invoke_fit("--output-dir", "runs", "--run-name", name, *args)
            assert result.exit_code == 0, result.output
    return root / "runs"


def interrupted_then_resumed(tmp_path, monkeypatch, name, args, sig, every):
    """Kills (or signals) a run at a random checkpoint step, then resumes it; returns the run directory."""
    rng = random.Random(os.environ.get("HWKERAS_TEST_SEED", time.time_ns()))
    total = int(args[args.index("--steps") + 1])
    for attempt in range(3):  # a loaded machine may finish training before the signal lands: try again
        run_name = f"{name}-{attempt}"
        run_dir = tmp_path / "runs" / run_name
        target = rng.randrange(every, total - 2 * every + 1, every)
        code, out, err = stop_after(fit(tmp_path, run_name, *args), str(run_dir), target, sig)
        if not (run_dir / "model.keras").exists():
            break
    else:
        pytest.fail("the run always finished before it could be stopped")
    assert not (run_dir / "model.keras").exists()
    config = json.loads((run_dir / "config.json").read_text())
    newest = max(checkpoint_steps(str(run_dir)))
    assert config["completed"] is False
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        # A kill between a checkpoint's rename and config.json's rewrite leaves it one checkpoint behind.
        assert newest - every <= config["steps_trained"] <= newest
    else:
        assert code == 128 + sig, err
        assert config["steps_trained"] == newest
        line = [text for text in err.splitlines() if text.startswith("Interrupted")]
        assert line == [f"Interrupted by {signal.Signals(sig).name} after step {newest}: checkpoint "
                        f"saved. Resume with: hwkeras fit --resume runs/{run_name}"], err
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--resume", f"runs/{run_name}")  # in this process: the kill is what needs another one
    assert result.exit_code == 0, result.output
    assert f"Resuming runs/{run_name} from its checkpoint at step {newest} (of {total})" in result.output
    return run_dir, newest


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_stopped_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, reference, sig):
    run_dir, resumed_from = interrupted_then_resumed(tmp_path, monkeypatch, "chyvae", CHYVAE, sig, every=4)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["completed"] is True and config["steps_trained"] == 48
    for ours, theirs in zip(final_weights(run_dir / "model.keras"),
                            final_weights(reference / "chyvae" / "model.keras")):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=f"resumed from step {resumed_from}")
    header, rows = history(run_dir)
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2", "3"]  # each epoch once
    assert (header, rows) == history(reference / "chyvae")  # the same losses, the mid-epoch one included
    records = json.loads((run_dir / "eval_metrics.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]


@pytest.mark.slow
def test_an_adversarial_run_resumes_with_both_optimizers(tmp_path, monkeypatch, reference):
    run_dir, resumed_from = interrupted_then_resumed(tmp_path, monkeypatch, "factor-vae", FACTORVAE, signal.SIGKILL,
                                                     every=6)
    ours, theirs = run_dir / "model.keras", reference / "factor-vae" / "model.keras"
    for a, b in zip(final_weights(ours), final_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"resumed from step {resumed_from}")
    assert history(run_dir) == history(reference / "factor-vae")


JAX_RESUME = r"""
import sys, numpy as np, keras
from hwkeras.models import build_model
from hwkeras.data import CorrelatedEllipses
from hwkeras.runs import checkpoints, guard

data = CorrelatedEllipses(image_size=32)

def model():
    keras.utils.set_random_seed(0)
    m = build_model("factor-vae", latent_dim=2, image_shape=(32, 32, 1), hidden_units=16, seed=0,
                    discriminator_units=8, discriminator_layers=2)
    m.compile(optimizer=keras.optimizers.Adam(1e-3))
    return m

def train(m, run_dir, start=0, resume=None):
    callbacks = [guard.RunGuard(run_dir, every_n_steps=3, initial_step=start, keep=10, resume_trackers=resume)]
    guard.fit_from(m, lambda s: data.batches(8, seed=0, start=s), start, 8, 3, callbacks, verbose=0, shuffle=False)

# The uninterrupted run writes checkpoints mid-epoch (3, 6, 9, ...); a fresh model resumes from step 9.
full = model()
train(full, sys.argv[1] + "/a")
(nine,) = [c for c in checkpoints.list_checkpoints(sys.argv[1] + "/a") if c.step == 9]
resumed = model()
nine.restore(resumed)
train(resumed, sys.argv[1] + "/b", nine.step, nine)
print(max(float(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b)).max())
          for a, b in zip(full.weights + full.discriminator_optimizer.variables,
                          resumed.weights + resumed.discriminator_optimizer.variables)))
"""


@pytest.mark.slow
def test_jax_checkpoints_sync_the_stateless_trainer(tmp_path):
    """On JAX the variables hold the trained state only after a sync: mid-epoch checkpoints must sync."""
    done = subprocess.run([sys.executable, "-c", JAX_RESUME, str(tmp_path)], capture_output=True, text=True,
                          env=dict(os.environ, KERAS_BACKEND="jax"), timeout=deadline(300))
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) == 0.0  # resumed mid-epoch (9 = 8 + 1), both optimizers' slots too


# --------------------------------------------------------------------------------------------
# In-process runs (click's CliRunner): faults injected into the data, the signals, the disk.
# --------------------------------------------------------------------------------------------

def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("Note:")]


def nan_from(monkeypatch, index):
    """Training batches ``index`` and later hold NaN pixels; returns the function that ends that."""
    from hwkeras.data import CorrelatedEllipses

    original = CorrelatedEllipses.batch

    def batch(self, batch_size, seed, i):
        images = original(self, batch_size, seed, i)
        return np.full_like(images, np.nan) if i >= index else images

    monkeypatch.setattr(CorrelatedEllipses, "batch", batch)
    return lambda: monkeypatch.setattr(CorrelatedEllipses, "batch", original)


SHORT = TINY + ["--steps", "16", "--checkpoint-every", "4"]


@pytest.fixture(scope="module")
def diverged(tmp_path_factory):
    """A beta-VAE run whose 10th batch is NaN: stopped at step 10 with checkpoints 4 and 8."""
    root = tmp_path_factory.mktemp("diverged")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(root)
        nan_from(monkeypatch, 9)  # batch 9 is step 10's
        result = invoke_fit("--model", "beta-vae", "--run-name", "nan", "--output-dir", "runs", *SHORT)
    return root, root / "runs" / "nan", result


@pytest.fixture
def diverged_copy(diverged, tmp_path, monkeypatch):
    """A copy of the diverged run in tmp_path (the working directory) for a test that writes to it:
    the module's run stays as training left it, whatever order the tests run in."""
    import shutil

    root, run_dir, result = diverged
    shutil.copytree(run_dir, tmp_path / "runs" / "nan")
    monkeypatch.chdir(tmp_path)
    return tmp_path, tmp_path / "runs" / "nan", result


def non_finite_named(line, step, first):
    """The terms ``line`` names as not finite at ``step`` ({term: value}); ``first`` (if given) leads them.

    Which terms a NaN reaches besides ``first`` depends on the machine's kernels (ReLU of NaN is
    NaN in some, 0 in others), so the tests pin the step, the leading term and that every term
    named is one of the model's and is NaN or inf, not the list."""
    match = re.search(rf"the loss is not finite at step {step} \(([^)]*)\)", line)
    assert match, line
    named = dict(part.split(" = ") for part in match.group(1).split(", "))
    assert first in (None, next(iter(named))) and set(named) <= {"reconstruction", "kl"}, line
    assert all(not math.isfinite(float(v)) for v in named.values()), line
    return named


def test_a_non_finite_loss_stops_with_one_line_naming_the_terms_and_the_step(diverged):
    root, run_dir, result = diverged
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result)
    assert line.startswith("Error: training stopped: the loss is not finite at step 10 (") and line.endswith(
        "); the last good checkpoint (step 8) is kept, hwkeras fit --resume runs/nan continues from it; a lower "
        "--learning-rate may avoid it"), line
    # NaN pixels are the targets of the cross-entropy: the reconstruction is NaN on every machine.
    assert non_finite_named(line, 10, "reconstruction")["reconstruction"] == "nan"
    assert "Traceback" not in result.output
    from hwkeras.runs.checkpoints import list_checkpoints

    assert [c.step for c in list_checkpoints(str(run_dir))] == [8, 4]
    model = list_checkpoints(str(run_dir))[0].load_model()
    assert all(np.all(np.isfinite(np.asarray(w))) for w in model.weights)
    assert not (run_dir / "model.keras").exists()
    assert json.loads((run_dir / "config.json").read_text())["steps_trained"] == 8


def test_a_stopped_run_is_evaluated_exported_and_reported_from_its_checkpoint(diverged_copy):
    from hwkeras.cli.evaluate import evaluate_command
    from hwkeras.cli.export import export_command
    from hwkeras.cli.report import report_command

    root, run_dir, _ = diverged_copy
    note = "Note: runs/nan has no model.keras (training stopped at step 8 of 16); using its checkpoint of step 8"
    result = CliRunner().invoke(evaluate_command, ["runs/nan", "--metrics", "mig", "--param", "mig.num_train=64"])
    assert result.exit_code == 0, result.output
    assert note in result.stderr
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["training_steps"] == 8 and record["model"].endswith(os.path.join("checkpoints", "step-00000008"))
    result = CliRunner().invoke(export_command, ["runs/nan", "--output", "exported"])
    assert result.exit_code == 0, result.output
    card = json.loads((root / "exported" / "model.json").read_text())
    assert card["complete"] is False and card["checkpoint"] == "step-00000008" and card["training_steps"] == 8
    assert card["metrics"]["summary"]["mig"] == record["summary"]["mig"]
    result = CliRunner().invoke(report_command, ["runs/nan", "--output", "nan.html"])
    assert result.exit_code == 0, result.output
    assert "model.keras is missing (training stopped at step 8): the pictures show the checkpoint of step 8" \
        in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "8"], "--batch-size 8 conflicts with the run's batch_size 4 ("),
    (["--model", "vae"], "--model vae conflicts with the run's model beta-vae"),
    (["--beta", "2"], "--beta 2.0 conflicts with the run's beta 4.0"),
    (["--run-name", "other"], "--run-name does not apply with --resume: the run directory is runs/nan"),
    (["--steps", "6"], "--steps 6 is below the 8 steps runs/nan has trained"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be a positive integer, got 0"),
])
def test_resume_refuses_options_that_contradict_the_run(diverged, monkeypatch, args, message):
    root, _, _ = diverged
    monkeypatch.chdir(root)
    result = invoke_fit("--resume", "runs/nan", *args)
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [error_lines(result)[0]] and message in error_lines(result)[0]


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "--resume runs/missing: no such run directory"),
    (lambda root: (root / "runs" / "missing").mkdir(parents=True),
     "--resume runs/missing: it has no config.json, so it is not a run directory of hwkeras fit"),
    (lambda root: (root / "runs" / "missing").mkdir(parents=True) or (root / "runs" / "missing" / "config.json")
     .write_text('{"model": "vae"}'), "config.json has no 'dataset' (a run of an hwkeras fit without checkpoints)"),
])
def test_resume_refuses_what_is_not_a_resumable_run(tmp_path, monkeypatch, setup, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    result = invoke_fit("--resume", "runs/missing")
    assert result.exit_code == 2 and message in result.output, result.output


def test_resume_of_a_run_without_checkpoints_says_to_start_again(diverged, tmp_path, monkeypatch):
    import shutil

    root, run_dir, _ = diverged
    shutil.copytree(run_dir, tmp_path / "copy", ignore=shutil.ignore_patterns("checkpoints"))
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--resume", "copy")
    assert result.exit_code == 2 and "--resume copy: it has no checkpoint (the run stopped before its first one)" \
        in result.output


def test_a_diverged_run_resumes_and_a_finished_run_trains_further(diverged_copy):
    from hwkeras.runs.checkpoints import list_checkpoints

    root, run_dir, _ = diverged_copy
    result = invoke_fit("--resume", "runs/nan")  # the data is clean now
    assert result.exit_code == 0, result.output
    assert "Resuming runs/nan from its checkpoint at step 8 (of 16)" in result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["completed"] is True and config["steps_trained"] == 16 and (run_dir / "model.keras").exists()
    assert [r.split(",")[0] for r in history(run_dir)[1]] == ["0"]
    again = invoke_fit("--resume", "runs/nan")
    assert again.exit_code == 2 and "the run is complete (16 steps); pass --steps N above 16" in again.output
    further = invoke_fit("--resume", "runs/nan", "--steps", "20")  # to step 20 exactly: epoch 1 is cut at 4 steps
    assert further.exit_code == 0, further.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["steps"] == 20 and config["steps_trained"] == 20 and config["completed"] is True
    assert [c.step for c in list_checkpoints(str(run_dir))][0] == 20
    assert [r.split(",")[0] for r in history(run_dir)[1]] == ["0", "1"]
    card = json.loads((root / "saved_models" / "nan" / "model.json").read_text()) \
        if (root / "saved_models" / "nan").exists() else None
    assert card is None or card["training_steps"] == 20
    again = invoke_fit("--resume", "runs/nan", "--steps", "26")  # from the cut epoch's end: its rest, then 2 steps
    assert again.exit_code == 0, again.output
    assert json.loads((run_dir / "config.json").read_text())["steps_trained"] == 26
    assert [r.split(",")[0] for r in history(run_dir)[1]] == ["0", "1"]  # epoch 1 once, now of 10 steps


def test_fit_ends_at_steps_exactly_when_they_are_not_whole_epochs(tmp_path, monkeypatch):
    """--steps 10 with an evaluation (an epoch) every 4 steps: epochs of 4, 4 and 2 steps, an
    evaluation at the end of each (formerly 12 steps were trained)."""
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--run-name", "ten", "--output-dir", "runs", *TINY, "--steps", "10", "--eval-every", "4",
                        "--eval-param", "mig.num_train=64")
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "ten"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["steps"] == 10 and config["steps_trained"] == 10 and config["completed"] is True
    assert [r.split(",")[0] for r in history(run_dir)[1]] == ["0", "1", "2"]
    assert [r["epoch"] for r in json.loads((run_dir / "eval_metrics.json").read_text())] == [1, 2, 3]
    assert checkpoint_steps(str(run_dir))[-1] == 10


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(tmp_path, monkeypatch):
    from hwkeras.data import CorrelatedEllipses

    original = CorrelatedEllipses.batch

    def batch(self, batch_size, seed, i):  # Ctrl-C while the 7th batch is read
        if i == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch_size, seed, i)

    monkeypatch.setattr(CorrelatedEllipses, "batch", batch)
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--run-name", "int", "--output-dir", "runs", *SHORT, "--checkpoint-every", "100")
    assert result.exit_code == 130, result.output
    config = json.loads((tmp_path / "runs" / "int" / "config.json").read_text())
    step = config["steps_trained"]
    assert 1 <= step < 16 and checkpoint_steps(str(tmp_path / "runs" / "int")) == [step]
    assert error_lines(result) == [f"Interrupted by SIGINT after step {step}: checkpoint saved. Resume with: "
                                   f"hwkeras fit --resume runs/int"]


def test_a_second_sigint_stops_at_once_and_says_how_to_resume(tmp_path, monkeypatch):
    """Ctrl-C twice (the second before the first one's checkpoint): exit 130 with the resume line,
    not click's bare "Aborted!" (exit 1); the checkpoint of step 4 is what resumes."""
    from hwkeras.runs.guard import RunGuard

    original = RunGuard.check_logs

    def check_logs(self, logs):
        if self.step == 6:
            os.kill(os.getpid(), signal.SIGINT)  # asks for a checkpoint and a stop after this step
            os.kill(os.getpid(), signal.SIGINT)  # and at once: the handler raises KeyboardInterrupt here
        return original(self, logs)

    monkeypatch.setattr(RunGuard, "check_logs", check_logs)
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--run-name", "twice", "--output-dir", "runs", *SHORT)
    assert result.exit_code == 130, result.output
    assert "Aborted!" not in result.output and "Traceback" not in result.output
    assert error_lines(result) == ["Stopped at once by a second signal (the first was SIGINT): the steps since the "
                                   "last checkpoint are lost; the last checkpoint (step 4) is kept. Resume with: "
                                   "hwkeras fit --resume runs/twice"]
    assert checkpoint_steps(str(tmp_path / "runs" / "twice")) == [4]
    monkeypatch.setattr(RunGuard, "check_logs", original)
    result = invoke_fit("--resume", "runs/twice")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "runs" / "twice" / "config.json").read_text())["steps_trained"] == 16


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    from hwkeras.runs import checkpoints

    original = checkpoints.save_checkpoint

    def disk_full_at_8(model, run_dir, step, **kw):
        if step == 8:
            raise OSError(28, "No space left on device")
        return original(model, run_dir, step, **kw)

    monkeypatch.setattr(checkpoints, "save_checkpoint", disk_full_at_8)
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--run-name", "full", "--output-dir", "runs", *SHORT)
    assert result.exit_code == 1, result.output
    assert error_lines(result) == [
        "Error: training stopped: the checkpoint of step 8 could not be written (OSError: [Errno 28] No space left "
        "on device); the last good checkpoint (step 4) is kept, hwkeras fit --resume runs/full continues from it"]


def test_nan_in_chyvae_stops_with_one_line_and_resumes_from_the_last_good_checkpoint(tmp_path, monkeypatch):
    """CHyVAE on TensorFlow, NaN pixels from step 6 on. How the NaN travels depends on the machine's
    kernels: Keras's checked Cholesky may raise before a loss exists (the step then fails, and
    TensorFlow may already have applied the decoder's NaN update), or the loss becomes NaN. Every
    path ends the same way for the user: one line naming step 6 and what was not finite, the
    checkpoint of step 4 kept, and ``--resume`` finishing the run. Each path on its own is pinned
    deterministically by the tests of ``RunGuard.diagnose`` below."""
    clean = nan_from(monkeypatch, 5)
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--run-name", "chol", "--output-dir", "runs", *SHORT)
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result)
    assert line.startswith("Error: training stopped: ") and "step 6" in line and re.search(r"\b(NaN|nan|inf)\b", line)
    assert line.endswith("the last good checkpoint (step 4) is kept, hwkeras fit --resume runs/chol continues from "
                         "it; a lower --learning-rate may avoid it"), line
    assert "Traceback" not in result.output
    clean()
    result = invoke_fit("--resume", "runs/chol")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "runs" / "chol" / "config.json").read_text())
    assert config["completed"] is True and config["steps_trained"] == 16


class _StepError(Exception):
    """What TensorFlow raises when Keras's checked Cholesky meets NaN (InvalidArgumentError's text)."""


_CHOLESKY_ERROR = ("Graph execution error:\n\nDetected at node posterior_1/Cholesky defined at (most recent call "
                   "last):\n  File \"train.py\", line 1\n\nCholesky : Tensor had NaN values\n\t [[{{node "
                   "posterior_1/Cholesky}}]] [Op:__inference_multi_step_on_iterator_123]")


@pytest.fixture
def guard_on_tiny_model(tmp_path):
    import keras

    from hwkeras.runs.guard import RunGuard

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="hidden")])
    guard = RunGuard(str(tmp_path), every_n_steps=4, initial_step=5)
    guard.set_model(model)
    return guard, model


def test_a_step_that_raised_on_nan_with_finite_weights_names_the_layer(guard_on_tiny_model):
    from hwkeras.runs.guard import NonFiniteStep

    guard, _ = guard_on_tiny_model
    stop = guard.diagnose(_StepError(_CHOLESKY_ERROR))
    assert isinstance(stop, NonFiniteStep) and stop.step == 5
    assert str(stop) == ("a value became NaN or inf in step 6, before the loss terms (layer 'posterior_1': "
                         "Cholesky : Tensor had NaN values)")
    assert guard.diagnose(_StepError("something unrelated")) is None  # a bug, not a NaN: re-raised by the caller


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_step_that_failed_with_non_finite_weights_names_that_step_and_a_weight(guard_on_tiny_model, bad):
    from hwkeras.runs.guard import NonFiniteWeights

    guard, model = guard_on_tiny_model
    kernel = model.get_layer("hidden").kernel
    values = np.asarray(kernel).copy()
    values[1, 0] = bad  # one element: partial updates of a failed step write some elements, not whole tensors
    kernel.assign(values)
    stop = guard.diagnose(_StepError(_CHOLESKY_ERROR))
    assert isinstance(stop, NonFiniteWeights) and stop.step == 5 and stop.paths == [kernel.path]
    assert str(stop) == (f"step 6 failed with the weights NaN or inf (e.g. {kernel.path}): layer 'posterior_1': "
                         "Cholesky : Tensor had NaN values")
    stop = guard.diagnose(_StepError("Graph execution error:\n\nsomething else"))
    assert str(stop) == (f"step 6 failed with the weights NaN or inf (e.g. {kernel.path}): _StepError: Graph "
                         "execution error:")


def test_huge_learning_rate_is_caught_at_the_step_it_diverges(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke_fit("--model", "vae", "--learning-rate", "1e4", "--run-name", "lr", "--output-dir", "runs",
                        *SHORT)
    assert result.exit_code == 1, result.output
    (line,) = error_lines(result)
    assert line.startswith("Error: training stopped: the loss is not finite at step 2 (") and line.endswith(
        "); no checkpoint was written before it; a lower --learning-rate may avoid it"), line
    non_finite_named(line, 2, None)


def test_a_run_in_a_worker_thread_leaves_the_signal_handlers_alone():
    """A Ray Tune trial trains in a worker thread, where Python forbids setting signal handlers:
    the guard then trains without its own (hwkeras sweep's trials failed on this), and a main-thread
    run still installs them."""
    import threading

    from hwkeras.runs.guard import StopRequest, stop_on_signals

    seen = {}

    def in_thread():
        try:
            with stop_on_signals(StopRequest()):
                seen["handler"] = signal.getsignal(signal.SIGTERM)
        except Exception as exc:  # noqa: BLE001 - the failure this test is about
            seen["error"] = exc

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert "error" not in seen and seen["handler"] is before
    with stop_on_signals(StopRequest()):
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_epoch_end_checkpoint_comes_after_the_epochs_row(tmp_path):
    """A checkpoint at an epoch's last step is written once the loggers have written that epoch:
    written before (at the step's end), a kill in between left a resumed run's history.csv
    without the epoch (make test saw 0, 2, 3). Also a stop requested during the last step."""
    import csv

    import keras

    from hwkeras.data import CorrelatedEllipses
    from hwkeras.models import build_model
    from hwkeras.runs import guard

    keras.utils.set_random_seed(0)
    model = build_model("vae", latent_dim=2, image_shape=(32, 32, 1), hidden_units=8, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    path = tmp_path / "history.csv"
    rows_at_checkpoint = {}

    def on_saved(checkpoint):
        with open(path, newline="") as f:
            rows_at_checkpoint[checkpoint.step] = [row["epoch"] for row in csv.DictReader(f)]

    stop = guard.StopRequest()

    class StopDuringStep(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 3:  # step 8, the last of the second epoch
                stop.signal_name = "SIGTERM"

    data = CorrelatedEllipses(image_size=32, cache=False)
    run_guard = guard.RunGuard(str(tmp_path), every_n_steps=2, keep=10, on_saved=on_saved, stop_request=stop)
    epochs_seen = []
    counter = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_seen.append(epoch))
    with pytest.raises(guard.Interrupted):
        guard.fit_from(model, lambda s: data.batches(4, seed=0, start=s), 0, 4, 4,
                       [counter, StopDuringStep(), keras.callbacks.CSVLogger(str(path)), run_guard],
                       verbose=0, shuffle=False)
    # Checkpoints every 2 steps: mid-epoch at 2, 6; at the epoch ends 4 and 8 only after their rows.
    assert rows_at_checkpoint == {2: [], 4: ["0"], 6: ["0"], 8: ["0", "1"]}
    assert epochs_seen == [0, 1] and run_guard.step == 8
