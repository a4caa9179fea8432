"""Sweeps from Python, as ``hwkeras sweep`` runs them: models x grid x seeds, each trial a run directory
made by the same calls as ``hwkeras.fit``, on Ray Tune; then the metrics, the tables, UDR and the
unsupervised choice, in one sweep directory (docs/SWEEPS.md).

    import hwkeras

    sweep = hwkeras.run_sweep(models=["beta-vae"], grid={"beta": [1, 4]}, seeds=2, steps=2000,
                              evaluate="mig", output_dir="sweeps/betas")
    sweep.rows                                  # results.csv: one dict per trial
    sweep = hwkeras.resume_sweep("sweeps/betas")  # runs what a stop left unfinished
    hwkeras.select("sweeps/betas")              # the trial UDR chooses (selection.json)

The options are ``hwkeras sweep``'s by name (``hwkeras.sweep.plan.SWEEP_DEFAULTS``: ``models``,
``grid`` as {key: [values]}, ``seeds``, ``evaluate``, ...) plus ``hwkeras fit``'s for every trial.
Every configuration is checked before anything is written or Ray starts: bad input raises
``hwkeras.errors.UserError`` (one line); a failed trial ``hwkeras.errors.Failed`` once the others ended.
"""

import importlib
import importlib.util
import os

from hwkeras.errors import UserError
from hwkeras.files import one_line

#: Options that say how to run, not what: the only ones ``resume_sweep`` takes.
EXECUTION = ("max_concurrent", "gpus_per_trial", "cpus_per_trial", "address", "time_budget", "backend",
             "no_report", "tradeoff_metric", "select_by")


class Sweep:
    """A sweep directory: its spec (sweep.json), results rows (results.csv) and selection (selection.json)."""

    def __init__(self, path):
        self.path = path

    def __repr__(self):
        return f"Sweep({self.path!r})"

    @property
    def spec(self):
        from hwkeras.sweep.directory import read_spec

        return read_spec(self.path)

    @property
    def rows(self):
        """results.csv as a list of dicts (strings, as the CSV holds them)."""
        from hwkeras.sweep.directory import read_tables

        return read_tables(self.path)[0]

    @property
    def selection(self):
        """selection.json (the trial UDR chose), or None when there is none."""
        from hwkeras.files import read_json
        from hwkeras.sweep.selection import SELECTION

        path = os.path.join(self.path, SELECTION)
        return read_json(path) if os.path.isfile(path) else None


def check_ray_installed():
    """At once: Ray is there, or one line saying what to install (importing it takes a second or two)."""
    if importlib.util.find_spec("ray") is None:
        raise UserError("hwkeras sweep runs on Ray Tune, which is not installed: pip install 'hwkeras[sweep]'")


def check_ray_tune():
    """Ray Tune and what it needs (pandas, pyarrow, ...) import, or one line saying what to install."""
    check_ray_installed()
    from hwkeras.sweep.runner import _quiet_ray

    _quiet_ray()
    try:
        importlib.import_module("ray.tune")
    except ImportError as exc:
        raise UserError(f"Ray Tune does not import ({one_line(exc)}): pip install 'hwkeras[sweep]'") from None


def _sweep_page(sweep_dir, metric=None):
    from hwkeras.report import sweep_page

    return sweep_page(sweep_dir, metric=metric)


def _execution(options, select_by):
    from hwkeras.sweep.plan import SWEEP_DEFAULTS

    return {**{k: SWEEP_DEFAULTS.get(k) for k in EXECUTION}, **options, "select_by": select_by}


def run_sweep(select_by="udr_lasso", **options):
    """Plans, checks and runs a new sweep (``hwkeras sweep``'s options by name, e.g. ``models=["chyvae"],
    grid={"nu": [20, 200]}, seeds=3, steps=5000``); returns its ``Sweep``."""
    from hwkeras.sweep import driver, plan

    plan.check_fit_options({k: v for k, v in options.items() if k not in EXECUTION})
    check_ray_installed()
    spec = plan.spec_from_options({k: v for k, v in options.items() if k != "backend"})
    sweep_dir = options.get("output_dir") or plan.default_output_dir(spec["fit_options"])
    plan.check_new_sweep_dir(sweep_dir)
    checked = plan.plan_sweep(spec, sweep_dir)
    check_ray_tune()
    driver.run_sweep(checked, _execution(options, select_by), select_by, new=True, write_page=_sweep_page)
    return Sweep(sweep_dir)


def resume_sweep(sweep_dir, select_by="udr_lasso", **execution):
    """Runs the unfinished trials of ``sweep_dir`` with its own sweep.json (finished trials are kept; one
    with a checkpoint continues from it). ``execution``: how to run (``EXECUTION``; those sweep.json
    remembers, e.g. max_concurrent, default to the sweep's own). Returns its ``Sweep``."""
    from hwkeras.sweep import directory, driver, plan

    other = sorted(set(execution) - set(EXECUTION))
    if other:
        raise UserError(f"resume_sweep takes the sweep's settings from {sweep_dir}/sweep.json; drop "
                        f"{', '.join(other)}")
    check_ray_installed()
    try:
        spec = directory.read_spec(sweep_dir)
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    remembered = {k: v for k, v in spec.get("execution", {}).items() if k in plan.REMEMBERED and k not in execution}
    checked = plan.plan_sweep(spec, sweep_dir)
    check_ray_tune()
    driver.run_sweep(checked, _execution({**remembered, **execution}, select_by), select_by, new=False,
                     write_page=_sweep_page)
    return Sweep(sweep_dir)


def select(sweep_dir, select_by="udr_lasso"):
    """The trial UDR chooses among ``sweep_dir``'s finished trials, written to selection.json and returned
    (with how the metrics rank it); ``select_by``: a UDR column of results.csv."""
    from hwkeras.sweep import directory, selection

    try:
        spec = directory.read_spec(sweep_dir)
        rows, summary_rows = directory.read_tables(sweep_dir)
        chosen = selection.select(rows, summary_rows, select_by, spec["metric_columns"])
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    directory.write_selection(sweep_dir, chosen)
    return chosen
