"""A trained model's disentanglement metrics, saved as JSON beside it: ``hwkeras evaluate`` and
``hwkeras.evaluate``.

    import hwkeras
    record = hwkeras.evaluate("runs/my-run", metrics="mig,dci")   # -> runs/my-run/metrics.json

A run directory (what ``hwkeras fit`` writes) holds ``config.json`` (``dataset`` and
``dataset_options``) and ``model.keras``; a bare ``.keras`` file needs ``--dataset``. The
representation is the encoder mean, computed 64 images at a time. On a finite dataset whose
images are a function of their factors (dsprites, shapes3d, the procedural ones, ...), each
distinct image is encoded once and kept on disk per model and dataset (``--code-cache``;
``hwkeras.metrics.table``); ``--encode-every-draw`` encodes every draw as before.
"""

import os
import sys

from hwkeras.console import note, say
from hwkeras.errors import RunStopped, UserError
from hwkeras.files import check_output_file, one_line, read_json, write_json_atomically
from hwkeras.metrics.evaluate import METRICS
from hwkeras.runs import layout
from hwkeras.runs.target import load_model, resolve_run

METRICS_FILENAME = layout.METRICS
#: What makes two records one: their metrics are merged into one file only when all of these agree.
SAME_EVALUATION = ("protocol", "seed", "dataset", "dataset_options", "model", "training_steps")
#: The per-metric parts of a record, merged metric by metric.
PER_METRIC = ("metrics", "summary", "parameters", "elapsed_seconds")


def resolve_target(target, dataset_name, dataset_options):
    """(model path, dataset name, dataset options, run directory or None, default output)."""
    model_path, config, _ = resolve_run(target)
    if not os.path.isdir(target):  # a .keras file: nothing says which dataset it was trained on
        if dataset_name is None:
            raise UserError(f"--dataset is required with a .keras file ({target}): the "
                             f"metrics need the dataset's ground-truth factors")
        default_output = model_path[: -len(".keras")] + ".metrics.json"
        return model_path, dataset_name, dict(dataset_options), None, default_output
    if config is None and dataset_name is None:
        raise UserError(f"{target} has no {layout.CONFIG}; pass --dataset NAME")
    name = dataset_name or config.get("dataset")
    if not name:
        raise UserError(f"{layout.RunDir(target).config_path} has no \"dataset\" key; pass --dataset NAME")
    options = dict(config.get("dataset_options") or {}) if dataset_name is None else {}
    options.update(dataset_options)
    return model_path, name, options, target, os.path.join(target, METRICS_FILENAME)


def _get_dataset(name, options):
    from hwkeras.data import get_dataset

    return get_dataset(name, **options)


# --------------------------------------------------------------------------------------------
# Output: metrics.json accumulates (one record per protocol, metrics merged), never silently lost.
# --------------------------------------------------------------------------------------------

def _read_record(path):
    import json

    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("metrics"), dict) else None


def protocol_output(default, protocol):
    """The default file of ``protocol``: ``default`` unless it holds another protocol's record,
    then ``...-PROTOCOL.json`` beside it (the report reads every metrics*.json)."""
    record = _read_record(default) if os.path.isfile(default) else None
    if record is None or record.get("protocol") == protocol:
        return default
    return default[: -len(".json")] + f"-{protocol}.json"


def earlier_record(output, identity, overwrite):
    """The record already at ``output`` that the new metrics join (None: start a new one).

    Checked before any work: a file that is not a record, or a record of another evaluation
    (protocol, seed, dataset, model or training steps), is an error unless --overwrite.
    """
    if overwrite or not os.path.exists(output):
        return None
    record = _read_record(output)
    if record is None:
        raise UserError(f"--output {output} exists and is not an `hwkeras evaluate` record; choose another "
                         f"--output or pass --overwrite")
    differ = [key for key in SAME_EVALUATION if record.get(key) != identity.get(key)]
    if differ == ["training_steps"] and record.get("training_steps") is not None:
        raise UserError(f"{output} holds metrics computed at step {record['training_steps']}; the model is now at "
                         f"step {identity['training_steps']}: pass --overwrite to replace them with this step's, or "
                         f"--output FILE to keep both")
    if differ:
        key = differ[0]
        raise UserError(f"{output} holds scores of another evaluation ({key} {record.get(key)!r}, here "
                         f"{identity.get(key)!r}); pass --output FILE to keep both, or --overwrite to replace it")
    return record


