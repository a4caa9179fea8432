"""``hwkeras report``: pages checked in a real browser, KL ordering against oracles, bad input, TensorBoard.

The run and sweep directories are real (tests/report_fixtures.py): tiny models trained a few steps,
saved, evaluated. The pages are loaded by headless Chromium (Debian's ``chromium``, installed by
.ci/run); a missing browser fails the test rather than skipping it.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner
from PIL import Image

from hwkeras.report import latents
from hwkeras.report.pictures import gif_bytes
from tests import report_fixtures as fixtures
from tests.helpers import deadline

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
# Run once the page has loaded: writes every image's naturalWidth into the DOM that --dump-dom prints.
IMAGE_PROBE = ('<script>window.addEventListener("load", function () { var r = [];'
               ' document.querySelectorAll("img").forEach(function (i) { r.push(i.naturalWidth); });'
               ' var p = document.createElement("pre"); p.id = "image-probe"; p.textContent = JSON.stringify(r);'
               ' document.body.appendChild(p); });</script>')


# -- reading pages -----------------------------------------------------------------------------------

class Page(HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self, html):
        super().__init__()
        self.images, self.latent_rows, self.metric_rows, self.notes, self.links = [], [], [], [], []
        self.probe = None
        self.configurations, self.trials = [], []
        self._capture = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "img":
            self.images.append(a)
        elif tag == "tr" and "latent" in classes:
            self.latent_rows.append(a)
        elif tag == "tr" and "metric-row" in classes:
            self.metric_rows.append(a)
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "td" and "trial" in classes:
            self.trials.append(a["data-trial"])
        elif tag == "h3" and "configuration" in classes:
            self.configurations.append(a["data-configuration"])
        if (tag == "li" and "note" in classes) or (tag == "pre" and a.get("id") == "image-probe"):
            self._capture = [tag, a.get("id"), ""]

    def handle_data(self, data):
        if self._capture is not None:
            self._capture[2] += data

    def handle_endtag(self, tag):
        if self._capture is not None and tag == self._capture[0]:
            if self._capture[1] == "image-probe":
                self.probe = json.loads(self._capture[2])
            else:
                self.notes.append(self._capture[2].strip())
            self._capture = None


def chromium_dom(page_path, tmp_path):
    """The page's DOM after Chromium loaded it, with the image probe's result in it."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run installs it); "
                    "the report tests check the pages in a real browser")
    probed = tmp_path / f"probed-{os.path.basename(page_path)}"
    html = open(page_path, encoding="utf-8").read()
    probed.write_text(html.replace("</body>", IMAGE_PROBE + "</body>"), encoding="utf-8")
    # The probed copy sits beside nothing: the page must carry its pictures inside itself.
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
                             "--dump-dom", probed.as_uri()],
                            capture_output=True, text=True, timeout=deadline(60))
    assert result.returncode == 0, result.stderr[-2000:]
    return Page(result.stdout)


def data_uri_bytes(uri):
    header, payload = uri.split(",", 1)
    assert header.endswith(";base64")
    return base64.b64decode(payload)


def report(*args):
    from hwkeras.cli.report import report_command

    return CliRunner().invoke(report_command, [str(a) for a in args])


def assert_all_images_loaded(page, source):
    assert page.probe is not None, "the probe script did not run"
    assert len(page.probe) == len(Page(source).images) > 0
    assert all(width > 0 for width in page.probe), page.probe
    assert all(img["src"].startswith("data:image/") for img in page.images)  # nothing fetched


# -- the KL that orders the rows, against independent oracles -----------------------------------------

class FixedPosterior:
    """Stands in for a model: encode() returns fixed posterior parameters."""

    def __init__(self, mean, second, psi=None, nu=None):
        self.mean, self.second = mean, second
        self.latent_dim = mean.shape[1]
        if psi is not None:
            self.psi, self.nu = psi, nu

    def encode(self, x):
        index = np.asarray(x)[:, 0, 0, 0].astype(int)
        return self.mean[index], self.second[index]


