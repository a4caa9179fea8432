"""``hwkeras sweep``: a tiny sweep through Ray Tune, killed mid-way and resumed, its tables against
recomputation, UDR against ``compute_udr`` on the trials' models, selection; bad input; Ray never in fit.

The sweep runs as on the GPU machine the RESULTS commands are for: JAX backend, TensorFlow absent
(tests/without_tensorflow), a local Ray of its own. One sweep (2 models x a grid of 2 x 2 seeds =
8 trials, 20 steps, 32x32 images, 3 latents, small metric samples) serves every Ray test: it is
killed (SIGKILL to its process group) once two trials have finished and another has started,
then ``--resume`` completes it.
"""

import csv
import glob
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner
from PIL import Image

from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
HWKERAS = [sys.executable, "-m", "hwkeras.cli.main"]


GRID = ["--model", "chyvae", "--grid", "nu=5,20", "--model", "beta-vae", "--grid", "beta=1,4", "--seeds", "2"]
TINY = ["--backend", "jax", "--steps", "20", "--batch-size", "16", "--image-size", "32", "--latent-dim", "3",
        "--hidden-units", "16", "--summary-every", "0", "--checkpoint-every", "4", "--evaluate", "factor_vae,mig",
        "--evaluate-param", "factor_vae.num_train=30", "--evaluate-param", "factor_vae.num_eval=30",
        "--evaluate-param", "factor_vae.num_variance_estimate=200", "--evaluate-param", "factor_vae.batch_size=32",
        "--evaluate-param", "mig.num_train=200", "--nll-images", "64", "--udr-images", "100", "--max-concurrent", "2"]
METRICS = ["dlib.factor_vae", "dlib.mig", "chyvae.factor_vae"]
UDR = ["udr_lasso", "udr_spearman", "udr_a2a_lasso", "udr_a2a_spearman"]


def sweep_env(cache):
    return dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=NO_TENSORFLOW, XDG_CACHE_HOME=str(cache),
                TF_CPP_MIN_LOG_LEVEL="3")


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def finished_trials(sweep_dir):
    done = []
    for path in glob.glob(os.path.join(sweep_dir, "trials", "*", "trial.json")):
        try:
            with open(path) as f:
                if json.load(f)["status"] == "finished":
                    done.append(os.path.basename(os.path.dirname(path)))
        except (OSError, ValueError):
            pass  # being written
    return sorted(done)