def merge_records(earlier, record):
    """``record`` with the metrics of ``earlier`` it did not recompute kept."""
    if earlier is None:
        return record
    merged = dict(record)
    for key in PER_METRIC:
        merged[key] = {**(earlier.get(key) or {}), **(record.get(key) or {})}
    return merged


def format_table(record):
    """Markdown-style table of every scalar score, the headline scores marked with '*'."""
    from hwkeras.metrics.evaluate import scalar_rows

    rows = [("metric", "score", "value")]
    for metric, key, value in scalar_rows(record):
        mark = " *" if METRICS[metric].headline == key else ""
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        rows.append((metric, key + mark, text))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Dataset-scale evaluation: the code table, its cache, its progress line.
# --------------------------------------------------------------------------------------------

def code_cache_dir(code_cache, no_code_cache):
    """The folder of the code tables, proved writable before any work; None: in memory only.

    A --code-cache that cannot be written is the user's input (one line, exit 2); the default
    folder unwritable only costs the cache, which a note says."""
    from hwkeras.data.arrays import user_cache_dir
    from hwkeras.files import check_creatable_dir

    if no_code_cache:
        return None
    if code_cache:
        check_creatable_dir(code_cache, "--code-cache")
        return code_cache
    default = os.path.join(user_cache_dir(), "codes")
    try:
        check_creatable_dir(default, "the code cache")
    except UserError as exc:
        note(f"Note: {one_line(exc)}: the code table stays in memory (pass --code-cache DIR)")
        return None
    return default


def save_code_table(table, cache):
    """``cache`` once the table is written there, None if it could not be (said in a note)."""
    from hwkeras.metrics.table import save_table

    try:
        save_table(table, *cache)
    except OSError as exc:
        note(f"Note: the code table was not saved in {cache[0]} ({exc.strerror or exc})")
        return None
    return cache


def open_code_table(dataset, representation, model_path, name, options, cache_dir, progress):
    """``(CodeTable or None, (cache file, key) or None)``; says on stdout which path runs and why."""
    from hwkeras.metrics.encoder import ENCODE_BATCH_SIZE
    from hwkeras.metrics.table import (
        CodeTable,
        cache_key,
        cache_path,
        dataset_identity,
        file_digest,
        load_table,
        table_refusal,
    )

    why = table_refusal(dataset)
    if why is not None:
        say(f"codes: every draw encoded ({why})")
        return None, None
    codes = filled = cache = None
    if cache_dir is not None:
        identity = dataset_identity(dataset, name, options)
        keras = sys.modules.get("keras")
        encoder = {"backend": keras.backend.backend() if keras else None,
                   "keras": getattr(keras, "__version__", None), "batch": ENCODE_BATCH_SIZE}
        key = cache_key(file_digest(model_path), encoder, identity)
        path = cache_path(cache_dir, model_path, identity)
        codes, filled, unusable = load_table(path, key, int(dataset_num_images(dataset)))
        if unusable:
            note(f"Note: ignored the code table {path}: {unusable}; it will be replaced")
        cache = (path, key)
    table = CodeTable(dataset, representation, codes=codes, filled=filled, progress=progress.update)
    held = f"{table.loaded:,} read from {cache[0]}" if table.loaded else "none cached yet"
    say(f"codes: each distinct image encoded once ({table.num_images:,} in the grid, {held})")
    return table, cache