def monte_carlo_kl(mean, variance, prior_variance, rng, draws=400_000):
    """E_q[log q(z) - log p(z)] by sampling, with scipy's densities, averaged over images."""
    values = []
    for m, v in zip(mean, variance):
        z = rng.normal(m, np.sqrt(v), size=draws)
        values.append(np.mean(scipy.stats.norm.logpdf(z, m, np.sqrt(v))
                              - scipy.stats.norm.logpdf(z, 0.0, np.sqrt(prior_variance))))
    return np.mean(values)


def test_diagonal_kl_matches_monte_carlo():
    rng = np.random.RandomState(0)
    n, p = 3, 4
    mean = rng.normal(0, 1.2, (n, p))
    log_variance = rng.normal(-1, 0.8, (n, p))
    model = FixedPosterior(mean, log_variance)
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.float32)
    kl = latents.latent_kl(model, images)
    for j in range(p):
        oracle = monte_carlo_kl(mean[:, j], np.exp(log_variance[:, j]), 1.0, rng)
        assert kl[j] == pytest.approx(oracle, abs=4e-3, rel=2e-2)


def test_chyvae_kl_is_the_marginal_against_the_mean_covariance():
    rng = np.random.RandomState(1)
    n, p, nu = 3, 3, 9.0
    mean = rng.normal(0, 1.0, (n, p))
    lower = np.tril(rng.normal(0, 0.4, (n, p, p)))
    lower[:, np.arange(p), np.arange(p)] = np.abs(lower[:, np.arange(p), np.arange(p)]) + 0.3
    psi = np.diag([2.0, 5.0, 10.0]) + 0.5
    model = FixedPosterior(mean, lower, psi=psi, nu=nu)
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    kl = latents.latent_kl(model, images)
    prior = np.diag(scipy.stats.invwishart(df=nu, scale=psi).mean())  # E[Sigma] = Psi / (nu - p - 1)
    covariance = lower @ np.swapaxes(lower, 1, 2)
    for j in range(p):
        oracle = monte_carlo_kl(mean[:, j], covariance[:, j, j], prior[j], rng)
        assert kl[j] == pytest.approx(oracle, abs=4e-3, rel=2e-2)
    # nu <= p + 1: no mean; the documented fallback is Psi / max(nu - p - 1, 1) = Psi.
    assert np.allclose(latents.prior_marginal_variance(FixedPosterior(mean, lower, psi=psi, nu=3.5)), np.diag(psi))


def test_rows_are_sorted_by_kl_and_collapsed_below_the_threshold():
    rows = latents.latent_rows([0.5, 0.001, 2.0, 0.5, latents.COLLAPSED_KL])
    assert [r["latent"] for r in rows] == [2, 0, 3, 4, 1]
    assert [r["collapsed"] for r in rows] == [False, False, False, False, True]


def test_gif_keeps_one_frame_per_value_even_when_the_frames_are_alike():
    frames = np.zeros((7, 16, 16), np.uint8)  # a collapsed latent: every decoded frame the same
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    assert gif.n_frames == 7 and gif.info["loop"] == 0


# -- a run's page in a browser ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    model = fixtures.make_run(str(run_dir), nu=12.0, eval_every=True)
    return run_dir, model


def expected_kl(model, config):
    """The ordering KL recomputed here from the model's raw encoder outputs (CHyVAE: E[Sigma] by scipy)."""
    from hwkeras.data import get_dataset

    images = get_dataset(config["dataset"], **config["dataset_options"]).sample_observations(
        latents.KL_IMAGES, np.random.RandomState(latents.PREVIEW_SEED))
    mean, scale_tril = (np.asarray(t, np.float64) for t in model.encode(images))
    variance = np.einsum("bij,bij->bi", scale_tril, scale_tril)
    prior = np.diag(scipy.stats.invwishart(df=model.nu, scale=model.psi).mean())
    return np.mean(0.5 * (variance / prior + mean ** 2 / prior - 1 - np.log(variance / prior)), axis=0)


