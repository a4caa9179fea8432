"""The run report and the TensorBoard pictures against training: cheap enough for every ``fit``?

In one process, for the default model (64x64x1, latent 10, 128 hidden units; CHyVAE and the VAE):
the wall-clock seconds of ``write_run_report`` with the model and dataset in memory (as at the end
of ``hwkeras fit``), first call (imports, TFP tracing) and second, split into its parts; one
``TraversalSummaries`` summary (64 images); and one training step at batch 64. Figures of merit:
report / the quick preset's training (2000 steps), and one summary / 500 training steps (the
callback's default interval).

    python benchmarks/bench_report.py [--steps 20]
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402

import hwkeras  # noqa: E402
from hwkeras.data import get_dataset  # noqa: E402
from hwkeras.report import TraversalSummaries, latents, write_run_report  # noqa: E402
from hwkeras.report import run as run_page  # noqa: E402

QUICK_STEPS = 2000
SUMMARY_EVERY = 500


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(name, dataset, steps):
    model = hwkeras.build_model(name, latent_dim=10, image_shape=(64, 64, 1), hidden_units=128, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    run_dir = tempfile.mkdtemp(prefix=f"bench-report-{name}-")
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write('{"model": "%s", "dataset": "correlated-ellipses", "latent_dim": 10}' % name)
    batches = dataset.batches(64, seed=0)
    model.fit(batches, epochs=1, steps_per_epoch=3, verbose=0)  # trace and warm up
    _, wall = timed(lambda: model.fit(batches, epochs=2, steps_per_epoch=steps // 2, verbose=0,
                                      callbacks=[keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"))]))
    step = wall / (2 * (steps // 2))

    _, first = timed(lambda: write_run_report(run_dir, model=model, dataset=dataset))
    _, second = timed(lambda: write_run_report(run_dir, model=model, dataset=dataset))
    images, t_images = timed(lambda: run_page.load_images({}, dataset, []))
    _, t_kl = timed(lambda: latents.latent_kl(model, images))
    _, t_traversals = timed(lambda: run_page.traversal_pictures(model, images))
    _, t_prior = timed(lambda: latents.prior_sample_rows(model))
    history = run_page.read_history(os.path.join(run_dir, "history.csv"), [])
    _, t_curves = timed(lambda: run_page.curves_uri(history, []))

    callback = TraversalSummaries(os.path.join(run_dir, "logs"), images[:64], every_n_steps=SUMMARY_EVERY)
    callback.set_model(model)
    callback.on_train_begin()
    callback.write(1)  # first call opens the event file
    _, summary = timed(lambda: callback.write(2))
    callback.on_train_end()
    return {
        "model": name, "step_ms": 1000 * step, "first_s": first, "second_s": second,
        "parts": f"images {t_images:.2f}, KL {t_kl:.2f}, traversals+GIFs {t_traversals:.2f}, "
                 f"prior samples {t_prior:.2f}, curves {t_curves:.2f}",
        "report_vs_quick": second / (step * QUICK_STEPS),
        "summary_s": summary, "summary_vs_interval": summary / (step * SUMMARY_EVERY),
        "page_kb": os.path.getsize(os.path.join(run_dir, "report.html")) / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="Timed training steps per model.")
    args = parser.parse_args()
    dataset = get_dataset("correlated-ellipses", image_size=64)
    rows = [measure(name, dataset, args.steps) for name in ("chyvae", "vae")]
    print(f"{machine_description()}; load average {os.getloadavg()[0]:.1f}")
    print(versions("keras", "tensorflow", "matplotlib", "jinja2", "pillow"))
    print(markdown_table(
        ["model", "train step (ms)", "report, 1st call (s)", "report, again (s)", "parts of a report (s)",
         f"report / {QUICK_STEPS} steps", "one TB summary (s)", f"summary / {SUMMARY_EVERY} steps", "page (KB)"],
        [(r["model"], f"{r['step_ms']:.0f}", f"{r['first_s']:.2f}", f"{r['second_s']:.2f}", r["parts"],
          f"{100 * r['report_vs_quick']:.2f}%", f"{r['summary_s']:.2f}", f"{100 * r['summary_vs_interval']:.2f}%",
          f"{r['page_kb']:.0f}") for r in rows]))


if __name__ == "__main__":
    main()
