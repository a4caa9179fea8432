"""The step history (``hwkeras fit --log-every``): history_steps.csv and TensorBoard's logs/steps.

One 150-step run is trained once for the module (about 10 s on 2 cores); the resumes copy it.
``StepHistory`` itself is driven with running means of known per-step losses, without a model.
"""

import csv
import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

TINY = ["--batch-size", "4", "--latent-dim", "2", "--image-size", "32", "--hidden-units", "16", "--no-export",
        "--no-report", "--summary-every", "0"]


def invoke_fit(*args):
    from hwkeras.cli.fit import fit_command

    return CliRunner().invoke(fit_command, [str(a) for a in args])


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def header(path):
    with open(path, newline="") as f:
        return next(csv.reader(f))


@pytest.fixture(scope="module")
def run150(tmp_path_factory):
    """A finished 150-step CHyVAE run (one epoch), checkpoints at 50, 100 and 150, --log-every by default."""
    root = tmp_path_factory.mktemp("steps")
    result = invoke_fit("--output-dir", root, "--run-name", "r150", *TINY, "--steps", "150",
                        "--checkpoint-every", "50")
    assert result.exit_code == 0, result.output
    return root / "r150"


def test_a_150_step_run_logs_a_row_per_step_with_the_windows_own_losses(run150):
    path = run150 / "history_steps.csv"
    table = rows(path)
    steps = [int(r["step"]) for r in table]
    assert len(steps) >= 50 and steps == list(range(1, 151))  # default --log-every: max(1, 150 // 100) = 1
    assert header(path) == ["step", "loss", "reconstruction", "kl_latent", "kl_hyperprior", "elbo"]
    assert all(value != "" for r in table for value in r.values())  # no empty column
    # The windows are the steps' own losses (not Keras's running mean): they average to the epoch's row.
    (epoch,) = rows(run150 / "history.csv")
    for term in ("loss", "reconstruction", "kl_latent"):
        assert np.mean([float(r[term]) for r in table]) == pytest.approx(float(epoch[term]), rel=1e-5)
    losses = [float(r["loss"]) for r in table]
    assert losses[-1] < 0.5 * losses[0] and abs(float(epoch["loss"]) - losses[-1]) > 10  # training, not a mean
    # history.csv: one row per epoch, without Keras's always-empty val_* columns.
    assert not [name for name in header(run150 / "history.csv") if name.startswith("val_")]
    config = json.loads((run150 / "config.json").read_text())
    assert config["run_options"]["log_every"] == 1  # kept for --resume
    events = os.listdir(run150 / "logs" / "steps")
    assert any(name.startswith("events.out.tfevents") for name in events)


def test_tensorboard_holds_the_same_step_scalars(run150):
    from tensorboard.compat.proto.event_pb2 import Event

    from hwkeras.runs.logs import _records

    seen = {}
    for path in (run150 / "logs" / "steps").iterdir():
        for _, payload in _records(path.read_bytes()):
            event = Event.FromString(payload)
            for value in event.summary.value:
                seen.setdefault(value.tag, {})[event.step] = value.simple_value
    assert sorted(seen["loss"]) == list(range(1, 151))
    table = rows(run150 / "history_steps.csv")
    assert [seen["kl_latent"][int(r["step"])] for r in table] == pytest.approx([float(r["kl_latent"]) for r in table],
                                                                               rel=1e-6)


def test_resuming_150_to_200_continues_the_file_without_duplicate_steps(run150, tmp_path):
    run_dir = tmp_path / "r"
    shutil.copytree(run150, run_dir)
    result = invoke_fit("--resume", run_dir, "--steps", "200")
    assert result.exit_code == 0, result.output
    table = rows(run_dir / "history_steps.csv")
    assert [int(r["step"]) for r in table] == list(range(1, 201))
    assert table[:150] == rows(run150 / "history_steps.csv")  # the first 150 rows untouched
    assert json.loads((run_dir / "config.json").read_text())["run_options"]["log_every"] == 1


def test_a_mid_epoch_resume_drops_the_rows_past_its_checkpoint_and_writes_them_again(run150, tmp_path):
    """As after a kill at step 150 before its checkpoint: resumed from step 100, in the middle of
    the epoch, the rows 101..150 are written once and equal the uninterrupted run's."""
    from hwkeras.runs.checkpoints import list_checkpoints

    run_dir = tmp_path / "r"
    shutil.copytree(run150, run_dir)
    newest = list_checkpoints(str(run_dir))[0]
    assert newest.step == 150
    shutil.rmtree(newest.path)
    with open(run_dir / "history_steps.csv", "a") as f:
        f.write("151,3.0,2.")  # a row cut short by the kill
    result = invoke_fit("--resume", run_dir, "--steps", "160")
    assert result.exit_code == 0, result.output
    assert "from its checkpoint at step 100" in result.output
    table = rows(run_dir / "history_steps.csv")
    assert [int(r["step"]) for r in table] == list(range(1, 161))
    before = rows(run150 / "history_steps.csv")
    assert table[:100] == before[:100]
    # Steps 101..150 again, from the checkpoint's running means: the same losses (float32 sums).
    np.testing.assert_allclose([float(r["loss"]) for r in table[100:150]],
                               [float(r["loss"]) for r in before[100:150]], rtol=1e-5, atol=1e-3)