def test_run_page_in_chromium(tiny_run, tmp_path):
    from hwkeras.metrics.evaluate import scalar_rows
    from hwkeras.viz import TRAVERSAL_STEPS

    run_dir, model = tiny_run
    result = report(run_dir)
    assert result.exit_code == 0, result.output
    page_path = run_dir / "report.html"
    from hwkeras.files import is_report_page

    assert is_report_page(page_path)  # what report --overwrite may replace
    assert f"Wrote {page_path}" in result.output
    source = page_path.read_text(encoding="utf-8")
    page = chromium_dom(page_path, tmp_path)
    assert page.notes == []

    assert_all_images_loaded(page, source)
    gifs = [img for img in page.images if "gif" in img.get("class", "").split()]
    assert len(gifs) == fixtures.LATENT_DIM
    for img in gifs:
        assert Image.open(io.BytesIO(data_uri_bytes(img["src"]))).n_frames == TRAVERSAL_STEPS

    record = json.loads((run_dir / "metrics.json").read_text())
    shown = [(r["data-metric"], r["data-score"], float(r["data-value"])) for r in page.metric_rows]
    assert shown == [(m, k, float(v)) for m, k, v in scalar_rows(record)] and shown

    config = json.loads((run_dir / "config.json").read_text())
    kl = expected_kl(model, config)
    order = [int(r["data-latent"]) for r in page.latent_rows]
    assert order == list(np.argsort(-kl, kind="stable"))
    assert [float(r["data-kl"]) for r in page.latent_rows] == pytest.approx(kl[order], rel=1e-4, abs=1e-6)
    collapsed = ["collapsed" in r["class"].split() for r in page.latent_rows]
    assert collapsed == [bool(kl[j] < latents.COLLAPSED_KL) for j in order]
    # CHyVAE: one prior-sample row per nu that keeps nu > p + 1 (12 * 0.25 = 3 does not).
    assert source.count("prior samples nu = ") == 3 and "(the model&#39;s)" in source


def test_write_run_report_with_the_model_in_memory(tiny_run, tmp_path):
    from hwkeras.report import write_run_report

    run_dir, model = tiny_run
    path = write_run_report(str(run_dir), model=model, output=str(tmp_path / "page.html"))
    assert path == str(tmp_path / "page.html")
    page = Page(open(path, encoding="utf-8").read())
    assert len(page.latent_rows) == fixtures.LATENT_DIM and page.notes == []


def damage(run_dir, tmp_path, kind):
    broken = tmp_path / kind
    shutil.copytree(run_dir, broken, ignore=shutil.ignore_patterns("report.html"))
    if kind == "no-model":
        (broken / "model.keras").unlink()
    elif kind == "truncated-history":
        text = (broken / "history.csv").read_text()
        (broken / "history.csv").write_text(text[: len(text) - 20])  # mid-way through the last row
    elif kind == "no-metrics":
        (broken / "metrics.json").unlink()
    elif kind == "unknown-dataset":
        config = json.loads((broken / "config.json").read_text())
        (broken / "config.json").write_text(json.dumps({**config, "dataset": "not-here"}))
    return broken


@pytest.mark.parametrize("kind,note,still_there,gone", [
    ("no-model", "model.keras is missing: no traversals", ["metric-row", "curves-image", "settings-table"],
     ['class="latent', "reconstructions-image"]),
    ("truncated-history", "history.csv: 1 of 2 rows incomplete", ["curves-image", "metric-row", 'class="latent'], []),
    ("no-metrics", "no metrics.json: `hwkeras evaluate RUN_DIR`", ["curves-image", 'class="latent', "settings-table"],
     ["metric-row"]),
    ("unknown-dataset", "dataset 'not-here' is not available here (ValueError: unknown dataset",
     ['class="latent', "metric-row", "prior-samples-table"], ["reconstructions-image"]),
])
def test_a_damaged_run_gives_a_page_with_a_note(tiny_run, tmp_path, kind, note, still_there, gone):
    broken = damage(tiny_run[0], tmp_path, kind)
    result = report(broken)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    source = (broken / "report.html").read_text(encoding="utf-8")
    page = Page(source)
    assert len(page.notes) == 1 and page.notes[0].startswith(note), page.notes
    assert f"Note: {page.notes[0]}" in result.output
    for marker in still_there:
        assert marker in source, marker
    for marker in gone:
        assert marker not in source, marker
    if kind == "unknown-dataset":  # no images to take KLs over: latent order, no KL
        assert [r["data-latent"] for r in page.latent_rows] == ["0", "1", "2"]
        assert all(r["data-kl"] == "" for r in page.latent_rows)