def mtimes(folder):
    return {path: os.stat(path).st_mtime_ns for path in glob.glob(os.path.join(folder, "**"), recursive=True)}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The tiny sweep, killed after 2 finished trials while another runs, then resumed."""
    base = tmp_path_factory.mktemp("sweep")
    sweep_dir, cache = str(base / "tiny"), base / "cache"
    env = sweep_env(cache)
    with open(base / "first.log", "w") as log:
        first = subprocess.Popen([*HWKERAS, "sweep", *GRID, *TINY, "--output-dir", sweep_dir], env=env, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        until = time.time() + deadline(900)
        try:
            while time.time() < until and first.poll() is None:
                done = finished_trials(sweep_dir)
                started = [os.path.basename(p) for p in glob.glob(os.path.join(sweep_dir, "trials", "*"))]
                if len(done) >= 2 and set(started) - set(done):
                    break
                time.sleep(0.3)
            kept = {name: mtimes(os.path.join(sweep_dir, "trials", name)) for name in done}
            partial = read_csv(os.path.join(sweep_dir, "results.csv"))[1]
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)  # the sweep's own process group: the driver and its Ray
            first.wait(timeout=deadline(60))
    assert first.returncode == -signal.SIGKILL, (base / "first.log").read_text()[-3000:]
    assert 2 <= len(done) < 8
    unfinished = sorted(set(started) - set(done))
    resumed = subprocess.run([*HWKERAS, "sweep", "--resume", sweep_dir], env=env, capture_output=True, text=True,
                             timeout=deadline(900))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return {"dir": sweep_dir, "kept": kept, "unfinished": unfinished, "partial": partial, "resumed": resumed,
            "env": env, "first_log": (base / "first.log").read_text()}


# -- the tiny sweep's results ------------------------------------------------------------------------

@pytest.mark.slow
def test_results_csv_has_every_trial_with_its_numbers(sweep):
    header, rows = read_csv(os.path.join(sweep["dir"], "results.csv"))
    assert header[:12] == ["trial", "configuration", "model", "beta", "nu", "seed", "steps", "status",
                           "wall_time_s", *METRICS]
    assert header[12] == "reconstruction_nll" and header[-5:] == [*UDR, "run_dir"]
    assert {"loss", "reconstruction", "kl", "kl_latent", "kl_hyperprior"} <= set(header)
    assert [r["trial"] for r in rows] == [f"{c}-seed{s}" for c in ("chyvae-nu=5", "chyvae-nu=20", "beta-vae-beta=1",
                                                                   "beta-vae-beta=4") for s in (0, 1)]
    for row in rows:
        assert row["status"] == "finished" and row["steps"] == "20"
        assert (row["nu"] == "") == (row["model"] == "beta-vae") and (row["beta"] == "") == (row["model"] == "chyvae")
        assert row["configuration"] == row["trial"].rsplit("-seed", 1)[0]
        for metric in METRICS:
            assert 0.0 <= float(row[metric]) <= 1.0
        # Bernoulli NLL of 32x32 images: positive, below the 1024 * log 2 of a decoder that says 0.5 everywhere
        # plus the slack of 20 training steps.
        assert 0.0 < float(row["reconstruction_nll"]) < 1024 * math.log(2) * 1.5
        assert float(row["wall_time_s"]) > 0
        run_dir = os.path.join(sweep["dir"], row["run_dir"])
        for name in ("config.json", "model.keras", "history.csv", "metrics.json", "metrics-chyvae.json",
                     "report.html", "udr_codes.npz", "trial.json"):
            assert os.path.isfile(os.path.join(run_dir, name)), (row["trial"], name)
        with open(os.path.join(run_dir, "metrics.json")) as f:
            record = json.load(f)
        assert record["protocol"] == "dlib" and record["summary"]["mig"] == float(row["dlib.mig"])
        with open(os.path.join(run_dir, "metrics-chyvae.json")) as f:
            assert json.load(f)["summary"]["factor_vae"] == float(row["chyvae.factor_vae"])
        with open(os.path.join(run_dir, "history.csv"), newline="") as f:
            last = list(csv.DictReader(f))[-1]
        assert float(last["loss"]) == float(row["loss"])
        with open(os.path.join(run_dir, "config.json")) as f:
            config = json.load(f)
        assert config["seed"] == int(row["seed"]) and config["latent_dim"] == 3
        assert config["model_options"] == ({"nu": float(row["nu"])} if row["nu"] else {"beta": float(row["beta"])})


@pytest.mark.slow
def test_summary_csv_is_the_mean_and_sd_over_seeds(sweep):
    _, rows = read_csv(os.path.join(sweep["dir"], "results.csv"))
    header, summary = read_csv(os.path.join(sweep["dir"], "summary.csv"))
    assert header[:5] == ["configuration", "model", "beta", "nu", "n"]
    assert [s["configuration"] for s in summary] == ["chyvae-nu=5", "chyvae-nu=20",
                                                     "beta-vae-beta=1", "beta-vae-beta=4"]
    for s in summary:
        group = [r for r in rows if r["configuration"] == s["configuration"]]
        assert s["n"] == "2"
        for column in [*METRICS, "reconstruction_nll", "loss", "wall_time_s", "udr_lasso"]:
            values = np.array([float(r[column]) for r in group])
            assert float(s[f"{column}_mean"]) == pytest.approx(values.mean(), rel=1e-5, abs=1e-9)
            assert float(s[f"{column}_sd"]) == pytest.approx(values.std(ddof=1), rel=1e-5, abs=1e-9)


@pytest.mark.slow
def test_sweep_dir_has_its_plot_page_and_spec(sweep):
    with Image.open(os.path.join(sweep["dir"], "tradeoff.png")) as image:
        assert image.format == "PNG" and image.size[0] > 300
        # Coloured markers are drawn (tab10 blue and orange), not an empty axis with a note.
        colours = {tuple(c[1][:3]) for c in image.convert("RGB").getcolors(1 << 20)}
        assert {(31, 119, 180), (255, 127, 14)} <= colours
    page = open(os.path.join(sweep["dir"], "report.html")).read()
    assert "chyvae-nu=20" in page and "data:image/png;base64," in page
    with open(os.path.join(sweep["dir"], "sweep.json")) as f:
        spec = json.load(f)
    assert spec["models"] == ["chyvae", "beta-vae"] and spec["grid"] == {"nu": [5.0, 20.0], "beta": [1.0, 4.0]}
    assert spec["seeds"] == 2 and spec["metric_columns"] == METRICS and spec["protocols"] == ["dlib", "chyvae"]
    assert spec["backend"] == "jax" and spec["fit_options"]["steps"] == 20


# -- killed and resumed ------------------------------------------------------------------------------

@pytest.mark.slow
def test_resume_reruns_only_the_unfinished_trials(sweep):
    # The killed sweep's tables said where it was: its finished trials, and others running or pending.
    statuses = {r["trial"]: r["status"] for r in sweep["partial"]}
    assert all(statuses[name] == "finished" for name in sweep["kept"])
    assert set(statuses.values()) - {"finished"} <= {"running", "pending"}
    # Not one file of a finished trial was written again.
    for name, before in sweep["kept"].items():
        assert mtimes(os.path.join(sweep["dir"], "trials", name)) == before, name
    out = sweep["resumed"].stdout
    assert f"{8 - len(sweep['kept'])} to run" in out
    for name in sweep["kept"]:
        assert f"started  {name}" not in out
    # A trial the kill interrupted continues from its checkpoint (hwkeras fit --resume) or, killed
    # before its first one, is kept aside whole and runs again from the start.
    for name in sweep["unfinished"]:
        assert f"{name} was unfinished" in out
        log = open(os.path.join(sweep["dir"], "logs", name + ".log")).read()
        if f"{name} was unfinished: it continues from its checkpoint" in out:
            step = int(out.split(f"{name} was unfinished: it continues from its checkpoint at step ")[1].split()[0])
            assert f"from its checkpoint at step {step} (of 20)" in log
            assert not glob.glob(os.path.join(sweep["dir"], "unfinished", name + ".*"))
        else:
            assert glob.glob(os.path.join(sweep["dir"], "unfinished", name + ".*"))
        with open(os.path.join(sweep["dir"], "trials", name, "config.json")) as f:
            assert json.load(f)["steps_trained"] == 20
    assert "8 finished" in out


@pytest.mark.slow
def test_resume_of_a_finished_sweep_runs_nothing(sweep):
    before = mtimes(os.path.join(sweep["dir"], "trials"))
    done = subprocess.run([*HWKERAS, "sweep", "--resume", sweep["dir"], "--no-report"], env=sweep["env"],
                          capture_output=True, text=True, timeout=deadline(600))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "All 8 trials" in done.stdout and "nothing to run" in done.stdout
    assert mtimes(os.path.join(sweep["dir"], "trials")) == before


# -- UDR and the selection ---------------------------------------------------------------------------

UDR_ORACLE = r"""
import json, sys
import numpy as np
from hwkeras.data import get_dataset
from hwkeras.metrics.udr import compute_udr, representation_with_kl
from hwkeras.models import load_model
functions = [representation_with_kl(load_model(path)) for path in json.loads(sys.argv[1])]
dataset = get_dataset("correlated-ellipses", image_size=32)
print(json.dumps({variant: compute_udr(dataset, functions, np.random.RandomState(0), batch_size=10, num_data_points=100,
                                       correlation_matrix=variant)["model_scores"]
                  for variant in ("lasso", "spearman")}))
