"""``hwkeras sweep --study unsupervised_study_v1``: a tiny study run end to end on the CPU, its page
with the study's two pictures checked in headless Chromium; the study's options refused in one line.

The tiny study: 2 methods x 2 settings x 2 seeds of disentanglement_lib's numbering on dSprites
(model numbers 0, 1 = beta-VAE beta 1 seeds 0, 1; 50, 51 = beta 2; 300, 301 = FactorVAE gamma 10;
350, 351 = gamma 20), --architecture dlib and --preset locatello as the study has them but 4 steps of
batch 8, on a dSprites file in the official schema made of the 320 real frames of dsprites.gif. The
trials run as test_sweep.py's do: JAX backend, no TensorFlow, a local Ray of their own.
"""

import csv
import json
import os
import subprocess
import sys

import pytest
import scipy.stats

from tests.helpers import DSPRITES_FILE, deadline, write_real_dsprites
from tests.sweep.test_sweep import assert_one_error_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
MODEL_NUMS = (0, 1, 50, 51, 300, 301, 350, 351)
TINY = ["--backend", "jax", "--steps", "4", "--batch-size", "8", "--summary-every", "0", "--checkpoint-every", "4",
        "--evaluate", "mig,sap", "--evaluate-param", "mig.num_train=64", "--evaluate-param", "sap.num_train=64",
        "--evaluate-param", "sap.num_test=32", "--nll-images", "16", "--udr-images", "20",
        "--max-concurrent", "2"]


def real_dsprites(folder):
    """dSprites' npz schema holding the 320 real frames (their factor labels are a stand-in grid)."""
    return write_real_dsprites(os.path.join(folder, DSPRITES_FILE))


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    base = tmp_path_factory.mktemp("study")
    data = real_dsprites(str(base))
    sweep_dir = str(base / "study")
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=NO_TENSORFLOW, XDG_CACHE_HOME=str(base / "cache"),
               TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "hwkeras.cli.main", "sweep", "--study", "unsupervised_study_v1",
                           "--dataset", "dsprites", "--data-dir", data,
                           "--model-num", ",".join(map(str, MODEL_NUMS)), *TINY, "--output-dir", sweep_dir],
                          env=env, capture_output=True, text=True, timeout=deadline(900))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return sweep_dir, done


@pytest.mark.slow
def test_the_trials_are_disentanglement_libs_models(tiny_study):
    from hwkeras.sweep import study

    sweep_dir, _ = tiny_study
    header, rows = read_csv(os.path.join(sweep_dir, "results.csv"))
    assert "model_num" in header
    assert [int(r["model_num"]) for r in rows] == list(MODEL_NUMS)
    for row in rows:
        expected = study.configuration(int(row["model_num"]))
        assert row["status"] == "finished" and row["steps"] == "4"
        assert (row["model"], int(row["seed"])) == (expected["model"], expected["seed"])
        assert float(row[expected["hyperparameter"]]) == expected["value"]
        with open(os.path.join(sweep_dir, row["run_dir"], "config.json")) as f:
            config = json.load(f)
        assert config["study"]["model_num"] == expected["model_num"]
        assert config["study"]["name"] == "unsupervised_study_v1"
        assert config["model"] == expected["model"] and config["seed"] == expected["seed"]
        assert config["model_options"] == expected["model_options"]
        assert (config["architecture"], config["preset"]) == ("dlib", "locatello")
        assert config["latent_dim"] == 10 and config["dataset"] == "dsprites"
        with open(os.path.join(sweep_dir, row["run_dir"], "trial.json")) as f:
            assert json.load(f)["model_num"] == expected["model_num"]
    with open(os.path.join(sweep_dir, "sweep.json")) as f:
        spec = json.load(f)
    assert spec["study"]["name"] == "unsupervised_study_v1" and spec["study"]["model_nums"] == list(MODEL_NUMS)
    _, summary = read_csv(os.path.join(sweep_dir, "summary.csv"))
    assert "model_num_mean" not in summary[0]  # a label, not a measurement


@pytest.mark.slow
def test_the_study_pictures_on_the_page_in_chromium(tiny_study, tmp_path):
    from tests.report.test_report import assert_all_images_loaded, chromium_dom
    from tests.sweep.test_study_plots import Cells

    sweep_dir, _ = tiny_study
    page_path = os.path.join(sweep_dir, "report.html")
    source = open(page_path, encoding="utf-8").read()
    page = chromium_dom(page_path, tmp_path)
    assert_all_images_loaded(page, source)
    alts = [img.get("alt") for img in page.images]
    assert "dlib.mig over seeds per setting" in alts
    assert "Spearman rank correlations between the scores" in alts
    _, rows = read_csv(os.path.join(sweep_dir, "results.csv"))
    cells = Cells(source).cells
    columns = sorted({a for a, _ in cells})
    assert {"dlib.mig", "dlib.sap", "udr_lasso"} <= set(columns)
    checked = 0
    for (a, b), (rho, n) in cells.items():
        x, y = [float(r[a]) for r in rows], [float(r[b]) for r in rows]
        assert n == "8"
        if len(set(x)) < 2 or len(set(y)) < 2:  # Spearman's rho is undefined: the cell is blank
            assert rho == ""
            continue
        assert float(rho) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
        checked += 1
    assert checked >= 4  # mig and sap vary over the trials (UDR may not: after 4 steps every latent can be below
    # UDR's KL threshold, UDR 0 for all, rho undefined and left blank)


@pytest.mark.parametrize("args,message", [
    (["--study", "nope", "--dataset", "dsprites"], "--study nope: the studies are unsupervised_study_v1"),
    (["--study", "unsupervised_study_v1", "--dataset", "mnist"], "'mnist' is not a dataset of unsupervised_study_v1"),
    (["--study", "unsupervised_study_v1", "--model-num", "12600"], "model number 12600 is outside"),
    (["--study", "unsupervised_study_v1", "--model-num", "0,1800"], "--model-num spans datasets"),
    (["--study", "unsupervised_study_v1", "--dataset", "color-dsprites", "--model-num", "0"],
     "--model-num 0 is dsprites's, not color-dsprites's"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--model-num", "0", "--models", "beta-vae"],
     "--model-num names the models itself"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--model", "chyvae"],
     "--study chooses the models; drop --model"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--grid", "beta=1,2"],
     "--study chooses the hyperparameters; drop --grid"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--models", "vae"],
     "'vae' is not a method of unsupervised_study_v1"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--seeds", "51"], "--seeds must be 1 .. 50"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--with", "vae"], "--with vae: only chyvae"),
    (["--study", "unsupervised_study_v1", "--dataset", "dsprites", "--architecture", "chyvae"],
     "--study trains disentanglement_lib's architecture"),
    (["--model-num", "0"], "--model-num, --models and --with belong to --study"),
])
def test_bad_study_options_are_one_line(tmp_path, args, message):
    assert_one_error_line(tmp_path, args, message)
