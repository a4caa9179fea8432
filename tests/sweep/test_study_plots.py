"""The study's pictures (hwkeras.sweep.study_plots): the rank correlations between metrics against
scipy.stats.spearmanr, and the distributions over seeds grouped as the study groups them."""

import io

import numpy as np
import pytest
import scipy.stats
from PIL import Image

from hwkeras.sweep import study_plots

COLUMNS = ("dlib.factor_vae", "dlib.mig", "dlib.dci", "udr_lasso")


def results_rows(seed=0):
    """results.csv-like rows (strings): 2 models x 3 settings x 4 seeds, some cells blank, a failed
    trial with numbers (to be left out), a tie, a constant column."""
    rng = np.random.RandomState(seed)
    rows = []
    for model, key, values in (("beta-vae", "beta", (1, 4, 16)), ("factor-vae", "gamma", (10, 30, 100))):
        for value in values:
            for s in range(4):
                base = rng.uniform(0, 1)
                row = {"trial": f"{model}-{key}={value}-seed{s}", "configuration": f"{model}-{key}={value}",
                       "model": model, "seed": str(s), "status": "finished",
                       "dlib.factor_vae": f"{base + 0.1 * rng.normal():.4f}",
                       "dlib.mig": f"{0.5 * base + 0.2 * rng.normal():.4f}",
                       "dlib.dci": f"{round(rng.uniform(0, 1), 1):.1f}",  # one decimal: ties
                       "udr_lasso": "0.5"}  # constant: rho undefined
                rows.append(row)
    rows[3]["dlib.mig"] = ""  # pairwise complete: this trial counts for the pairs without mig
    rows[7]["dlib.dci"] = "nan"
    rows[10].update(status="failed")  # numbers of a failed trial are not a model's scores
    rows[15].update(status="running", **{"dlib.factor_vae": "", "dlib.mig": "", "dlib.dci": ""})
    return rows


def test_rank_correlations_equal_scipy_spearmanr_on_pairwise_complete_trials():
    rows = results_rows()
    found = study_plots.rank_correlations(rows, list(COLUMNS))
    assert found["columns"] == list(COLUMNS)
    done = [r for r in rows if r["status"] == "finished"]
    checked = 0
    for i, a in enumerate(COLUMNS[:3]):
        for j, b in enumerate(COLUMNS[:3]):
            pairs = [(float(r[a]), float(r[b])) for r in done
                     if r[a] not in ("", "nan") and r[b] not in ("", "nan")]
            expected = scipy.stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
            assert found["n"][i][j] == len(pairs)
            assert found["rho"][i][j] == pytest.approx(expected, abs=1e-12)
            checked += 1
    assert checked == 9
    # 24 trials less the failed and the running one, less row 3 (no mig) and row 7 (dci nan) where they count.
    assert (found["n"][0][0], found["n"][0][1], found["n"][0][2], found["n"][1][2]) == (22, 21, 21, 20)
    assert found["rho"][0][0] == pytest.approx(1.0)
    assert -1 < found["rho"][0][1] < 1 and found["rho"][0][1] != pytest.approx(found["rho"][0][2])
    assert all(found["rho"][3][j] is None for j in range(4))  # a constant column has no rank correlation
    assert found["rho"] == [list(x) for x in zip(*found["rho"])]  # symmetric


def test_rank_correlations_against_a_hand_computed_case():
    # Ranks of x: 1 2 3 4; of y: 2 1 4 3 -> d^2 = 4 -> rho = 1 - 6*4/(4*15) = 0.6.
    rows = [{"status": "finished", "a": str(x), "b": str(y)} for x, y in ((1, 20), (2, 10), (3, 40), (4, 30))]
    found = study_plots.rank_correlations(rows, ["a", "b"])
    assert found["rho"][0][1] == pytest.approx(0.6, abs=1e-12) and found["n"][0][1] == 4


