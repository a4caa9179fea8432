"""One trial of a sweep, run inside its Ray worker: ``hwkeras fit``'s work, then the measurements.

The trial trains with the functions ``hwkeras.fit`` and ``hwkeras.resume`` call (``plan_fit`` or, when a
resumed sweep continues it from its checkpoint, ``plan_resume``, then ``train``, all of
``hwkeras.runs``) into ``DIR/trials/<trial>``, so its directory is an ordinary run directory;
then it evaluates the metrics under both protocols, the held-out reconstruction NLL and the
codes UDR compares (``hwkeras.sweep.measure``), writes the run's page, and last ``trial.json``,
which marks it finished. Its output goes to ``DIR/logs/<trial>.log``.
"""

import contextlib
import datetime
import os
import sys
import time
import traceback

from hwkeras.runs import layout
from hwkeras.sweep import results

#: Environment of a trial that shares a GPU: allocate GPU memory as it is needed, instead of JAX's
#: 75% or TensorFlow's 100% at start-up, so that several trials fit on one device.
SHARED_GPU_ENVIRONMENT = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def compilation_cache_environment():
    """JAX's persistent compilation cache, shared by the trials (and sweeps) of this user.

    Every trial of a sweep compiles the same programs (the seeds share them; a grid value changes
    only what it touches), and JAX on its own compiles each of them, eager ops included, once per
    process: a tiny CPU trial's training took 37.8 CPU-seconds cold, 10.1 with the cache warm
    (docs/SWEEPS.md). Everything is cached (no minimum compile time or size). A directory the user
    set in JAX_COMPILATION_CACHE_DIR is kept.
    """
    from hwkeras.data.arrays import user_cache_dir

    return {"JAX_COMPILATION_CACHE_DIR": os.path.join(user_cache_dir(), "jax"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}


def trial_environment(spec):
    """Set before Keras loads: the backend, and the GPU policy matching the trial's GPU share."""
    os.environ["KERAS_BACKEND"] = spec["backend"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for key, value in compilation_cache_environment().items():
        os.environ.setdefault(key, value)
    if spec["gpus_per_trial"] == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # Ray gave this trial no GPU: Keras must not take one
    elif spec["gpus_per_trial"] < 1:
        os.environ.update(SHARED_GPU_ENVIRONMENT)


@contextlib.contextmanager
def output_to(path):
    """The process's stdout and stderr (Python's and native libraries') appended to ``path``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)


def run_trial(config):
    """Ray Tune's function trainable: ``config["trial"]`` is the spec ``hwkeras sweep`` made."""
    spec = config["trial"]
    record = execute(spec)
    from ray import tune

    tune.report({"status": record["status"], "wall_time_s": record["wall_time_s"]})


def execute(spec):
    """Trains and measures one trial; returns its trial.json record (a failure is recorded, not raised)."""
    start = time.time()
    trial_environment(spec)
    run_dir = os.path.join(spec["options"]["output_dir"], spec["options"]["run_name"])
    from hwkeras.console import to_terminal

    to_terminal()  # the run's lines go to the trial's log file, as hwkeras fit prints them
    with output_to(os.path.join(spec["sweep_dir"], "logs", spec["name"] + ".log")):
        print(f"=== {spec['name']}: started {datetime.datetime.now().isoformat(timespec='seconds')} "
              f"(pid {os.getpid()}) ===", flush=True)
        try:
            record = fit_and_measure(spec, run_dir)
        except Exception as exc:  # noqa: BLE001 - one trial's failure is recorded, the sweep goes on
            traceback.print_exc()
            from hwkeras.files import one_line

            record = {"status": "failed", "error": f"{exc.__class__.__name__}: {one_line(exc)}"}
        record = {"trial": spec["name"], **record, "wall_time_s": round(time.time() - start, 3),
                  "ended": datetime.datetime.now().isoformat(timespec="seconds")}
        os.makedirs(run_dir, exist_ok=True)
        from hwkeras.files import write_json_atomically

        write_json_atomically(record, os.path.join(run_dir, results.TRIAL_RECORD))
        print(f"=== {spec['name']}: {record['status']} after {record['wall_time_s']:.1f} s ===", flush=True)
    return record


def trained_model(spec, run_dir, plan_fit, train):
    """(model, dataset, config) of the trial: trained from the start, continued from its checkpoint
    (a sweep resumed after a kill), or, when its training had finished, its saved model."""
    if not spec.get("resume"):
        plan = plan_fit(spec["options"])
        if spec.get("study"):  # which model of the study this run is, in its config.json (a resume keeps it)
            plan.config["study"] = spec["study"]
        train(plan)
        return plan.model, plan.dataset, plan.config
    from hwkeras.files import read_json
    from hwkeras.runs.plan import plan_resume

    files = layout.RunDir(run_dir)
    config = layout.migrate(read_json(files.config_path))
    model_path = files.model_path
    if config.get("completed") and os.path.isfile(model_path):  # killed while it was being measured
        from hwkeras.data import get_dataset
        from hwkeras.models import load_model

        print(f"Training of {run_dir} had finished: measuring its model.keras", flush=True)
        return (load_model(model_path), get_dataset(config["dataset"], data_dir=config.get("data_dir"),
                                                    image_size=config["image_size"]), config)
    plan = plan_resume({**spec["options"], "resume": run_dir}, given=set())
    train(plan)
    return plan.model, plan.dataset, plan.config


def fit_and_measure(spec, run_dir):
    from hwkeras.runs.plan import plan_fit
    from hwkeras.runs.session import train
    from hwkeras.sweep import measure

    timings = {}
    clock = [time.time()]

    def lap(name):
        now = time.time()
        timings[name] = round(now - clock[0], 3)
        clock[0] = now

    model, dataset, config = trained_model(spec, run_dir, plan_fit, train)
    lap("fit")
    scores = measure.evaluate_protocols(model, dataset, [tuple(c) for c in spec["metrics"]], spec["metric_params"],
                                        run_dir, config["dataset"], config["dataset_options"])
    lap("metrics")
    nll = measure.reconstruction_nll(model, measure.held_out_images(dataset, spec["nll_images"]))
    lap("reconstruction_nll")
    measure.save_udr_codes(model, dataset, run_dir, spec["udr"])
    lap("udr_codes")
    if spec["run_report"]:
        from hwkeras.runs.session import write_page

        write_page(run_dir, model=model, dataset=dataset)  # now with the metrics on it
        lap("report")
    numbered = {"model_num": spec["study"]["model_num"]} if spec.get("study") else {}
    return {"status": "finished", "model": config["model"], "seed": config["seed"], **numbered,
            "values": spec["values"], "steps": config["steps_trained"], "backend": spec["backend"], "seconds": timings,
            "metrics": scores, "reconstruction_nll": nll,
            "losses": measure.final_losses(run_dir, model.term_names), "udr_codes": measure.UDR_CODES}