@pytest.mark.parametrize("make,message", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (lambda tmp: tmp, "is neither a run directory"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "is neither a run directory"),
])
def test_not_a_run_or_sweep_is_one_error_line(tmp_path, make, message):
    result = report(make(tmp_path))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_registered_in_main_group():
    from hwkeras.cli.main import main

    assert main.commands["report"].callback.__module__ == "hwkeras.cli.report"


def test_sweep_options_on_a_run_are_an_error(tiny_run):
    result = report(tiny_run[0], "--metric", "dlib.mig")
    assert result.exit_code == 2 and "apply to sweep directories" in result.output


# -- a sweep's page ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweeps") / "nu-beta"
    rows = fixtures.make_sweep(str(sweep_dir))
    return sweep_dir, rows


def test_sweep_page_in_chromium(tiny_sweep, tmp_path):
    sweep_dir, rows = tiny_sweep
    output = tmp_path / "sweep.html"
    result = report(sweep_dir, "--output", output, "--metric", "dlib.mig")
    assert result.exit_code == 0, result.output
    source = output.read_text(encoding="utf-8")
    page = chromium_dom(output, tmp_path)
    assert_all_images_loaded(page, source)
    assert page.notes == []
    assert 'id="tradeoff-image"' in source and "dlib.mig against reconstruction_nll" in source
    assert not (sweep_dir / "tradeoff.png").exists()  # drawn into the page, the sweep left as it was
    assert page.configurations == list(dict.fromkeys(r["configuration"] for r in rows))
    assert page.trials == [r["trial"] for r in rows]  # seeds in order within each configuration
    # Every finished trial: its latents, and a link to its run page, written because it was missing.
    finished = [r for r in rows if r["status"] == "finished"]
    assert len(page.latent_rows) == fixtures.LATENT_DIM * len(finished)
    for r in finished:
        link = os.path.relpath(sweep_dir / r["run_dir"] / "report.html", tmp_path)
        assert link in page.links and (tmp_path / link).is_file()
    assert "no model.keras" in source  # the failed trial's cell
    for r in rows:  # the results table, one row per trial
        assert f">{r['trial']}<" in source


def test_sweep_uses_its_own_tradeoff_png(tiny_sweep, tmp_path):
    from hwkeras.report.sweep import SUMMARY, read_csv
    from hwkeras.sweep.tradeoff import tradeoff_plot

    sweep_dir, _ = tiny_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    _, summary = read_csv(str(copy / SUMMARY), [])
    tradeoff_plot(summary, "dlib.factor_vae", str(copy / "tradeoff.png"))
    assert Image.open(copy / "tradeoff.png").size[0] > 300
    result = report(copy, "--no-run-reports")
    assert result.exit_code == 0, result.output
    page = Page((copy / "report.html").read_text(encoding="utf-8"))
    shown = [img for img in page.images if img.get("id") == "tradeoff-image"]
    assert data_uri_bytes(shown[0]["src"]) == (copy / "tradeoff.png").read_bytes()


def test_sweep_without_results_lists_its_trial_directories(tiny_sweep, tmp_path):
    sweep_dir, rows = tiny_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    (copy / "results.csv").unlink()
    (copy / "summary.csv").unlink()
    result = report(copy, "--no-run-reports")
    assert result.exit_code == 0, result.output
    page = Page((copy / "report.html").read_text(encoding="utf-8"))
    assert sorted(page.trials) == sorted(r["trial"] for r in rows)
    assert any(n.startswith("results.csv is missing") for n in page.notes)
    assert any(n.startswith("summary.csv is missing") for n in page.notes)


