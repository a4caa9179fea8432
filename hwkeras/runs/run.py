"""Runs from Python, as ``hwkeras fit`` makes them: a run directory with its config, checkpoints,
histories, report and export, which ``hwkeras.resume`` continues and every command reads.

    import hwkeras

    run = hwkeras.fit(model="beta-vae", beta=4, steps=2000, output_dir="runs", run_name="b4")
    run.config["steps_trained"], run.history()[-1]["loss"]
    run = hwkeras.resume("runs/b4", steps=4000)     # a stopped or finished run goes on
    model = run.load_model()                        # the final model (or the newest checkpoint)

The options are ``hwkeras fit``'s, by name (``DEFAULTS``); bad input raises ValueError (one line
naming the fix: ``hwkeras.errors.UserError`` or the model's own), a stop ``hwkeras.errors.RunStopped``
with what was kept and how to resume. Progress is said on the ``hwkeras.run`` logger.
"""

import csv

from hwkeras.errors import UserError
from hwkeras.files import csv_number
from hwkeras.runs.layout import RunDir
from hwkeras.runs.plan import DEFAULTS


class Run:
    """A run directory: its files (``files``, a ``RunDir``), config, histories and model."""

    def __init__(self, path, model=None):
        self.files = RunDir(path)
        self.path = self.files.path
        self._model = model  # the trained model, when this process trained it

    def __repr__(self):
        return f"Run({self.path!r})"

    @property
    def config(self):
        """config.json as it is now (steps_trained follows the checkpoints)."""
        return self.files.read_config()

    @property
    def finished(self):
        return self.files.is_finished()

    def history(self, steps=True):
        """The step history (``steps=True``, a row every --log-every steps) or the epoch history, as
        a list of dicts of numbers (None where a cell is empty)."""
        path = self.files.step_history if steps else self.files.history
        with open(path, newline="") as f:
            return [{key: csv_number(value) for key, value in row.items()} for row in csv.DictReader(f)]

    def load_model(self):
        """The trained model: model.keras, or the newest checkpoint's for a run that stopped early."""
        if self._model is not None:
            return self._model
        import hwkeras
        from hwkeras.runs.checkpoints import run_model

        path, checkpoint = run_model(self.path)
        if path is None:
            raise UserError(f"{self.path} has no model.keras and no checkpoint")
        return checkpoint.load_model() if checkpoint is not None else hwkeras.load_model(path)


def _options(options, what):
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise UserError(f"{what} takes no option {', '.join(unknown)}; its options are hwkeras fit's: "
                        f"{', '.join(sorted(DEFAULTS))}")
    return {**DEFAULTS, **options}


def fit(**options):
    """Trains a new run as ``hwkeras fit`` does (its options by name, e.g. ``model="factor-vae",
    gamma=35, steps=5000``) and returns its ``Run``. Nothing is written before every option is checked."""
    from hwkeras.runs.plan import plan_fit
    from hwkeras.runs.session import train

    if options.get("resume") is not None:
        raise UserError("hwkeras.fit starts a new run; continue one with hwkeras.resume(RUN_DIR)")
    plan = plan_fit(_options(options, "hwkeras.fit"))
    train(plan)
    return Run(plan.run_dir, plan.model)


def resume(run_dir, **options):
    """Continues ``run_dir`` from its newest checkpoint with its own config (``hwkeras fit --resume``);
    ``steps=N`` moves the end, the options that change where or how often things are written may be
    given, any other that differs from the run's is a one-line ValueError. Returns its ``Run``."""
    from hwkeras.runs.plan import plan_resume
    from hwkeras.runs.session import train

    plan = plan_resume(_options({**options, "resume": str(run_dir)}, "hwkeras.resume"), set(options) | {"resume"})
    train(plan)
    return Run(plan.run_dir, plan.model)