"""


@pytest.mark.slow
def test_udr_columns_equal_compute_udr_on_the_trials_models(sweep):
    """UDR across the seeds of a configuration: the numbers of hwkeras.metrics.udr.compute_udr (equal to
    disentanglement_lib's, tests/metrics/test_metrics_udr.py) on the saved models, encoded afresh in another process."""
    _, rows = read_csv(os.path.join(sweep["dir"], "results.csv"))
    group = [r for r in rows if r["configuration"] == "chyvae-nu=20"]
    models = [os.path.join(sweep["dir"], r["run_dir"], "model.keras") for r in group]
    done = subprocess.run([sys.executable, "-c", UDR_ORACLE, json.dumps(models)], env=sweep["env"],
                          capture_output=True, text=True, timeout=deadline(600))
    assert done.returncode == 0, done.stderr[-3000:]
    oracle = json.loads(done.stdout.strip().splitlines()[-1])
    for variant in ("lasso", "spearman"):
        assert [float(r[f"udr_{variant}"]) for r in group] == pytest.approx(oracle[variant], rel=1e-9, abs=1e-12)


@pytest.mark.slow
def test_udr_columns_within_configurations_and_all_to_all(sweep):
    """Every configuration's seeds compared with each other, and every trial with all others, from the codes the
    trials saved (the previous test ties those codes to the models)."""
    from hwkeras.metrics.udr import udr_from_codes

    _, rows = read_csv(os.path.join(sweep["dir"], "results.csv"))
    codes = {}
    for r in rows:
        with np.load(os.path.join(sweep["dir"], r["run_dir"], "udr_codes.npz")) as data:
            codes[r["trial"]] = (data["codes"], data["kl"])
            assert data["codes"].shape == (100, 3) and data["kl"].shape == (3,)
    groups = {c: [r["trial"] for r in rows if r["configuration"] == c]
              for c in dict.fromkeys(r["configuration"] for r in rows)}
    for prefix, members in [("udr_", g) for g in groups.values()] + [("udr_a2a_", [r["trial"] for r in rows])]:
        for variant in ("lasso", "spearman"):
            expected = udr_from_codes([codes[m][0] for m in members], [codes[m][1] for m in members],
                                      correlation_matrix=variant)["model_scores"]
            got = [float(next(r for r in rows if r["trial"] == m)[prefix + variant]) for m in members]
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), (prefix, variant, members)
            assert all(0.0 <= v <= 1.0 for v in got)