def test_log_every_sets_the_rows_and_is_kept_by_resume(tmp_path):
    result = invoke_fit("--output-dir", tmp_path, "--run-name", "r", *TINY, "--steps", "20", "--log-every", "7",
                        "--checkpoint-every", "10")
    assert result.exit_code == 0, result.output
    assert [int(r["step"]) for r in rows(tmp_path / "r" / "history_steps.csv")] == [7, 14, 20]  # the end's own row
    result = invoke_fit("--resume", tmp_path / "r", "--steps", "30")
    assert result.exit_code == 0, result.output
    assert [int(r["step"]) for r in rows(tmp_path / "r" / "history_steps.csv")] == [7, 14, 20, 21, 28, 30]
    bad = invoke_fit("--output-dir", tmp_path, "--run-name", "bad", *TINY, "--steps", "20", "--log-every", "0")
    assert bad.exit_code == 2 and "--log-every" in bad.output and not (tmp_path / "bad").exists()


# -- StepHistory alone: running means of known per-step losses ---------------------------------------

class Model:
    trackers = {"loss": None, "kl": None}


def drive(callback, losses, steps_per_epoch, start=0, restore=None):
    """Feeds ``callback`` Keras's logs of per-step ``losses`` (steps start+1 ...) in epochs of
    ``steps_per_epoch``: the running mean of each term since the epoch began (from ``restore``'s
    count of steps on a mid-epoch start), and an unrelated ``eval_mig`` key."""
    callback.set_model(Model())
    callback.on_train_begin()
    step = start
    while step < start + len(losses):
        epoch, offset = divmod(step, steps_per_epoch)
        callback.on_epoch_begin(epoch)
        held = list(restore) if offset and restore is not None else []
        for batch in range(offset, steps_per_epoch):
            if step >= start + len(losses):
                break
            value = losses[step - start]
            held.append(value)
            callback.on_train_batch_end(batch - offset, {"loss": float(np.mean(held)), "kl": float(np.mean(held)) / 2,
                                                         "eval_mig": 0.5})
            step += 1
        restore = None
    callback.on_train_end()


def test_each_row_is_the_mean_of_its_window_across_epoch_ends(tmp_path):
    from hwkeras.runs.logs import StepHistory

    losses = np.random.RandomState(0).uniform(1, 100, size=23)
    history = StepHistory(str(tmp_path / "h.csv"), every_n_steps=4, steps_per_epoch=10, final_step=23)
    drive(history, losses, steps_per_epoch=10)
    table = rows(tmp_path / "h.csv")
    assert header(tmp_path / "h.csv") == ["step", "loss", "kl"]  # the trackers' order; eval_* is not a loss
    assert [int(r["step"]) for r in table] == [4, 8, 12, 16, 20, 23]
    windows = [losses[0:4], losses[4:8], losses[8:12], losses[12:16], losses[16:20], losses[20:23]]
    np.testing.assert_allclose([float(r["loss"]) for r in table], [w.mean() for w in windows], rtol=1e-9)
    np.testing.assert_allclose([float(r["kl"]) for r in table], [w.mean() / 2 for w in windows], rtol=1e-9)


def test_a_mid_epoch_start_uses_the_restored_running_means(tmp_path):
    from hwkeras.runs.logs import StepHistory

    losses = np.random.RandomState(1).uniform(1, 100, size=20)
    path = tmp_path / "h.csv"
    first = StepHistory(str(path), every_n_steps=5, steps_per_epoch=10)
    drive(first, losses[:7], steps_per_epoch=10)  # stopped at step 7, the checkpoint's
    means = {"loss": float(np.mean(losses[:7])), "kl": float(np.mean(losses[:7])) / 2}
    resumed = StepHistory(str(path), every_n_steps=5, initial_step=7, steps_per_epoch=10, initial_means=means,
                          final_step=20)
    drive(resumed, losses[7:], steps_per_epoch=10, start=7, restore=losses[:7])
    table = rows(path)
    assert [int(r["step"]) for r in table] == [5, 10, 15, 20]
    # the row of step 10 holds the steps after the checkpoint (8..10): the others were logged by no row
    expected = [losses[0:5].mean(), losses[7:10].mean(), losses[10:15].mean(), losses[15:20].mean()]
    np.testing.assert_allclose([float(r["loss"]) for r in table], expected, rtol=1e-9)
    # without the restored means the first step after the checkpoint is left out, not guessed
    path.unlink()
    drive(StepHistory(str(path), every_n_steps=5, initial_step=7, steps_per_epoch=10), losses[7:],
          steps_per_epoch=10, start=7, restore=losses[:7])
    assert float(rows(path)[0]["loss"]) == pytest.approx(losses[8:10].mean(), rel=1e-9)


def test_trimming_keeps_the_complete_rows_up_to_the_checkpoint(tmp_path):
    from hwkeras.runs.logs import trim_run_logs

    (tmp_path / "history_steps.csv").write_text("step,loss\n2,3.0\n4,2.0\n6,1.0\n8,0.5\n10,0.")
    (tmp_path / "history.csv").write_text("epoch,loss\n0,3.0\n")
    trim_run_logs(str(tmp_path), epoch=1, step=6)
    assert (tmp_path / "history_steps.csv").read_text().splitlines() == ["step,loss", "2,3.0", "4,2.0", "6,1.0"]


def test_an_existing_history_keeps_its_header(tmp_path):
    """A run from before this history (its history.csv with CSVLogger's val_* columns) resumes
    with rows that line up with its header."""
    from hwkeras.runs.logs import EpochHistory

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,3.0,NA\n")
    logger = EpochHistory(str(path))
    logger.on_train_begin()
    logger.on_epoch_end(1, {"loss": 2.0})
    logger.on_train_end()
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "0,3.0,NA", "1,2.0,NA"]
    fresh = tmp_path / "fresh.csv"
    logger = EpochHistory(str(fresh))
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 2.0, "kl": 1.0})
    logger.on_train_end()
    assert fresh.read_text().splitlines() == ["epoch,kl,loss", "0,1.0,2.0"]