def test_setting_groups_keep_the_sweeps_order_and_only_finished_trials():
    rows = results_rows()
    groups = study_plots.setting_groups(rows, "dlib.factor_vae")
    assert [model for model, _ in groups] == ["beta-vae", "factor-vae"]
    assert [name for name, _ in groups[0][1]] == ["beta=1", "beta=4", "beta=16"]
    assert [len(values) for _, settings in groups for _, values in settings] == [4, 4, 3, 3, 4, 4]
    assert groups[0][1][0][1] == [float(r["dlib.factor_vae"]) for r in rows[:4]]


@pytest.mark.parametrize("draw", ["distribution", "correlation"])
def test_the_pictures_are_pngs(draw):
    rows = results_rows()
    buffer = io.BytesIO()
    if draw == "distribution":
        assert study_plots.distribution_plot(rows, "dlib.mig", buffer) == 21
    else:
        study_plots.rank_correlation_plot(study_plots.rank_correlations(rows, list(COLUMNS)), buffer)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 250
    assert np.asarray(image.convert("L")).std() > 10  # something is drawn on it


def test_a_distribution_of_nothing_says_so():
    rows = [{**r, "status": "failed"} for r in results_rows()]
    assert study_plots.distribution_plot(rows, "dlib.mig", io.BytesIO()) == 0


# -- on the sweep's page, in headless Chromium -----------------------------------------------------------

def write_results(sweep_dir, rows):
    import csv
    import json

    sweep_dir.mkdir()
    header = ["trial", "configuration", "model", "beta", "gamma", "seed", "status", *COLUMNS, "run_dir"]
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        for row in rows:
            key, value = row["configuration"].split("-")[-1].split("=")
            writer.writerow({**{h: "" for h in header}, **row, key: value, "run_dir": f"trials/{row['trial']}"})
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "models": ["beta-vae", "factor-vae"], "grid": {"beta": [1, 4, 16], "gamma": [10, 30, 100]}, "seeds": 4,
        "fit_options": {}, "metric_columns": list(COLUMNS[:3])}))


def test_the_pictures_on_the_sweep_page_in_chromium(tmp_path):
    from tests.report.test_report import assert_all_images_loaded, chromium_dom, report

    rows = results_rows()
    write_results(tmp_path / "sweep", rows)
    result = report(tmp_path / "sweep", "--no-run-reports")
    assert result.exit_code == 0, result.output
    page_path = tmp_path / "sweep" / "report.html"
    source = page_path.read_text(encoding="utf-8")
    page = chromium_dom(page_path, tmp_path)
    assert_all_images_loaded(page, source)
    shown = [img.get("alt") for img in page.images]
    # The metrics, then udr_lasso (it has values; the other UDR columns are blank): one picture each.
    assert [a for a in shown if a.endswith("over seeds per setting")] == [
        f"{c} over seeds per setting" for c in COLUMNS]
    assert "Spearman rank correlations between the scores" in shown
    cells = Cells(source).cells
    assert len(cells) == len(COLUMNS) ** 2
    done = [r for r in rows if r["status"] == "finished"]
    for (a, b), (rho, n) in cells.items():
        pairs = [(float(r[a]), float(r[b])) for r in done if r[a] not in ("", "nan") and r[b] not in ("", "nan")]
        if "udr_lasso" in (a, b):
            assert rho == "" and n == str(len(pairs))
            continue
        assert float(rho) == pytest.approx(scipy.stats.spearmanr(*zip(*pairs)).statistic, abs=1e-12)
        assert n == str(len(pairs))


class Cells:
    """The rank-correlation table's cells: (row, column) -> (data-rho, data-n)."""

    def __init__(self, html):
        from html.parser import HTMLParser

        self.cells = {}
        parser = HTMLParser()
        parser.handle_starttag = self._start
        parser.feed(html)

    def _start(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "rho" in (a.get("class") or "").split():
            self.cells[(a["data-row"], a["data-column"])] = (a["data-rho"], a["data-n"])