@pytest.mark.slow
def test_select_prints_the_trial_udr_chooses_and_its_agreement(sweep):
    from hwkeras.cli.main import main

    _, rows = read_csv(os.path.join(sweep["dir"], "results.csv"))
    result = CliRunner().invoke(main, ["sweep", sweep["dir"], "--select", "--select-by", "udr_spearman"])
    assert result.exit_code == 0, result.output
    best = max(rows, key=lambda r: float(r["udr_spearman"]))  # the first of equals, as the sweep orders them
    assert result.stdout.startswith(f"Selected by udr_spearman: {best['trial']} ")
    with open(os.path.join(sweep["dir"], "selection.json")) as f:
        chosen = json.load(f)
    assert chosen["trial"] == best["trial"] and chosen["by"] == "udr_spearman"
    for metric in METRICS:
        x = [float(r["udr_spearman"]) for r in rows]
        y = [float(r[metric]) for r in rows]
        expected = scipy.stats.spearmanr(x, y).statistic
        got = chosen["agreement"][metric]["trials"]["rho"]
        assert (got is None and not np.isfinite(expected)) or got == pytest.approx(expected, abs=1e-12)
        rank = 1 + sum(v > float(best[metric]) for v in y)
        assert chosen["agreement"][metric]["chosen_rank"] == rank
        assert f"{metric}: Spearman rho with udr_spearman" in result.output
    # The sweep itself selected by udr_lasso when it ended, and said so.
    lasso_best = max(rows, key=lambda r: float(r["udr_lasso"]))
    assert f"Selected by udr_lasso: {lasso_best['trial']} " in sweep["resumed"].stdout