# -- TensorBoard -----------------------------------------------------------------------------------

def test_tensorboard_summaries_during_fit(tmp_path):
    import keras
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import hwkeras
    from hwkeras.report import TraversalSummaries
    from tests.helpers import ellipse_batch

    model = hwkeras.VAE(latent_dim=3, image_shape=(32, 32, 1), hidden_units=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # 5 steps: tracing would cost more
    images = ellipse_batch(40, image_size=32)
    callback = TraversalSummaries(str(tmp_path / "logs"), images[:16], every_n_steps=2)
    model.fit(images, batch_size=8, epochs=1, verbose=0, callbacks=[callback])  # 5 steps
    assert callback.written == [2, 4, 5]
    events = EventAccumulator(str(tmp_path / "logs" / "images"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    traversals = events.Images("traversals")
    assert [e.step for e in traversals] == [2, 4, 5]
    assert (traversals[-1].width, traversals[-1].height) == (10 * 34 + 2, 3 * 34 + 2)
    assert [e.step for e in events.Images("reconstructions")] == [2, 4, 5]
    final_kl = latents.latent_kl(model, images[:16])
    for j in range(3):
        assert events.Scalars(f"latent_kl/z{j}")[-1].value == pytest.approx(final_kl[j], rel=1e-4, abs=1e-6)
    assert events.Scalars("active_latents")[-1].value == sum(final_kl >= latents.COLLAPSED_KL)


NO_TENSORFLOW = """
import json, sys, warnings
sys.modules["tensorflow"] = None  # not importable, as on a JAX/torch machine without it
import numpy as np, keras, hwkeras
from hwkeras.report import TraversalSummaries

def fit(log_dir):
    model = hwkeras.VAE(latent_dim=2, image_shape=(16, 16, 1), hidden_units=8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.random.RandomState(0).rand(16, 16, 16, 1).astype("float32")
    callback = TraversalSummaries(log_dir, x[:8], every_n_steps=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    return {"written": callback.written,
            "notes": [str(w.message) for w in caught if "TraversalSummaries" in str(w.message)]}

with_tensorboard = fit(sys.argv[1] + "/with")
for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
    del sys.modules[name]
sys.modules["tensorboard"] = None  # and now without the tensorboard package either
without = fit(sys.argv[1] + "/without")
print(json.dumps({"backend": keras.backend.backend(), "with": with_tensorboard, "without": without}))
"""


def test_tensorboard_summaries_without_tensorflow(tmp_path):
    # torch: a backend that trains without TensorFlow (and without JAX's compile time in a test).
    env = dict(os.environ, KERAS_BACKEND="torch")
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=deadline(300))
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["backend"] == "torch"
    # The tensorboard package writes the events without TensorFlow ...
    assert outcome["with"] == {"written": [1, 2, 3, 4], "notes": []}
    assert list((tmp_path / "with" / "images").glob("events.out.tfevents.*"))
    # ... and without it there is one note, and training goes on.
    assert outcome["without"]["written"] == []
    assert len(outcome["without"]["notes"]) == 1, outcome["without"]
    assert outcome["without"]["notes"][0].startswith("TraversalSummaries: no TensorBoard images")
    assert not (tmp_path / "without" / "images").exists()


# -- the step history's curves, stale metrics (run pages) --------------------------------------------------

def test_the_curves_come_from_the_step_history_raw_and_smoothed(tiny_run, tmp_path, monkeypatch):
    from hwkeras.report import plots
    from hwkeras.report.run import gather_run

    run_dir, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report.html"))
    rng = np.random.RandomState(0)
    losses = 100 * np.exp(-np.arange(1, 121) / 40) + rng.normal(0, 3, 120)
    (copy / "history_steps.csv").write_text("step,loss,kl\n" + "".join(
        f"{s},{v},{v / 10}\n" for s, v in zip(range(2, 242, 2), losses)))
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "steps_per_epoch": 2}))
    drawn = []
    real = plots.training_curves

    def spy(series, path, xlabel="step", **kwargs):
        drawn.append((series, xlabel))
        return real(series, path, xlabel=xlabel, **kwargs)

    monkeypatch.setattr(plots, "training_curves", spy)
    context = gather_run(str(copy), pictures=False)
    assert context["curves"] and context["curves_source"] == {"file": "history_steps.csv", "xlabel": "step",
                                                              "points": 120, "every": 2}
    (series, xlabel), = drawn
    assert xlabel == "step" and list(series["loss"][0]) == list(range(2, 242, 2))
    assert list(series["loss"][1]) == pytest.approx(losses)
    assert list(series["eval_mig"][0]) == [2, 4]  # --eval-every's scores, at the ends of their epochs
    # Raw (thin, light) and its EMA (bold) in each panel of 10 points or more.
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    real({"loss": (list(range(120)), list(losses)), "short": ([1, 2, 3], [3.0, 2.0, 1.0])}, io.BytesIO())
    raw, smooth = figures[0].axes[0].lines
    assert raw.get_linewidth() < smooth.get_linewidth() and raw.get_alpha() < 1
    assert list(smooth.get_ydata()) == pytest.approx(plots.ema(list(losses)))
    assert np.std(np.diff(smooth.get_ydata())) < 0.3 * np.std(np.diff(losses))  # smoothed indeed
    assert len(figures[0].axes[1].lines) == 1  # 3 points: drawn as they are
    assert plots.ema([5.0, 5.0, 5.0]) == [5.0, 5.0, 5.0] and plots.ema([2.0, 4.0])[0] == 2.0  # debiased
    # A run without history_steps.csv: history.csv's epochs, at the epochs' last steps when config.json knows them.
    (copy / "history_steps.csv").unlink()
    (copy / "config.json").write_text(json.dumps({**config, "steps_per_epoch": 2, "steps_trained": 3}))
    drawn.clear()
    assert gather_run(str(copy), pictures=False)["curves_source"]["file"] == "history.csv"
    (series, xlabel), = drawn
    assert xlabel == "step" and list(series["loss"][0]) == [2, 3]  # the last epoch cut at step 3