def dataset_num_images(dataset):
    import numpy as np

    return np.prod([int(s) for s in dataset.factor_sizes])


class Progress:
    """The encoding's progress on stderr: one line redrawn on a terminal, a line a minute otherwise."""

    def __init__(self):
        import time

        self.tty = sys.stderr.isatty()
        self.clock = time.monotonic
        self.last = self.clock()
        self.open = False

    def update(self, table):
        from hwkeras.metrics.table import progress_line

        now = self.clock()
        if now - self.last < (0.5 if self.tty else 60.0):
            return
        self.last = now
        if self.tty:
            self._write("\r  " + progress_line(table) + "\033[K")
            self.open = True
        else:
            self._write("  " + progress_line(table) + "\n")

    def say(self, message):
        self.done()
        self._write(message + "\n")

    def done(self):
        if self.open:
            self._write("\n")
            self.open = False

    @staticmethod
    def _write(text):
        sys.stderr.write(text)
        sys.stderr.flush()


def check_has_factors(name):
    """A dataset the registry says has no ground-truth factors (celeba, chairs): one line, before any work."""
    from hwkeras.data.registry import DATASETS

    entry = DATASETS.get(name)
    if entry is not None and entry.factors == "no":
        raise UserError(f"dataset {name!r} has no ground-truth factors, and every metric of hwkeras evaluate "
                         f"({', '.join(METRICS)}) needs them; on {name}, compare runs without labels with UDR "
                         f"(several seeds of a configuration: hwkeras sweep)")


def stale_records(run_dir, steps_trained, written):
    """One line per other metrics*.json of the run computed at another step than the model's."""
    import glob

    if not run_dir or not isinstance(steps_trained, int):
        return []
    from hwkeras.report.run import rerun_evaluate, stale_metrics

    lines = []
    for path in sorted(glob.glob(os.path.join(run_dir, "metrics*.json"))):
        record = _read_record(path)
        stale = stale_metrics(record, steps_trained) if record is not None else None
        if stale and os.path.abspath(path) != os.path.abspath(written):
            lines.append(f"{os.path.basename(path)}: computed at step {stale[0]}; the model is at step {stale[1]}; "
                         f"rerun {rerun_evaluate(run_dir, os.path.basename(path), record)}")
    return lines


def _run_config(run_dir):
    path = layout.RunDir(run_dir).config_path if run_dir else None
    return read_json(path) if path and os.path.isfile(path) else {}


def check_image_shape(model, dataset, name):
    """Images of another size than the model's are the user's input, said before any encoder runs."""
    expected = tuple(getattr(model, "image_shape", None) or ())
    given = tuple(getattr(dataset, "observation_shape", None) or ())
    if expected and given and expected != given:
        h, w, c = expected
        hint = f"; pass --dataset-option image_size={h}" if given[2:] == expected[2:] and h == w else ""
        raise UserError(f"dataset {name!r} gives {'x'.join(map(str, given))} images, the model expects "
                         f"{'x'.join(map(str, expected))}{hint}")


# --------------------------------------------------------------------------------------------
# The evaluation.
# --------------------------------------------------------------------------------------------