# -- bad input: one line, nothing written --------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--grid", "foo=1,2"], "--grid foo: not an option a sweep can vary"),
    (["--model", "chyvae", "--grid", "beta=1,4"], "--grid beta: none of the selected models (chyvae) takes beta"),
    (["--model", "chyvae", "--beta", "4"], "--beta: none of the selected models (chyvae) takes beta"),
    (["--grid", "nu="], "--grid nu= has no values"),
    (["--grid", "nu=20", "--grid", "nu=200"], "--grid nu is given twice"),
    (["--grid", "nu=20,2e1"], "--grid nu lists 20 more than once"),
    (["--grid", "nu=abc"], "--grid nu=abc:"),
    (["--seeds", "0"], "--seeds must be a positive number"),
    (["--seeds", "-2"], "--seeds must be a positive number"),
    (["--evaluate", "chyvae.mig"], "chyvae.mig is dlib.mig"),
    (["--evaluate", "mig", "--evaluate-param", "factor_vae.num_train=10"], "which --evaluate does not compute"),
    (["--udr-images", "15"], "--udr-images must be a positive multiple of 10"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--grid", "nu=1"], "nu=1 must exceed latent_dim - 1"),
])
def test_bad_input_is_one_line(tmp_path, args, message):
    assert_one_error_line(tmp_path, args, message)


def assert_one_error_line(tmp_path, args, message):
    """``hwkeras sweep ARGS`` ends with one ``Error:`` line holding ``message``, exit 2, nothing written."""
    from hwkeras.cli.main import main

    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", *args, "--output-dir", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert not out.exists()


