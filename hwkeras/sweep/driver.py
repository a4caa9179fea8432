"""A checked sweep plan run: Ray started, the unfinished trials run on Ray Tune (each ``hwkeras.sweep.trial``),
the tables kept current as trials end, and at the end UDR, selection.json and (through ``write_page``,
given by the caller: sweep/ draws no pages) the sweep's page. Lines go to the ``hwkeras.run`` logger."""

import datetime
import os

from hwkeras.console import note, say
from hwkeras.errors import Failed, UserError
from hwkeras.files import one_line
from hwkeras.sweep import directory, results, runner


class Progress:
    """Called by Ray Tune in this process as trials start and end: prints a line, keeps the tables current."""

    def __init__(self, plan, total):
        self.plan, self.total, self.ended, self.running = plan, total, 0, set()
        self.trials = {t.name: t for t in plan.trials}

    def event(self, kind, name, message):
        if kind == "start":
            self.running.add(name)
            say(f"  started  {name}")
            directory.tables(self.plan.sweep_dir, self.plan.spec, self.plan.trials, running=self.running)
            return
        self.running.discard(name)
        trial = self.trials[name]
        record = results.read_trial(self.plan.sweep_dir, trial)
        if record is None and kind == "complete":  # stopped by --time-budget: --resume runs it again
            say(f"  stopped  {name} (--time-budget) before it finished")
            directory.tables(self.plan.sweep_dir, self.plan.spec, self.plan.trials, running=self.running)
            return
        if record is None:  # the worker died before the trial could record anything
            from hwkeras.files import write_json_atomically

            record = {"trial": name, "status": "failed",
                      "error": f"the trial's Ray worker ended without finishing it: {message or 'no message'}"}
            os.makedirs(results.run_dir(self.plan.sweep_dir, trial), exist_ok=True)
            write_json_atomically(record,
                                  os.path.join(results.run_dir(self.plan.sweep_dir, trial), results.TRIAL_RECORD))
        self.ended += 1
        say(f"[{self.ended}/{self.total}] {describe(record, name, self.plan.sweep_dir)}")
        directory.tables(self.plan.sweep_dir, self.plan.spec, self.plan.trials, running=self.running)


def describe(record, name, sweep_dir):
    if record["status"] != "finished":
        log = os.path.join(sweep_dir, directory.LOGS, name + ".log")
        return f"{name}: failed after {record.get('wall_time_s', 0):.0f} s: {record.get('error')} (log: {log})"
    numbers = {**record.get("metrics", {}), "reconstruction_nll": record.get("reconstruction_nll")}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in numbers.items() if isinstance(v, (int, float)))
    return f"{name}: finished in {record['wall_time_s']:.0f} s ({shown})"


def trial_spec(plan, trial, backend, gpus, options, resume=False):
    """What the trial's worker gets (JSON-like: it travels through Ray); ``resume``: its run directory
    holds a checkpoint, from which it continues (``hwkeras fit --resume``)."""
    spec = plan.spec
    return {"name": trial.name, "values": trial.values, "options": plan.options[trial.name], "resume": resume,
            "sweep_dir": os.path.abspath(plan.sweep_dir), "backend": backend, "gpus_per_trial": gpus,
            "metrics": [column.split(".", 1) for column in spec["metric_columns"]],
            "metric_params": spec.get("evaluate_params") or {}, "nll_images": spec["nll_images"],
            "udr": spec["udr"], "run_report": not no_report(plan, options), "study": trial.study}


def no_report(plan, options):
    """--no-report, given now or when the sweep started."""
    return bool(options.get("no_report") or plan.spec["fit_options"].get("no_report"))


def prepare_data_once(plan):
    """Builds a dataset's GPU cache (e.g. the ellipse grid) here, once, rather than in every trial at once."""
    from hwkeras.data import get_dataset
    from hwkeras.runs.session import _log_data_progress

    first = plan.options[plan.trials[0].name]
    _log_data_progress()
    get_dataset(first["dataset"], data_dir=first["data_dir"], image_size=first["image_size"]).prepare(accelerated=True)


