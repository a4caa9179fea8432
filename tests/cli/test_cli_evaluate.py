"""``hwkeras evaluate``: run directories, model files, the JSON record and one-line errors.

Most tests replace the model loader and the dataset getter with toys, so they check the
command's own logic in a second; the last one runs a real (untrained) model end to end.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hwkeras.cli import evaluate as cli_evaluate
from hwkeras.data.ground_truth import GroundTruthData
from hwkeras.runs import evaluate as run_evaluate
from hwkeras.runs import target as run_target


class Grid(GroundTruthData):
    factor_sizes = (3, 4, 5)
    observation_shape = (3, 1, 1)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        x = factors / (np.array(self.factor_sizes) - 1.0)
        return x.reshape(len(factors), 3, 1, 1).astype(np.float32)


class NoFactors(GroundTruthData):
    observation_shape = (3, 1, 1)


class IdentityModel:
    """Stands in for a trained model: the encoder mean is the image itself (perfect code)."""

    def __init__(self):
        self.calls = []

    def encode(self, x):
        self.calls.append(len(x))
        mean = np.asarray(x).reshape(len(x), -1)
        return mean, np.zeros_like(mean)


QUICK = ["--param", "factor_vae.num_train=100", "--param", "factor_vae.num_eval=100",
         "--param", "factor_vae.num_variance_estimate=200", "--param", "mig.num_train=500"]


@pytest.fixture
def toys(monkeypatch):
    model = IdentityModel()
    seen = {}

    def get_dataset(name, options):
        seen["dataset"], seen["options"] = name, options
        if name == "no-factors":
            return NoFactors()
        if name != "grid":
            raise ValueError(f"unknown dataset {name!r}; choose one of: grid")
        return Grid()

    monkeypatch.setattr(run_evaluate, "_get_dataset", get_dataset)
    monkeypatch.setattr(run_target, "deserialize", lambda path: model)
    return model, seen


def make_run_dir(tmp_path, config=None):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_bytes(b"stub")
    config = {"dataset": "grid", "dataset_options": {"image_size": 3}} if config is None else config
    (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


def invoke(*args):
    return CliRunner().invoke(cli_evaluate.evaluate_command, [str(a) for a in args])


def test_run_directory_writes_metrics_json(tmp_path, toys):
    model, seen = toys
    run_dir = make_run_dir(tmp_path)
    result = invoke(run_dir, "--metrics", "factor_vae,mig", *QUICK)
    assert result.exit_code == 0, result.output
    assert seen == {"dataset": "grid", "options": {"image_size": 3}}
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["metrics"]["factor_vae"]["eval_accuracy"] == 1.0
    assert record["summary"]["factor_vae"] == 1.0
    assert 0.9 < record["summary"]["mig"] <= 1.0
    assert record["parameters"]["factor_vae"]["num_train"] == 100
    assert record["parameters"]["factor_vae"]["batch_size"] == 64
    assert record["dataset"] == "grid" and record["seed"] == 0 and record["protocol"] == "dlib"
    assert record["versions"]["scikit-learn"]
    # Encoder calls never exceed 64 images.
    assert max(model.calls) <= 64
    assert "| factor_vae | eval_accuracy * | 1.0000 |" in result.output
    assert "Wrote" in result.output


def test_model_file_needs_dataset_and_writes_next_to_it(tmp_path, toys):
    model_path = tmp_path / "m.keras"
    model_path.write_bytes(b"stub")
    result = invoke(model_path, "--metrics", "mig")
    assert result.exit_code == 2
    assert "--dataset is required" in result.output
    result = invoke(model_path, "--dataset", "grid", "--metrics", "mig", "--seed", "3",
                    "--protocol", "chyvae", "--param", "mig.num_train=300")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "m.metrics.json").read_text())
    assert record["seed"] == 3 and record["protocol"] == "chyvae"
    assert list(record["metrics"]) == ["mig"]


def test_chyvae_protocol_and_explicit_output(tmp_path, toys):
    run_dir = make_run_dir(tmp_path)
    out = tmp_path / "out.json"
    result = invoke(run_dir, "--metrics", "factor_vae", "--protocol", "chyvae", "--output", out,
                    "--param", "factor_vae.num_train=50", "--param", "factor_vae.num_eval=50",
                    "--param", "factor_vae.num_variance_estimate=300")
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["parameters"]["factor_vae"]["batch_size"] == 200
    assert record["parameters"]["factor_vae"]["prune_threshold"] == 0.0
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("args, message", [
    (["{run}", "--metrics", "mig,irs"], "unknown metric(s) irs; valid metrics are"),
    (["{run}", "--metrics", "mig", "--param", "mig.bins=3"], "unknown parameter(s) bins"),
    (["{run}", "--metrics", "mig", "--param", "dci.num_train=3"], "not being computed"),
    (["{run}", "--param", "num_train=3"], "METRIC.NAME=VALUE"),
    (["{run}", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["{run}", "--dataset", "no-factors"], "no ground-truth factors"),
    (["{tmp}/missing"], "does not exist"),
    (["{tmp}/notes.txt", "--dataset", "grid"], "neither a run directory nor a .keras"),
    (["{tmp}", "--dataset", "grid"], "has no model.keras"),
    (["{run}", "--output", "{tmp}/no/such/dir/m.json"], "does not exist"),
    (["{run}", "--dataset-option", "oops"], "is not KEY=VALUE"),
])
def test_errors_are_one_line_with_exit_code_2(tmp_path, toys, args, message):
    run_dir = make_run_dir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    args = [a.format(run=run_dir, tmp=tmp_path) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_config_without_dataset_and_unloadable_model(tmp_path, toys, monkeypatch):
    run_dir = make_run_dir(tmp_path, config={"latent_dim": 10})
    result = invoke(run_dir)
    assert result.exit_code == 2 and "has no \"dataset\" key" in result.output

    def broken(path):
        raise OSError("file is not a zip archive\nmore detail")

    monkeypatch.setattr(run_target, "deserialize", broken)
    other = tmp_path / "other"
    other.mkdir()
    result = invoke(make_run_dir(other, config={"dataset": "grid"}))
    assert result.exit_code == 2
    assert "could not load" in result.output and "OSError: file is not a zip archive" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_nan_representation_is_an_input_error(tmp_path, toys, monkeypatch):
    class NanModel:
        def encode(self, x):
            mean = np.full((len(x), 3), np.nan, np.float32)
            return mean, mean

    monkeypatch.setattr(run_target, "deserialize", lambda path: NanModel())
    result = invoke(make_run_dir(tmp_path), "--metrics", "mig")
    assert result.exit_code == 2
    assert "representation contains NaN or inf" in result.output


def test_registered_in_main_group():
    from hwkeras.cli import main

    result = CliRunner().invoke(main.main, ["evaluate", "--help"])
    assert result.exit_code == 0
    assert "--protocol [dlib|chyvae]" in result.output


def test_end_to_end_with_a_saved_model(tmp_path):
    """An untrained CHyVAE saved as .keras, loaded and evaluated on real ellipse images.

    The scores must be those of the encoder mean: the same metrics computed here, in-process, on
    ``encode(x)[0]`` of the model loaded from the file, called eagerly (not through the compiled
    encoder the command uses). An untrained encoder's scale is about 0.7 against a mean that
    barely moves, so scoring sampled codes instead would give other numbers.
    """
    import keras

    import hwkeras
    from hwkeras.data import get_dataset
    from hwkeras.metrics import evaluate as evaluate_fn

    model = hwkeras.HyperpriorVAE(latent_dim=4, nu=8.0, image_shape=(32, 32, 1),
                                  hidden_units=32, seed=0)
    model(np.zeros((1, 32, 32, 1), np.float32))
    path = tmp_path / "tiny.keras"
    model.save(path)
    # No pruning: the untrained means vary by less than the 0.05 threshold.
    params = {"factor_vae": {"num_train": 20, "num_eval": 20, "num_variance_estimate": 128,
                             "prune_threshold": 0.0},
              "mig": {"num_train": 128}}
    result = invoke(path, "--dataset", "correlated-ellipses", "--dataset-option", "image_size=32",
                    "--metrics", "factor_vae,mig", *[f"--param={m}.{k}={v}" for m in params
                                                     for k, v in params[m].items()])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "tiny.metrics.json").read_text())
    assert record["dataset_options"] == {"image_size": 32}
    loaded = keras.saving.load_model(path)
    expected = evaluate_fn(get_dataset("correlated-ellipses", image_size=32),
                           lambda x: np.asarray(loaded.encode(x)[0]), "factor_vae,mig", seed=0,
                           params=params)
    assert record["parameters"] == expected["parameters"]
    assert record["metrics"]["factor_vae"] == expected["metrics"]["factor_vae"]
    # MIG's histogram bins move with a float32 rounding difference between the compiled and the
    # eager encoder only if a code lands on a bin edge; allow that, nothing more.
    assert record["summary"]["mig"] == pytest.approx(expected["summary"]["mig"], abs=1e-6)


def test_a_dataset_without_factors_is_said_before_the_output_is_compared(tmp_path, toys):
    """--dataset celeba on a run that has a metrics.json of its own dataset: the answer is that
    celeba has no factors (formerly a metrics.json conflict), in one line, before any work."""
    run_dir = make_run_dir(tmp_path, config={"dataset": "grid", "dataset_options": {"image_size": 3},
                                             "steps_trained": 3})
    assert invoke(run_dir, "--metrics", "mig", "--param", "mig.num_train=300").exit_code == 0
    before = (run_dir / "metrics.json").read_text()
    for name in ("celeba", "chairs"):
        result = invoke(run_dir, "--dataset", name, "--metrics", "mig")
        assert result.exit_code == 2, result.output
        assert f"dataset {name!r} has no ground-truth factors" in result.output
        assert "UDR" in result.output and "another evaluation" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert (run_dir / "metrics.json").read_text() == before


def test_metrics_of_an_earlier_step_are_named_stale(tmp_path, toys):
    """A run evaluated at step 150 and trained on to 200: evaluate says what the record is (not
    'another evaluation'), and its listing names any other record of step 150 with the command."""
    config = {"dataset": "grid", "dataset_options": {"image_size": 3}, "steps_trained": 150}
    run_dir = make_run_dir(tmp_path, config=config)
    quick = ["--metrics", "mig", "--param", "mig.num_train=300"]
    assert invoke(run_dir, *quick).exit_code == 0
    assert invoke(run_dir, *quick, "--protocol", "chyvae").exit_code == 0  # -> metrics-chyvae.json
    assert json.loads((run_dir / "metrics.json").read_text())["training_steps"] == 150
    (run_dir / "config.json").write_text(json.dumps({**config, "steps_trained": 200}))
    refused = invoke(run_dir, *quick)
    assert refused.exit_code == 2
    assert (f"{run_dir / 'metrics.json'} holds metrics computed at step 150; the model is now at step 200: "
            f"pass --overwrite") in refused.output
    result = invoke(run_dir, *quick, "--overwrite")
    assert result.exit_code == 0, result.output
    assert f"Wrote {run_dir / 'metrics.json'}, the model at step 200" in result.output
    assert (f"Note: metrics-chyvae.json: computed at step 150; the model is at step 200; rerun hwkeras evaluate "
            f"{run_dir} --protocol chyvae --metrics mig --overwrite") in result.output
    assert "Note: metrics.json" not in result.output  # the one just written is of step 200
    assert json.loads((run_dir / "metrics.json").read_text())["training_steps"] == 200