def test_resume_runs_the_trials_as_the_sweep_did_unless_told(tmp_path, monkeypatch):
    """--max-concurrent, --gpus-per-trial and --cpus-per-trial are kept in sweep.json: --resume used to
    forget them (and run as many trials at once as fit)."""
    from hwkeras.cli.main import main
    from hwkeras.sweep import directory, driver

    seen = []

    def run_sweep(plan, options, select_by, new, write_page=None):  # all but Ray: the plan and the options it runs with
        if new:
            os.makedirs(plan.sweep_dir)
            directory.write_spec(plan.sweep_dir, plan.spec)
        seen.append({name: options[name] for name in ("max_concurrent", "gpus_per_trial", "cpus_per_trial")})

    monkeypatch.setattr(driver, "run_sweep", run_sweep)
    out = str(tmp_path / "s")
    new = ["sweep", "--model", "vae", "--seeds", "1", "--steps", "4", "--batch-size", "4", "--image-size", "32",
           "--latent-dim", "2", "--hidden-units", "8", "--max-concurrent", "3", "--cpus-per-trial", "1",
           "--output-dir", out]
    runner = CliRunner()
    for args in (new, ["sweep", "--resume", out], ["sweep", "--resume", out, "--max-concurrent", "1"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    assert seen == [{"max_concurrent": 3, "gpus_per_trial": None, "cpus_per_trial": 1},
                    {"max_concurrent": 3, "gpus_per_trial": None, "cpus_per_trial": 1},
                    {"max_concurrent": 1, "gpus_per_trial": None, "cpus_per_trial": 1}]


def test_directory_errors_are_one_line(tmp_path):
    from hwkeras.cli.main import main

    runner = CliRunner()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "sweep.json").write_text("{}")
    cases = [
        (["sweep", "--output-dir", str(tmp_path / "old")], f"{tmp_path / 'old'} already exists; hwkeras sweep --resume "
                                                           f"{tmp_path / 'old'} finishes that sweep"),
        # Neither message sends the user to the other command (they went in a circle).
        (["sweep", "--resume", str(tmp_path / "run")], "is not a sweep directory (it has no sweep.json); start one "
                                                       "with hwkeras sweep --output-dir NEW_DIR ..."),
        (["sweep", "--select", str(tmp_path / "run")], "is not a sweep directory"),
        (["sweep", "--resume"], "--resume needs the sweep's directory"),
        (["sweep", str(tmp_path / "run")], "SWEEP_DIR alone is for --resume and --select"),
        (["sweep", "--output-dir", str(tmp_path / "run")], f"--output-dir {tmp_path / 'run'} is a run directory of "
                                                           "hwkeras fit (it has config.json), not a sweep; a new sweep "
                                                           "needs a new or empty --output-dir"),
        (["sweep", "--resume", str(tmp_path / "run"), "--model", "vae"], "drop --model"),
    ]
    for args, message in cases:
        result = runner.invoke(main, args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], (args, result.output)
    assert sorted(os.listdir(tmp_path / "run")) == ["config.json"]


# -- the library pieces --------------------------------------------------------------------------------

def test_grid_expands_each_model_with_the_keys_it_takes():
    from hwkeras.sweep import grid

    takes = {"chyvae": {"nu"}, "beta-vae": {"beta"}, "vae": {"beta"}}
    values = grid.parse_grid(["nu=20,1e4", "beta=1,4", "learning_rate=0.001"],
                             lambda key, text: float(text))
    trials = grid.expand(["chyvae", "beta-vae"], values, [0, 1], lambda m, k: k in takes[m], {"nu", "beta"})
    assert [t.name for t in trials] == [
        "chyvae-learning_rate=0.001-nu=20-seed0", "chyvae-learning_rate=0.001-nu=20-seed1",
        "chyvae-learning_rate=0.001-nu=10000-seed0", "chyvae-learning_rate=0.001-nu=10000-seed1",
        "beta-vae-beta=1-learning_rate=0.001-seed0", "beta-vae-beta=1-learning_rate=0.001-seed1",
        "beta-vae-beta=4-learning_rate=0.001-seed0", "beta-vae-beta=4-learning_rate=0.001-seed1"]
    assert trials[2].values == {"learning_rate": 0.001, "nu": 10000.0} and trials[2].configuration == \
        "chyvae-learning_rate=0.001-nu=10000"
    assert [t.name for t in grid.expand(["vae"], {}, [0], lambda m, k: False, set())] == ["vae-seed0"]
    with pytest.raises(ValueError, match="none of the selected models"):
        grid.check_applies({"nu": [1.0]}, {}, ["vae"], lambda m, k: k in takes[m], {"nu", "beta"})
    with pytest.raises(ValueError, match="cannot be part of a directory name"):
        grid.parse_grid(["psi=a/b"], lambda key, text: text)


def test_metric_columns_and_their_protocols():
    from hwkeras.sweep.measure import metric_columns

    assert metric_columns("factor_vae,mig") == [("dlib", "factor_vae"), ("dlib", "mig"), ("chyvae", "factor_vae")]
    assert metric_columns("chyvae.factor_vae,dlib.mig") == [("dlib", "mig"), ("chyvae", "factor_vae")]
    assert metric_columns("none") == []
    assert len(metric_columns("all")) == 7
    with pytest.raises(ValueError, match="unknown metric"):
        metric_columns("nope")


def test_reconstruction_nll_is_the_bernoulli_nll_at_the_posterior_mean():
    from scipy.special import log_expit

    from hwkeras.sweep.measure import reconstruction_nll

    rng = np.random.RandomState(0)
    images = (rng.uniform(size=(7, 8, 8, 1)) > 0.5).astype(np.float32)
    logits = rng.normal(scale=3.0, size=(7, 8, 8, 1)).astype(np.float32)

    class Stub:
        """encode -> (mean,) is the image index; decode_logits(mean) looks the logits up: checks the mean is used."""

        def encode(self, x):
            index = [int(np.flatnonzero((images == xi).all(axis=(1, 2, 3)))[0]) for xi in np.asarray(x)]
            return (np.asarray(index, np.float32)[:, None], None)

        def decode_logits(self, z):
            return logits[np.asarray(z, int)[:, 0]]

    expected = -np.mean(np.sum(images * log_expit(logits.astype(np.float64))
                               + (1 - images) * log_expit(-logits.astype(np.float64)), axis=(1, 2, 3)))
    assert reconstruction_nll(Stub(), images, batch_size=3) == pytest.approx(expected, rel=1e-5)
    logits[:] = 0.0
    assert reconstruction_nll(Stub(), images) == pytest.approx(64 * math.log(2), rel=1e-6)


def test_selection_scores_are_udr_from_codes_of_each_group():
    from hwkeras.metrics.udr import udr_from_codes
    from hwkeras.sweep.selection import udr_scores

    rng = np.random.RandomState(3)
    base = rng.normal(size=(200, 3))
    codes = {f"m-seed{i}": (base[:, rng.permutation(3)] + 0.1 * i * rng.normal(size=(200, 3)), np.ones(3))
             for i in range(3)}
    codes["n-seed0"] = (rng.normal(size=(200, 3)), np.ones(3))
    codes["n-seed1"] = (np.full((200, 3), np.nan), np.ones(3))  # a diverged trial: left out of UDR
    groups = {name: name.split("-seed")[0] for name in codes}
    scores = udr_scores(codes, groups)
    within = udr_from_codes([codes[f"m-seed{i}"][0] for i in range(3)], [np.ones(3)] * 3, np.random.RandomState(0))
    assert [scores[f"m-seed{i}"]["udr_lasso"] for i in range(3)] == within["model_scores"]
    assert "udr_lasso" not in scores["n-seed0"] and scores["n-seed1"] == {}  # alone in its configuration
    a2a = udr_from_codes([codes[n][0] for n in ("m-seed0", "m-seed1", "m-seed2", "n-seed0")], [np.ones(3)] * 4,
                         correlation_matrix="spearman")
    assert [scores[n]["udr_a2a_spearman"] for n in ("m-seed0", "m-seed1", "m-seed2", "n-seed0")] == a2a["model_scores"]


def test_fit_never_imports_ray():
    """Ray is imported by the sweep's runner and trial (inside functions), by hwkeras serve's app (Ray
    Serve, which only the serve command loads) and by ray_cluster (--address, inside a function) only;
    fit's modules never reach them."""
    for folder in ("hwkeras", "cli", "layers"):
        for path in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True):
            text = open(path).read()
            if "import ray" in text or "from ray" in text:
                assert os.path.relpath(path, ROOT) in ("hwkeras/sweep/runner.py", "hwkeras/sweep/trial.py",
                                                       "hwkeras/serve/app.py", "hwkeras/ray_cluster.py"), path
    assert "sweep" not in open(os.path.join(ROOT, "cli", "fit.py")).read()
    done = subprocess.run([sys.executable, "-c", "import sys, hwkeras.cli.main, hwkeras.cli.fit, hwkeras.sweep.grid, "
                           "hwkeras.sweep.results, hwkeras.sweep.directory; print('ray' in sys.modules)"],
                          capture_output=True, text=True, timeout=deadline(120))
    assert done.stdout.strip() == "False", done.stderr


