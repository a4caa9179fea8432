"""``hwkeras report``: one HTML page for a run or a sweep directory (docs/REPORTS.md).

    hwkeras report runs/correlated-ellipses-chyvae-20250101-120000     # -> RUN_DIR/report.html
    hwkeras report sweeps/nu-beta --metric dlib.mig                     # -> SWEEP_DIR/report.html
"""

import os

import click

from hwkeras.cli.common import (
    Command,
    InputError,
    backend_option,
    check_output_file,
    check_replaceable,
    examples,
    start_keras,
)
from hwkeras.files import is_report_page
from hwkeras.runs import layout


@click.command("report", cls=Command, epilog=examples(
    'hwkeras report runs/RUN                          # -> RUN/report.html',
    'hwkeras report sweeps/nu-beta --metric dlib.mig  # -> sweeps/nu-beta/report.html',
))
@backend_option
@click.argument("target", metavar="RUN_OR_SWEEP_DIR")
@click.option("--output", help="HTML file to write.  [TARGET/report.html]")
@click.option("--metric", help="Sweep: the trade-off plot's disentanglement metric, e.g. dlib.mig.  "
                               "[the first headline metric summary.csv has]")
@click.option("--no-run-reports", is_flag=True,
              help="Sweep: do not write the trials' missing report.html pages (the links to them are left out).")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing --output file, when it is a page hwkeras report wrote (never another file).")
def report_command(target, output, metric, no_run_reports, overwrite):
    """One self-contained HTML page: settings, curves, metrics, traversals sorted by KL, samples.

    A run directory gives its page; a sweep directory gives the sweep's tables, trade-off plot and
    every configuration's seeds side by side. Whatever is missing gets a one-line note.
    """
    target = os.path.normpath(target)
    if not os.path.exists(target):
        raise InputError(f"{target} does not exist (expected a run or sweep directory)")
    if output is not None or os.path.isdir(target):
        check_output_file(output or os.path.join(target, layout.REPORT), "--output")
    if output is not None:  # TARGET/report.html is the run's (or sweep's) own page: it is rewritten
        check_replaceable(output, "--output", overwrite, is_report_page, "a report page")
    start_keras()  # the pages load models: quietly, before any TensorFlow log (and hwkeras.report loads Keras)
    from hwkeras.report import is_run_dir, is_sweep_dir, run_page, sweep_page

    if is_sweep_dir(target):
        path, notes = sweep_page(target, output=output, metric=metric, run_reports=not no_run_reports)
    elif is_run_dir(target):
        if metric is not None or no_run_reports:
            raise InputError("--metric and --no-run-reports apply to sweep directories; "
                             f"{target} is a run directory")
        path, notes = run_page(target, output=output)
    else:
        raise InputError(f"{target} is neither a run directory (config.json, model.keras, history.csv) nor a "
                         f"sweep directory (sweep.json, results.csv)")
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(f"Wrote {path}")