def test_metrics_of_an_earlier_step_are_marked_stale_on_the_page(tiny_run, tmp_path):
    """Evaluated at step 150, trained on to 200 (fit --resume --steps 200): the page says so, with the command."""
    run_dir, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report.html"))
    record = json.loads((copy / "metrics.json").read_text())
    (copy / "metrics.json").write_text(json.dumps({**record, "training_steps": 150}))
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "steps_trained": 150}))
    result = report(copy)
    assert result.exit_code == 0, result.output
    source = (copy / "report.html").read_text(encoding="utf-8")
    assert Page(source).notes == [] and 'class="stale"' not in source and "step 150</h3>" in source
    (copy / "config.json").write_text(json.dumps({**config, "steps_trained": 200}))
    result = report(copy, "--overwrite")
    assert result.exit_code == 0, result.output
    source = (copy / "report.html").read_text(encoding="utf-8")
    note = (f"metrics.json: computed at step 150; the model is at step 200; rerun hwkeras evaluate {copy} "
            f"--metrics factor_vae,mig --overwrite")
    assert Page(source).notes == [note]
    assert f"Note: {note}" in result.output
    assert ('<p class="stale" data-file="metrics.json"><b>Stale:</b> computed at step 150; the model is at step 200.'
            in source)
    assert 'class="metric-table stale-metrics"' in source


# -- the sweep's answer: the UDR choice and its agreement with the metrics --------------------------------

