"""The run directory's layout: every file name of a run, config.json's schema, and the answers
about a run that several commands need ("is this a run?", "is it finished?", "which model?").

The one module that spells a run's file names (tests/test_architecture.py holds that rule):

    RUN_DIR/
      config.json            the run's settings and progress (``CONFIG_FORMAT``; read with ``read_config``)
      model.keras            the final model (written when training ends)
      checkpoints/step-K/    checkpoint.json + state.weights.h5 (hwkeras.runs.checkpoints)
      history.csv            one row per epoch (Keras's logs)
      history_steps.csv      one row every --log-every steps
      eval_metrics.json      the --eval-every scores
      metrics.json           hwkeras evaluate's record (dlib protocol); metrics-PROTOCOL.json for another
      logs/                  TensorBoard (train/, steps/, images/)
      traversal.png, reconstructions.png, report.html
"""

import json
import os

from hwkeras.files import write_json_atomically

CONFIG = "config.json"
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
CHECKPOINT_METADATA = "checkpoint.json"
CHECKPOINT_WEIGHTS = "state.weights.h5"
HISTORY = "history.csv"
STEP_HISTORY = "history_steps.csv"
EVAL_METRICS = "eval_metrics.json"
METRICS = "metrics.json"
LOGS = "logs"
TRAVERSAL = "traversal.png"
RECONSTRUCTIONS = "reconstructions.png"
REPORT = "report.html"
# A sweep directory (``hwkeras sweep``, docs/REPORTS.md): its own files, and one run directory per trial.
#
#     SWEEP_DIR/sweep.json  trials/<trial>/ (a run directory + trial.json)  logs/<trial>.log  unfinished/
#               tune/  results.csv  summary.csv  tradeoff.png  selection.json  report.html
SWEEP_JSON = "sweep.json"
TRIALS = "trials"
TRIAL_RECORD = "trial.json"
SWEEP_LOGS = "logs"
TUNE = "tune"
UNFINISHED = "unfinished"
RESULTS = "results.csv"
SUMMARY = "summary.csv"
TRADEOFF = "tradeoff.png"
SELECTION = "selection.json"

#: Files only a run directory has: any of them makes a directory a run's (``is_run``).
RUN_MARKERS = (CONFIG, MODEL, HISTORY, METRICS)

#: config.json's schema version. Format 1 (hwkeras 0.1.0, before this field) is read as it is;
#: ``migrate`` brings any older config to this one when it is read.
CONFIG_FORMAT = 2


def metrics_file(protocol="dlib"):
    """``hwkeras evaluate``'s record of ``protocol``: metrics.json (dlib), metrics-PROTOCOL.json otherwise."""
    return METRICS if protocol in (None, "dlib") else f"metrics-{protocol}.json"


def migrate(config):
    """A config.json of any format as a dict of ``CONFIG_FORMAT`` (the dict is updated in place).

    Format 1 had no ``format`` field; its runs also lack keys added later in 0.1.0, which get the
    values those runs were trained with.
    """
    if not isinstance(config, dict):
        raise ValueError("config.json does not hold a JSON object")
    if config.get("format", 1) == 1:
        config.setdefault("precision", "float32")
        config.setdefault("distribute", "none")
        config.setdefault("model_options", {})
        if isinstance(config.get("run_options"), dict):
            config["run_options"].setdefault("log_every", None)  # resume gives it the default
        config["format"] = 2
    config.setdefault("architecture", "chyvae")  # runs from before --architecture had CHyVAE's body
    if config["format"] > CONFIG_FORMAT:
        raise ValueError(f"config.json has format {config['format']}, newer than this hwkeras reads "
                         f"({CONFIG_FORMAT}); upgrade hwkeras")
    return config


class RunDir:
    """One run directory: its file paths, its config and what it holds."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def __repr__(self):
        return f"RunDir({self.path!r})"

    def file(self, name):
        return os.path.join(self.path, name)

    config_path = property(lambda self: self.file(CONFIG))
    model_path = property(lambda self: self.file(MODEL))
    checkpoints = property(lambda self: self.file(CHECKPOINTS))
    history = property(lambda self: self.file(HISTORY))
    step_history = property(lambda self: self.file(STEP_HISTORY))
    eval_metrics = property(lambda self: self.file(EVAL_METRICS))
    logs = property(lambda self: self.file(LOGS))
    traversal = property(lambda self: self.file(TRAVERSAL))
    reconstructions = property(lambda self: self.file(RECONSTRUCTIONS))
    report = property(lambda self: self.file(REPORT))

    def metrics(self, protocol="dlib"):
        return self.file(metrics_file(protocol))

    def is_run(self):
        """A directory holding any of a run's own files."""
        return os.path.isdir(self.path) and any(os.path.isfile(self.file(name)) for name in RUN_MARKERS)

    def has_config(self):
        return os.path.isfile(self.config_path)

    def read_config(self):
        """config.json as a dict of the current format (``migrate``); OSError or ValueError when unreadable."""
        with open(self.config_path) as f:
            return migrate(json.load(f))

    def write_config(self, config):
        """config.json, atomically, stamped with the current format."""
        config["format"] = CONFIG_FORMAT
        write_json_atomically(config, self.config_path)

    def has_final_model(self):
        return os.path.isfile(self.model_path)

    def is_finished(self, config=None):
        """Training ended: config.json says completed and model.keras is there."""
        if config is None:
            try:
                config = self.read_config()
            except (OSError, ValueError):
                return False
        return bool(config.get("completed")) and self.has_final_model()