def test_gpu_share_and_the_trials_gpu_environment(monkeypatch):
    from hwkeras.sweep.runner import gpus_per_trial
    from hwkeras.sweep.trial import trial_environment

    assert gpus_per_trial(None, 1, 8) == 0.125 and gpus_per_trial(None, 2, 8) == 0.25
    assert gpus_per_trial(None, 1, None) == 1.0 and gpus_per_trial(None, 0, 8) == 0.0
    assert gpus_per_trial(0.5, 1, None) == 0.5 and gpus_per_trial(2, 4, None) == 2.0
    for requested, cluster, message in ((0.5, 0, "has 0 GPUs"), (1.5, 2, "fractions below 1"), (-1, 1, ">= 0")):
        with pytest.raises(ValueError, match=message):
            gpus_per_trial(requested, cluster, None)
    for key in ("CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE", "TF_FORCE_GPU_ALLOW_GROWTH", "KERAS_BACKEND",
                "JAX_COMPILATION_CACHE_DIR"):
        monkeypatch.delenv(key, raising=False)
    trial_environment({"backend": "jax", "gpus_per_trial": 0.25})
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" and os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ and os.environ["KERAS_BACKEND"] == "jax"
    assert os.environ["JAX_COMPILATION_CACHE_DIR"].endswith(os.path.join("hwkeras", "jax"))
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE")
    trial_environment({"backend": "jax", "gpus_per_trial": 0})  # Ray gave no GPU: Keras must not take one
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    trial_environment({"backend": "jax", "gpus_per_trial": 1})  # a whole GPU: JAX's own policy
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ and "CUDA_VISIBLE_DEVICES" not in os.environ