def evaluate(target, metrics="all", protocol="dlib", seed=0, output=None, dataset=None, dataset_options=None,
             params=None, overwrite=False, encode_once=True, code_cache=None, no_code_cache=False):
    """Computes ``metrics`` ('all' or names) of the model in ``target`` (a run directory, or a ``.keras`` file
    with ``dataset``) and adds them to its metrics record (RUN_DIR/metrics.json, one file per protocol;
    ``output`` elsewhere); returns ``(record, path)``. ``params``: {metric: {constant: value}} overrides of the
    protocol's constants; ``encode_once``: on a finite dataset whose images are fixed by their factors, encode
    each distinct image once (same numbers), cached in ``code_cache`` (default ~/.cache/hwkeras/codes).
    Bad input raises ``UserError`` before any encoding; Ctrl-C ``RunStopped`` with nothing written.
    """
    dataset_name = dataset
    from hwkeras.metrics import evaluate as evaluate_fn
    from hwkeras.metrics.evaluate import metric_parameters, parse_metric_names, representation_from_model

    try:
        names = parse_metric_names(metrics)
    except ValueError as exc:
        raise UserError(f"--metrics: {one_line(exc)}") from None
    params = dict(params or {})
    try:
        for metric, overrides in params.items():
            if metric not in names:
                raise ValueError(f"--param names metric {metric!r}, which is not being "
                                 f"computed (--metrics {metrics})")
            metric_parameters(metric, protocol, overrides)
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    dataset_options = dict(dataset_options or {})
    model_path, name, options, run_dir, default_output = resolve_target(
        target, dataset_name, dataset_options)
    check_has_factors(name)  # before the output's record is compared: that is not the problem
    output = output or protocol_output(default_output, protocol)
    check_output_file(output, "--output")
    cache_dir = code_cache_dir(code_cache, no_code_cache) if encode_once else None
    config = _run_config(run_dir)
    identity = {"protocol": protocol, "seed": seed, "dataset": name, "dataset_options": options,
                "model": os.path.abspath(model_path), "training_steps": config.get("steps_trained")}
    earlier = earlier_record(output, identity, overwrite)

    try:
        dataset = _get_dataset(name, options)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise UserError(f"dataset {name!r}: {one_line(exc)}") from None
    from hwkeras.metrics.utils import check_ground_truth_data

    try:
        check_ground_truth_data(dataset)
    except ValueError as exc:
        raise UserError(one_line(exc)) from None

    model = load_model(model_path)
    check_image_shape(model, dataset, name)

    say(f"hwkeras evaluate: {model_path} on {name} ({', '.join(names)}; protocol "
               f"{protocol}, seed {seed})")
    representation = representation_from_model(model)
    progress = Progress()
    table, cache = None, None
    if encode_once:
        table, cache = open_code_table(dataset, representation, model_path, name, options, cache_dir, progress)
    else:
        say("codes: every draw encoded (--encode-every-draw)")
    try:
        record = evaluate_fn(dataset, representation, names, protocol=protocol,
                             seed=seed, params=params, encode_once=table or False,
                             log=lambda message: progress.say(f"  {message}"))
        progress.done()
        if cache is not None and table.encoded:
            cache = save_code_table(table, cache)
    except ValueError as exc:
        raise UserError(one_line(exc)) from None
    except KeyboardInterrupt:
        progress.done()
        raise RunStopped("Stopped (Ctrl-C): nothing written; the code table on disk is as it was.", exit_code=130,
                         signal_name="SIGINT") from None
    if table is not None:
        summary = record["encoding"]
        say(f"codes: {summary['images_encoded']:,} images encoded, {summary['codes_from_cache']:,} read "
                   f"from the cache, {summary['draws_looked_up']:,} draws looked up"
                   + (f"; table saved in {cache[0]}" if cache is not None and table.encoded else ""))

    record = merge_records(earlier, {"model": identity["model"],
                                     "run_dir": os.path.abspath(run_dir) if run_dir else None,
                                     "training_steps": identity["training_steps"],
                                     "dataset": name, "dataset_options": options, **record})
    write_json_atomically(record, output)
    say(format_table(record))
    kept = [metric for metric in record["metrics"] if metric not in names]
    at = f", the model at step {identity['training_steps']}" if identity["training_steps"] is not None else ""
    say(f"(* = headline score)  {'Updated' if earlier else 'Wrote'} {output}"
               + (f" (kept the earlier {', '.join(kept)})" if kept else "") + at)
    for line in stale_records(run_dir, config.get("steps_trained"), output):
        note(f"Note: {line}")
    return record, output


