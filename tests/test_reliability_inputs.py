"""Bad input and damaged files get one line naming the real problem, before any work; nothing written
is lost or silently overwritten (docs/RELIABILITY.md lists every case and its test)."""

import json
import os
import stat

import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.data.ground_truth import GroundTruthData

TINY = ["--batch-size", "4", "--latent-dim", "2", "--image-size", "32", "--hidden-units", "16", "--steps", "2",
        "--no-report", "--summary-every", "0"]


def one_line_error(result, message, code=2):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------
# hwkeras fit: refused before anything is written.
# --------------------------------------------------------------------------------------------

def invoke_fit(*args):
    from hwkeras.cli.fit import fit_command

    return CliRunner().invoke(fit_command, [str(a) for a in args])


@pytest.mark.parametrize("args, message", [
    (["--learning-rate", "nan"], "--learning-rate must be a finite positive number, got nan"),
    (["--learning-rate", "inf"], "--learning-rate must be a finite positive number, got inf"),
    (["--learning-rate", "-1"], "--learning-rate must be a finite positive number, got -1.0"),
    (["--nu", "inf"], "nu must be a finite number, got inf"),
    (["--nu", "nan"], "--nu must be a finite number, got nan"),
    (["--model", "beta-vae", "--beta", "nan"], "--beta must be a finite number, got nan"),
    (["--psi", "{tmp}/nan.npy"], "Psi contains NaN or inf"),
    (["--latent-dim", "100000"], "--latent-dim 100000 is too large: training would take at least"),
    (["--batch-size", "100000000"], "--batch-size 100000000 is too large: training would take at least"),
    (["--run-name", "../escape"], "--run-name '../escape' must be a plain name"),
    (["--run-name", "a/b"], "--run-name 'a/b' must be a plain name"),
    (["--output-dir", "{tmp}/file"], "--output-dir {tmp}/file: exists and is not a directory"),
    (["--output-dir", "{tmp}/file/runs"], "--output-dir {tmp}/file/runs: {tmp}/file is a file, not a directory"),
    (["--export-dir", "{tmp}/file"], "--export-dir {tmp}/file: exists and is not a directory"),
    (["--run-name", "taken"], "run directory {tmp}/runs/taken already exists; choose another --run-name (or "
                              "continue it: hwkeras fit --resume {tmp}/runs/taken)"),
    (["--run-name", "exported"], "{tmp}/sm/exported already exists; choose another --run-name or --export-dir"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be a positive integer, got 0"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--steps", "-5"], "--steps must be a positive integer, got -5"),
    (["--latent-dim", "0"], "--latent-dim must be a positive integer, got 0"),
    (["--hidden-units", "0"], "--hidden-units must be a positive integer, got 0"),
    (["--keep-checkpoints", "0"], "--keep-checkpoints must be a positive integer, got 0"),
])
def test_fit_refuses_bad_input_before_any_work(tmp_path, args, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "sm" / "exported").mkdir(parents=True)
    np.save(tmp_path / "nan.npy", np.full((2, 2), np.nan))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = [a.format(tmp=tmp_path) for a in args]
    result = invoke_fit("--output-dir", tmp_path / "runs", "--export-dir", tmp_path / "sm", *TINY, *args)
    one_line_error(result, message.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_memory_estimate_names_the_option_that_drives_it():
    from hwkeras.resources import check_fits, training_bytes

    shares = training_bytes("chyvae", 10, 128, (64, 64, 1), 64)
    check_fits(shares, "training", available=1e9)  # the paper's size fits in 1 GB
    with pytest.raises(ValueError, match="--hidden-units 10000000 is too large"):
        check_fits(training_bytes("vae", 10, 10**7, (64, 64, 1), 64), "training",
                   values={"--hidden-units": 10**7}, available=1e9)


# --------------------------------------------------------------------------------------------
# Checkpoints on disk: atomic, rotated, a damaged newest one falls back to the one before.
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model():
    import keras

    from hwkeras.models import build_model

    model = build_model("factor-vae", latent_dim=2, image_shape=(16, 16, 1), hidden_units=8, seed=3,
                        discriminator_units=4, discriminator_layers=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def test_checkpoints_are_rotated_and_staging_leftovers_ignored(tmp_path, tiny_model):
    from hwkeras.runs import checkpoints

    for step in range(1, 6):
        checkpoints.save_checkpoint(tiny_model, str(tmp_path), step, keep=3)
    (tmp_path / "checkpoints" / ".partial-step-00000006-x").mkdir()  # a kill during a write
    assert [c.step for c in checkpoints.list_checkpoints(str(tmp_path))] == [5, 4, 3]
    checkpoints.remove_staging_leftovers(str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000003", "step-00000004", "step-00000005"]
    mode = stat.S_IMODE(os.stat(tmp_path / "checkpoints" / "step-00000005").st_mode)
    assert mode == 0o777 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, tiny_model):
    from hwkeras.runs import checkpoints

    checkpoints.save_checkpoint(tiny_model, str(tmp_path), 1)
    checkpoints.save_checkpoint(tiny_model, str(tmp_path), 2)
    (tmp_path / "checkpoints" / "step-00000002" / "checkpoint.json").write_text('{"step": 2, "cla')
    assert checkpoints.latest_checkpoint(str(tmp_path)).step == 1


def test_a_checkpoint_restores_weights_both_optimizers_and_the_seed_generator(tmp_path, tiny_model):
    import keras

    from hwkeras.runs import checkpoints

    tiny_model.seed_generator.state.assign(np.array([3, 41], dtype=tiny_model.seed_generator.state.dtype))
    tiny_model.discriminator_optimizer.iterations.assign(7)
    checkpoints.build_optimizers_for_restore(tiny_model)
    slot = tiny_model.optimizer.variables[-1]
    slot.assign(np.full(slot.shape, 0.25, "float32"))
    saved = checkpoints.save_checkpoint(tiny_model, str(tmp_path), 12)
    fresh = saved.build_model()
    fresh.compile(optimizer=keras.optimizers.Adam(1e-3))
    saved.restore(fresh)
    for a, b in zip(tiny_model.weights, fresh.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(fresh.seed_generator.state).tolist() == [3, 41]
    assert int(np.asarray(fresh.discriminator_optimizer.iterations)) == 7
    for a, b in zip(tiny_model.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.all(np.asarray(fresh.optimizer.variables[-1]) == 0.25)


def test_a_checkpoint_never_holds_nan_weights(tmp_path, tiny_model):
    from hwkeras.runs.guard import NonFiniteWeights, RunGuard

    guard = RunGuard(str(tmp_path), every_n_steps=1)
    guard.set_model(tiny_model)
    kernel = tiny_model.decoder.weights[0]
    original = np.asarray(kernel)
    kernel.assign(np.full(original.shape, np.nan, original.dtype))
    try:
        with pytest.raises(NonFiniteWeights, match="the weights are NaN or inf after step 0"):
            guard.save()
    finally:
        kernel.assign(original)
    assert not (tmp_path / "checkpoints").exists() or not os.listdir(tmp_path / "checkpoints")


def test_history_and_tensorboard_keep_only_what_precedes_the_checkpoint(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from hwkeras.runs.logs import trim_run_logs

    (tmp_path / "history.csv").write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.0\n3,0.")  # the last row cut by a kill
    for sub, steps in (("train", range(4)), ("images", range(0, 40, 10))):
        writer = EventFileWriter(str(tmp_path / "logs" / sub))
        for step in steps:
            writer.add_event(Event(step=step, summary=Summary(value=[Summary.Value(tag="x", simple_value=1.0)])))
        writer.close()
    trim_run_logs(str(tmp_path), epoch=2, step=25)  # a checkpoint in epoch 2 at step 25
    assert (tmp_path / "history.csv").read_text().splitlines() == ["epoch,loss", "0,3.0", "1,2.0"]

    def steps(sub):
        from hwkeras.runs.logs import _records

        (path,) = (tmp_path / "logs" / sub).iterdir()
        events = [Event.FromString(payload) for _, payload in _records(path.read_bytes())]
        return [e.step for e in events if e.HasField("summary")]

    assert steps("train") == [0, 1] and steps("images") == [0, 10, 20]


# --------------------------------------------------------------------------------------------
# hwkeras evaluate: metrics.json accumulates; other evaluations and bad outputs are refused first.
# --------------------------------------------------------------------------------------------

class Grid(GroundTruthData):
    factor_sizes = (3, 4)
    observation_shape = (2, 1, 1)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        return (factors / (np.array(self.factor_sizes) - 1.0)).reshape(len(factors), 2, 1, 1).astype(np.float32)



class Identity:
    image_shape = (2, 1, 1)

    def encode(self, x):
        mean = np.asarray(x).reshape(len(x), -1)
        return mean, np.zeros_like(mean)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    from hwkeras.runs import evaluate, target

    monkeypatch.setattr(evaluate, "_get_dataset", lambda name, options: Grid())
    monkeypatch.setattr(target, "deserialize", lambda path: Identity())
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"stub")
    (run / "config.json").write_text(json.dumps({"dataset": "grid", "steps_trained": 5}))
    return run


def evaluate(*args):
    from hwkeras.cli.evaluate import evaluate_command

    return CliRunner().invoke(evaluate_command, [str(a) for a in args])


QUICK = ["--param", "mig.num_train=200"]
SAP = ["--param", "sap.num_train=200", "--param", "sap.num_test=100"]


def test_a_second_evaluation_adds_its_metrics_to_metrics_json(run_dir):
    assert evaluate(run_dir, "--metrics", "mig", *QUICK).exit_code == 0
    first = json.loads((run_dir / "metrics.json").read_text())
    result = evaluate(run_dir, "--metrics", "sap", *SAP)
    assert result.exit_code == 0, result.output
    assert f"Updated {run_dir / 'metrics.json'} (kept the earlier mig)" in result.output
    record = json.loads((run_dir / "metrics.json").read_text())
    assert list(record["metrics"]) == ["mig", "sap"] and record["metrics"]["mig"] == first["metrics"]["mig"]
    assert set(record["parameters"]) == set(record["summary"]) == {"mig", "sap"}
    from hwkeras.report.run import metric_tables

    (table,) = metric_tables(str(run_dir), [])
    assert {row["metric"] for row in table["rows"]} == {"mig", "sap"}


def test_another_protocol_goes_to_its_own_file(run_dir):
    assert evaluate(run_dir, "--metrics", "mig", *QUICK).exit_code == 0
    result = evaluate(run_dir, "--metrics", "mig", "--protocol", "chyvae", *QUICK)
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "metrics-chyvae.json").read_text())["protocol"] == "chyvae"
    assert json.loads((run_dir / "metrics.json").read_text())["protocol"] == "dlib"


def test_another_seed_is_refused_unless_overwrite(run_dir):
    assert evaluate(run_dir, "--metrics", "mig", *QUICK).exit_code == 0
    one_line_error(evaluate(run_dir, "--metrics", "sap", "--seed", "1", *SAP),
                   f"{run_dir / 'metrics.json'} holds scores of another evaluation (seed 0, here 1); pass --output "
                   f"FILE to keep both, or --overwrite to replace it")
    assert evaluate(run_dir, "--metrics", "sap", "--seed", "1", "--overwrite", *SAP).exit_code == 0
    assert list(json.loads((run_dir / "metrics.json").read_text())["metrics"]) == ["sap"]


@pytest.mark.parametrize("output, message", [
    ("{run}/config.json", "--output {run}/config.json exists and is not an `hwkeras evaluate` record"),
    ("{run}", "--output {run}: is a directory, expected a file"),
    ("{run}/model.keras/m.json", "--output: directory {run}/model.keras is a file, not a directory"),
])
def test_evaluate_refuses_outputs_it_would_damage(run_dir, output, message):
    one_line_error(evaluate(run_dir, "--metrics", "mig", "--output", output.format(run=run_dir), *QUICK),
                   message.format(run=run_dir))
    assert json.loads((run_dir / "config.json").read_text()) == {"dataset": "grid", "steps_trained": 5}


def test_evaluate_names_an_image_size_mismatch(run_dir, monkeypatch):
    from hwkeras.runs import target

    class Bigger(Identity):
        image_shape = (4, 1, 1)

    monkeypatch.setattr(target, "deserialize", lambda path: Bigger())
    one_line_error(evaluate(run_dir, "--metrics", "mig", *QUICK),
                   "dataset 'grid' gives 2x1x1 images, the model expects 4x1x1")


def test_a_truncated_keras_file_is_named_as_such(tmp_path):
    from hwkeras.errors import UserError
    from hwkeras.runs.target import load_model

    path = tmp_path / "m.keras"
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UserError, match="is not a complete .keras file \\(not a zip archive: truncated or damaged"):
        load_model(str(path))


# --------------------------------------------------------------------------------------------
# hwkeras export, predict, report: outputs checked first, nothing overwritten silently.
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import hwkeras
    from hwkeras.export import export_saved_model

    root = tmp_path_factory.mktemp("serving")
    model = hwkeras.HyperpriorVAE(latent_dim=3, nu=10.0, image_shape=(16, 16, 1), hidden_units=8, seed=2)
    (root / "run").mkdir()
    model.save(root / "run" / "model.keras")
    (root / "run" / "config.json").write_text(json.dumps({"dataset": "correlated-ellipses", "steps_trained": 7}))
    export_saved_model(model, root / "sm")
    return root


def test_exports_are_readable_by_other_users(saved_model):
    umask = _umask()
    for folder, _, files in os.walk(saved_model / "sm"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777 & ~umask, folder
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o666 & ~umask, name


def test_the_exported_graph_says_nan_pixels_are_nan(saved_model):
    import tensorflow as tf

    encode = tf.saved_model.load(str(saved_model / "sm")).signatures["encode"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixel values are NaN or inf"):
        encode(images=tf.constant(np.full((1, 16, 16, 1), np.nan, np.float32)))


def export(*args):
    from hwkeras.cli.export import export_command

    return CliRunner().invoke(export_command, [str(a) for a in args])


@pytest.mark.parametrize("output, message", [
    ("run/config.json", "--output run/config.json: exists and is not a directory"),
    ("run/config.json/sm", "--output {root}/run/config.json: exists and is not a directory"),
])
def test_export_checks_its_output_before_loading(saved_model, monkeypatch, output, message):
    monkeypatch.chdir(saved_model)
    one_line_error(export("run", "--output", output), message.format(root=saved_model))


def predict(*args):
    from hwkeras.cli.predict import predict_command

    return CliRunner().invoke(predict_command, [str(a) for a in args])


@pytest.mark.parametrize("args, message", [
    (["--signature", "encode", "--input", "x.npy", "--num-samples", "4"],
     "--num-samples does not apply to signature 'encode' (its inputs: images)"),
    (["--signature", "sample", "--input", "x.npy"], "--input does not apply to signature 'sample' (its inputs: "
                                                   "num_samples)"),
    (["--signature", "sample", "--seed", "3"], "--seed does not apply to signature 'sample'"),
    (["--signature", "encode", "--input", "nan.npy"], "--input holds NaN or inf pixel values"),
    (["--signature", "decode", "--input", "znan.npy"], "--input holds NaN or inf latent codes"),
    (["--signature", "decode", "--input", "z5.npy"], "wrong shape: --input holds an array of shape (2, 5); signature "
                                                    "'decode' takes latent codes of shape (n, 3)"),
    (["--signature", "encode", "--input", "one.npy"], "wrong shape: --input holds an array of shape (16, 16, 1)"),
    (["--signature", "sample", "--num-samples", "2000000000"], "--num-samples 2000000000 is too large: the outputs "
                                                              "would take at least"),
    (["--signature", "sample", "--num-samples", "-1"], "--num-samples must be a positive integer, got -1"),
    (["--signature", "sample", "--num-samples", "0"], "--num-samples must be a positive integer, got 0"),
    (["--signature", "sample_seeded", "--nu", "nan"], "--nu must be a finite number"),
    (["--signature", "encode", "--input", "x.npz"], "x.npz is an .npz archive; --input takes one .npy array"),
])
def test_predict_refuses_what_does_not_apply_or_is_not_finite(saved_model, monkeypatch, args, message):
    monkeypatch.chdir(saved_model)
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
    np.save("x.npy", x)
    np.savez("x.npz", x=x)
    np.save("one.npy", x[0])
    np.save("nan.npy", np.where(x > 0.5, np.nan, x))
    np.save("znan.npy", np.array([[0.0, np.nan, 1.0]], np.float32))
    np.save("z5.npy", np.zeros((2, 5), np.float32))
    one_line_error(predict("sm", *args, "--output", "out.npz"), message)
    assert not os.path.exists("out.npz")


def test_predict_output_with_another_suffix_is_refused_not_made_a_folder(saved_model, monkeypatch):
    monkeypatch.chdir(saved_model)
    one_line_error(predict("sm", "--signature", "sample", "--output", "x.txt"),
                   "--output x.txt: predict writes FILE.npy, FILE.npz or a folder, not a .txt file")
    assert not os.path.exists("x.txt")


def test_predict_of_a_run_directory_says_to_export_it_first(saved_model, monkeypatch):
    monkeypatch.chdir(saved_model)
    os.makedirs("run", exist_ok=True)
    with open(os.path.join("run", "config.json"), "w") as f:
        f.write("{}")
    one_line_error(predict("run", "--signature", "sample", "--output", "s.npz"),
                   "run is a run directory of hwkeras fit (it has config.json), not a SavedModel: write one with "
                   "hwkeras export RUN_DIR --output DIR, then predict DIR")


def test_predict_never_overwrites_silently(saved_model, monkeypatch):
    monkeypatch.chdir(saved_model)
    sample = ["--signature", "sample_seeded", "--seed", "1"]
    assert predict("sm", *sample, "--num-samples", "3", "--output", "samples").exit_code == 0
    one_line_error(predict("sm", *sample, "--output", "samples"), "--output samples is not empty; pass --overwrite")
    result = predict("sm", *sample, "--num-samples", "2", "--output", "samples", "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir("samples")) == ["00000.png", "00001.png", "outputs.npz"]  # no stale 00002.png
    (saved_model / "samples" / "notes.txt").write_text("mine")
    one_line_error(predict("sm", *sample, "--output", "samples", "--overwrite"),
                   "--output samples holds files predict did not write (notes.txt); choose an empty or new folder")
    assert predict("sm", *sample, "--output", "one.npz").exit_code == 0
    one_line_error(predict("sm", *sample, "--output", "one.npz"), "--output one.npz already exists; pass --overwrite")
    one_line_error(predict("sm", *sample, "--output", "nowhere/one.npz"), "does not exist")


def test_report_checks_its_output_first(saved_model, monkeypatch):
    from hwkeras.cli.report import report_command

    monkeypatch.chdir(saved_model)
    result = CliRunner().invoke(report_command, ["run", "--output", "missing/page.html"])
    one_line_error(result, f"--output: directory {saved_model / 'missing'} does not exist")
    result = CliRunner().invoke(report_command, ["run", "--output", "run/config.json/page.html"])
    one_line_error(result, "is a file, not a directory")
