"""Runs a sweep's trials on Ray Tune: concurrently on one machine or on a cluster, GPUs shared in fractions.

Only Ray core and ``ray.tune`` are used, without the dashboard. Each trial runs in its own Ray
worker process (``reuse_actors=False``), so it chooses its Keras backend and GPU memory policy
before Keras loads, and a crash takes only that trial with it. The trials themselves write
everything the sweep keeps (their run directories); Ray Tune's records under DIR/tune are its
own bookkeeping.
"""

import logging
import math
import os

#: The object store carries only the trials' small specs and reports.
OBJECT_STORE_BYTES = 128 * 1024**2


def _quiet_ray():
    # Before Ray is imported: no console tables or usage-stats notice, no per-trial
    # TensorBoard/CSV/JSON loggers (the run directories hold the trials' records).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def start(address=None):
    """Joins the Ray cluster at ``address``, or starts a local one; returns its resources."""
    _quiet_ray()
    import warnings

    import ray

    # Ray starts its processes with fork + exec; Python warns about the fork once JAX (loaded to check
    # the trials' options) has started threads, but exec replaces the child at once.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    options = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        from hwkeras import ray_cluster

        ray_cluster.join(address, **options)
    else:
        # "local": a fresh instance of our own, even when another Ray runs on this machine.
        ray.init(address="local", object_store_memory=OBJECT_STORE_BYTES, **options)
    return dict(ray.cluster_resources())


def stop():
    import ray

    if ray.is_initialized():
        ray.shutdown()


def gpus_per_trial(requested, cluster_gpus, max_concurrent):
    """The GPU share of a trial: as requested, or by default the cluster's GPUs divided among
    ``max_concurrent`` trials (one trial per GPU without --max-concurrent). ValueError if it cannot be met."""
    if requested is None:
        if not cluster_gpus:
            return 0.0
        per_gpu = math.ceil(max_concurrent / cluster_gpus) if max_concurrent else 1
        return 1.0 / per_gpu
    if requested < 0:
        raise ValueError(f"--gpus-per-trial must be >= 0, got {requested:g}")
    if requested > 1 and requested != int(requested):
        raise ValueError(f"--gpus-per-trial {requested:g}: Ray shares a GPU in fractions below 1 or gives whole GPUs")
    if requested > cluster_gpus:
        raise ValueError(f"--gpus-per-trial {requested:g} but the Ray cluster has {cluster_gpus:g} GPUs; "
                         f"use --gpus-per-trial 0 to train on CPUs")
    return float(requested)


def check_cpus(cpus_per_trial, cluster_cpus):
    if cpus_per_trial <= 0:
        raise ValueError(f"--cpus-per-trial must be positive, got {cpus_per_trial:g}")
    if cpus_per_trial > cluster_cpus:
        raise ValueError(f"--cpus-per-trial {cpus_per_trial:g} but the Ray cluster has {cluster_cpus:g} CPUs")


def run(trainable, specs, cpus, gpus, max_concurrent, storage_path, name, on_event, time_budget=None):
    """Runs ``trainable({"trial": spec})`` for every spec; ``on_event(kind, trial name, message)``
    is called in this process as trials start ("start"), end ("complete") or die ("error")."""
    _quiet_ray()
    from ray import tune

    class Events(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            on_event("start", trial.config["trial"]["name"], None)

        def on_trial_complete(self, iteration, trials, trial, **info):
            on_event("complete", trial.config["trial"]["name"], None)

        def on_trial_error(self, iteration, trials, trial, **info):
            on_event("error", trial.config["trial"]["name"], _error_line(trial))

    resources = {"cpu": cpus, "gpu": gpus}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"trial": tune.grid_search(list(specs))},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent, reuse_actors=False, time_budget_s=time_budget,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_name),
        run_config=tune.RunConfig(
            name=name, storage_path=os.path.abspath(storage_path), verbose=0, callbacks=[Events()],
            failure_config=tune.FailureConfig(max_failures=0)),
    )
    return tuner.fit()


def _trial_name(trial):
    return trial.config["trial"]["name"]


def _error_line(trial):
    path = getattr(trial, "error_file", None)
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip()]
        return lines[-1] if lines else "the trial's worker failed"
    except (OSError, TypeError):
        return "the trial's worker failed"
