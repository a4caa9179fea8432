"""Pages people read: ``hwkeras report RUN_DIR`` and ``hwkeras report SWEEP_DIR``, and TensorBoard images.

    from hwkeras.report import write_run_report, write_sweep_report, TraversalSummaries
    write_run_report("runs/my-run")                       # -> runs/my-run/report.html
    model.fit(..., callbacks=[TraversalSummaries("runs/my-run/logs", images)])

A page is one HTML file with its pictures inlined as ``data:`` URIs: it opens offline, needs no
script, and can be mailed or attached as it is. docs/REPORTS.md describes every section.
"""

import os

from hwkeras.report.run import is_run_dir
from hwkeras.report.sweep import is_sweep_dir
from hwkeras.runs import layout

REPORT_FILENAME = layout.REPORT


def write_run_report(run_dir, model=None, dataset=None, output=None):
    """Writes the run's page (``RUN_DIR/report.html`` unless ``output``) and returns its path.

    ``model`` / ``dataset``: pass them when they are in memory (the end of ``hwkeras fit``) to
    skip reloading. Whatever is missing from the run gets a one-line note on the page.
    """
    return run_page(run_dir, model=model, dataset=dataset, output=output)[0]


def write_sweep_report(sweep_dir, output=None, metric=None, run_reports=True):
    """Writes the sweep's page (``SWEEP_DIR/report.html`` unless ``output``) and returns its path.

    ``metric``: the trade-off plot's y-axis, e.g. ``dlib.factor_vae`` (default: the first headline
    metric summary.csv has). ``run_reports``: write each trial's missing report.html, which the
    page links to.
    """
    return sweep_page(sweep_dir, output=output, metric=metric, run_reports=run_reports)[0]


def run_page(run_dir, model=None, dataset=None, output=None):
    """(path, notes): ``write_run_report`` that also says what the page notes as missing."""
    from hwkeras.report.page import render, write_page
    from hwkeras.report.run import gather_run

    output = output or os.path.join(run_dir, REPORT_FILENAME)
    context = gather_run(run_dir, model=model, dataset=dataset)
    return write_page(render("run.html", **context), output), context["notes"]


def sweep_page(sweep_dir, output=None, metric=None, run_reports=True):
    """(path, notes): ``write_sweep_report`` that also says what the page notes as missing."""
    from hwkeras.report.page import render, write_page
    from hwkeras.report.sweep import gather_sweep

    output = output or os.path.join(sweep_dir, REPORT_FILENAME)
    context = gather_sweep(sweep_dir, page_dir=os.path.dirname(os.path.abspath(output)), metric=metric,
                           run_reports=run_reports)
    return write_page(render("sweep.html", **context), output), context["notes"]


def __getattr__(name):
    # The callback subclasses keras.callbacks.Callback: import keras only when it is asked for.
    if name == "TraversalSummaries":
        from hwkeras.report.tensorboard import TraversalSummaries

        return TraversalSummaries
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REPORT_FILENAME", "TraversalSummaries", "is_run_dir", "is_sweep_dir", "run_page", "sweep_page",
           "write_run_report", "write_sweep_report"]