def run_sweep(plan, options, select_by, new, write_page=None):
    """Runs ``plan``'s unfinished trials; ``options``: how (``REMEMBERED`` and address, time_budget,
    no_report, tradeoff_metric); ``new``: write sweep.json first; ``write_page(sweep_dir, metric=...)`` draws
    the sweep's page at the end. Returns the results rows; raises ``Failed`` when a trial failed."""
    from hwkeras.sweep.trial import run_trial

    sweep_dir, spec = plan.sweep_dir, plan.spec
    to_run = [t for t in plan.trials if not results.is_finished(sweep_dir, t)]
    configurations = len({t.configuration for t in plan.trials})
    if not to_run:
        say(f"All {len(plan.trials)} trials of {sweep_dir} have finished; nothing to run.")
        return finish(plan, options, select_by, write_page)
    try:
        resources = runner.start(options.get("address"))
    except UserError:
        raise  # a cluster that cannot be joined, said in full
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: the address or the machine
        raise UserError(f"Ray could not start{' at ' + options['address'] if options.get('address') else ''}: "
                         f"{one_line(exc)}") from None
    try:
        try:
            runner.check_cpus(options["cpus_per_trial"], resources.get("CPU", 0))
            gpus = runner.gpus_per_trial(options["gpus_per_trial"], resources.get("GPU", 0), options["max_concurrent"])
        except ValueError as exc:
            raise UserError(one_line(exc)) from None
        if new:
            os.makedirs(sweep_dir, exist_ok=True)
            plan.spec = spec = directory.write_spec(sweep_dir, spec)
        backend = options.get("backend") or spec.get("backend") or os.environ.get("KERAS_BACKEND", "tensorflow")
        say(f"hwkeras sweep: {len(plan.trials)} trials ({configurations} configuration"
                   f"{'s' if configurations != 1 else ''} x {spec['seeds']} seeds), {len(to_run)} to run, "
                   f"in {sweep_dir}")
        resumed = set()
        for trial in to_run:
            checkpoint = directory.resumable(sweep_dir, trial)
            if checkpoint is not None:
                resumed.add(trial.name)
                say(f"  {trial.name} was unfinished: it continues from its checkpoint at step {checkpoint.step}")
                continue
            moved = directory.move_aside(sweep_dir, trial)
            if moved:
                say(f"  {trial.name} was unfinished: its directory is kept as {moved}; it runs again")
        say(f"Ray: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; each trial "
                   f"{options['cpus_per_trial']:g} CPU{'s' if options['cpus_per_trial'] != 1 else ''}"
                   f"{f', {gpus:g} GPU' if gpus else ''}, at most {options['max_concurrent'] or 'as many as fit'} "
                   f"at once; {backend} backend")
        if gpus > 0:
            prepare_data_once(plan)
        progress = Progress(plan, len(to_run))
        directory.tables(sweep_dir, spec, plan.trials)
        runner.run(run_trial, [trial_spec(plan, t, backend, gpus, options, t.name in resumed) for t in to_run],
                   options["cpus_per_trial"], gpus, options["max_concurrent"],
                   os.path.join(sweep_dir, directory.TUNE), "run-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"),
                   progress.event, time_budget=options.get("time_budget"))
    finally:
        runner.stop()
    return finish(plan, options, select_by, write_page)


def finish(plan, options, select_by, write_page=None):
    from hwkeras.sweep import selection

    sweep_dir = plan.sweep_dir
    rows, chosen, notes = directory.aggregate(sweep_dir, plan.spec, plan.trials, options.get("tradeoff_metric"),
                                              select_by)
    for line in notes:
        note(f"Note: {line}")
    counts = {s: sum(r["status"] == s for r in rows) for s in results.STATUSES}
    written = [results.RESULTS, results.SUMMARY]
    if os.path.isfile(os.path.join(sweep_dir, results.TRADEOFF)):
        written.append(results.TRADEOFF)
    if chosen is not None:
        written.append(selection.SELECTION)
        for line in selection.describe(chosen):
            say(line)
    if write_page is not None and not no_report(plan, options):
        path, _ = write_page(sweep_dir, metric=options.get("tradeoff_metric"))
        written.append(os.path.basename(path))
    say(f"\nSweep directory: {sweep_dir} ({', '.join(written)})")
    say(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    unfinished = counts["failed"] + counts["stopped"] + counts["pending"]
    if unfinished:
        message = (f"{unfinished} of {len(rows)} trials did not finish; "
                   f"hwkeras sweep --resume {sweep_dir} runs them again")
        if counts["failed"]:
            raise Failed(message)
        say(message)
    return rows