def chromium_probe(page_path, tmp_path, script):
    """``script`` (JavaScript setting ``out``) run in headless Chromium at 1280 x 900 once the page loaded."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run installs it)")
    probe = ('<script>window.addEventListener("load", function () { var out = null; ' + script +
             ' var p = document.createElement("pre"); p.id = "probe"; p.textContent = JSON.stringify(out);'
             ' document.body.appendChild(p); });</script>')
    probed = tmp_path / "probed.html"
    probed.write_text(open(page_path, encoding="utf-8").read().replace("</body>", probe + "</body>"), encoding="utf-8")
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1280,900",
                             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", probed.as_uri()],
                            capture_output=True, text=True, timeout=deadline(60))
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    return json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))


def test_sweep_page_shows_the_udr_choice_and_its_agreement(tiny_sweep, tmp_path):
    from hwkeras.report.sweep import readable

    sweep_dir, rows = tiny_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    result = report(copy, "--no-run-reports")
    assert result.exit_code == 0, result.output
    source = (copy / "report.html").read_text(encoding="utf-8")
    finished = [r for r in rows if r["status"] == "finished"]
    chosen = max(finished, key=lambda r: float(r["udr_lasso"]))
    assert f'<p id="udr-chosen" data-trial="{chosen["trial"]}" data-by="udr_lasso">' in source
    assert "chosen here from results.csv" in source and Page(source).notes == []
    for metric in ("dlib.factor_vae", "dlib.mig"):
        values = [float(r[metric]) for r in finished]
        rank = 1 + sum(v > float(chosen[metric]) for v in values)
        rho = scipy.stats.spearmanr([float(r["udr_lasso"]) for r in finished], values).statistic
        row = source.split(f'<tr class="agreement-row" data-metric="{metric}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-rank="{rank}"' in row and f"{rank} of {len(finished)}" in row
        assert f"{rho:+.2f} (n={len(finished)}" in row
    # Readable settings, not Python reprs; configurations named by their settings.
    assert "grid <b>beta 4; nu 12</b>" in source and "models <b>beta-vae, chyvae, vae</b>" in source
    assert "{&#39;" not in source and "[&#39;" not in source
    assert readable({"beta": [1.0, 4.0], "nu": [12.0], "psi": None, "on": True}) == "beta 1, 4; nu 12; psi; on yes"
    assert ">chyvae, nu 12 <span" in source
    # The sweep's own selection.json is its answer when there is one.
    selection = {"by": "udr_spearman", "trial": finished[-1]["trial"], "configuration": finished[-1]["configuration"],
                 "score": 0.5, "agreement": {}, "trials_scored": 4}
    (copy / "selection.json").write_text(json.dumps(selection))
    assert report(copy, "--no-run-reports", "--overwrite").exit_code == 0
    source = (copy / "report.html").read_text(encoding="utf-8")
    assert f'data-trial="{finished[-1]["trial"]}" data-by="udr_spearman"' in source
    assert "selection.json, as the sweep chose" in source


def test_sweep_tables_fit_the_page_with_the_udr_columns_in_view(tiny_sweep, tmp_path):
    """At 1280 px the page does not scroll sideways; the tables scroll in their own box, their first
    column stays in place, and the UDR and metric columns come right after the trial's name."""
    sweep_dir, _ = tiny_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    assert report(copy, "--no-run-reports").exit_code == 0
    found = chromium_probe(copy / "report.html", tmp_path, """
        var cells = function (id) { return Array.from(document.querySelectorAll('#' + id + ' tr:first-child th')); };
        var right = function (id, text) { var c = cells(id).find(function (th) { return th.textContent == text; });
                                          return c ? c.getBoundingClientRect().right : null; };
        var box = document.querySelector('#results-table').parentElement;
        box.scrollLeft = 200;
        var first = document.querySelector('#results-table tr:nth-child(2) td');
        out = {page: document.documentElement.scrollWidth, view: window.innerWidth,
               udr: right('results-table', 'udr_lasso'), udr_summary: right('summary-table', 'udr_lasso'),
               position: getComputedStyle(first).position, first_left: first.getBoundingClientRect().left,
               box_left: box.getBoundingClientRect().left, scrolled: box.scrollLeft};""")
    assert found["page"] <= found["view"]
    assert found["udr"] is not None and found["udr"] <= found["view"]
    assert found["udr_summary"] is not None and found["udr_summary"] <= found["view"]
    assert found["position"] == "sticky" and found["scrolled"] > 0
    assert abs(found["first_left"] - found["box_left"]) < 2  # still at the left edge after scrolling
