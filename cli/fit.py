"""The work behind ``hwkeras fit``: data stream, model, training, artefacts, export."""

import datetime
import json
import math
import os
import tempfile
import warnings

import click

STEPS_PER_EPOCH_MAX = 1000


#: Options of ``hwkeras fit`` that are constructor arguments of some models (see model_options).
MODEL_OPTIONS = ("nu", "beta", "gamma", "eta", "eta_s", "eta_h", "dataset_size")


def resolve_options(options):
    """Fills options left unset from the preset; returns a plain dict (the run's config)."""
    from hwkeras.presets import PRESETS, default_hidden_units

    config = dict(PRESETS[options["preset"]])
    for key in ("latent_dim", "batch_size", "steps", "learning_rate"):
        if options.get(key) is not None:
            config[key] = options[key]
    for key in ("model", "dataset", "data_dir", "preset", "image_size", "seed", "psi", "hidden_units"):
        config[key] = options.get(key)
    if config["hidden_units"] is None:
        config["hidden_units"] = default_hidden_units(config["dataset"])
    if config["batch_size"] < 1 or config["steps"] < 1:
        raise ValueError("--batch-size and --steps must be positive integers")
    if config["learning_rate"] <= 0:
        raise ValueError("--learning-rate must be positive")
    if config["latent_dim"] < 1 or config["hidden_units"] < 1:
        raise ValueError("--latent-dim and --hidden-units must be positive integers")
    # The preset's nu is CHyVAE's; other models only get the options the user gave.
    config["model_options"] = {k: options.get(k) for k in MODEL_OPTIONS if options.get(k) is not None}
    if config["model"] == "chyvae":
        config["model_options"].setdefault("nu", config.pop("nu"))
    else:
        config.pop("nu")
    return config


def build_run_model(config, dataset, psi):
    """The model named in ``config`` with the user's options; warnings shown as one line each."""
    from hwkeras.baselines import build_model, model_options

    model_kwargs = dict(config["model_options"])
    known = model_options(config["model"])
    if psi is not None:
        model_kwargs["psi"] = psi
    if "dataset_size" in known and "dataset_size" not in model_kwargs and hasattr(dataset, "__len__"):
        model_kwargs["dataset_size"] = len(dataset)  # N of BF-VAE's 1/N KL(q(alpha) || p(alpha))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(config["model"], latent_dim=config["latent_dim"],
                            image_shape=dataset.observation_shape, hidden_units=config["hidden_units"],
                            seed=config["seed"], **model_kwargs)
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    return model


def describe_device():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU ({', '.join(g.name for g in gpus)})"
    return "CPU (TensorFlow sees no GPU; install hwkeras[gpu] on a CUDA machine to use one)"


def save_keras_atomically(model, path):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".model.partial-", suffix=".keras", dir=directory)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def evaluation_callback(options, dataset):
    """The --eval-every callback, validated before training starts (None without the option)."""
    if options.get("eval_every") is None:
        return None
    if options["eval_every"] < 1:
        raise ValueError("--eval-every must be a positive number of steps")
    from hwkeras.cli.evaluate import _parse_metric_params
    from hwkeras.training.callbacks import DisentanglementCallback
    from hwkeras.metrics.evaluate import metric_parameters
    from hwkeras.metrics.utils import check_ground_truth_data

    check_ground_truth_data(dataset)
    callback = DisentanglementCallback(
        dataset, options["eval_metrics"], params=_parse_metric_params(options.get("eval_params") or ()),
        seed=options["seed"], log=lambda line: click.echo(f"\n{line}"),
    )
    for metric, overrides in callback.metric_params.items():
        if metric not in callback.metric_names:
            raise ValueError(f"--eval-param names metric {metric!r}, which --eval-metrics does not compute")
        metric_parameters(metric, "dlib", overrides)
    return callback


def prepare_fit(options, parse_psi):
    """Validates everything and builds the model; ValueError / FileExistsError are the user's input."""
    config = resolve_options(options)
    # Validate everything cheap before training or touching the disk.
    from hwkeras.data import get_dataset

    dataset = get_dataset(config["dataset"], data_dir=config["data_dir"], image_size=config["image_size"])
    psi = parse_psi(config["psi"], config["latent_dim"])
    evaluation = evaluation_callback(options, dataset)

    import keras

    keras.utils.set_random_seed(config["seed"])
    model = build_run_model(config, dataset, psi)

    run_name = options.get("run_name") or "{}-{}-{}".format(
        config["dataset"], config["model"], datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    run_dir = os.path.join(options["output_dir"], run_name)
    export_path = os.path.join(options["export_dir"], run_name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"run directory {run_dir} already exists; choose another --run-name")
    if not options["no_export"] and os.path.exists(export_path):
        raise FileExistsError(f"{export_path} already exists; choose another --run-name or --export-dir")
    return options, config, dataset, psi, model, evaluation, run_dir, export_path


def train(options, config, dataset, psi, model, evaluation, run_dir, export_path):
    import keras
    import numpy as np

    from hwkeras.export import export_saved_model
    from hwkeras.viz import save_reconstruction_grid, save_traversal_grid

    h, w, c = dataset.observation_shape
    settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in sorted(config["model_options"].items()))
    click.echo(f"hwkeras fit: {type(model).__name__} on {config['dataset']} ({h}x{w}x{c}), latent "
               f"{config['latent_dim']}{', ' + settings if settings else ''}, batch {config['batch_size']}, "
               f"{config['steps']} steps")
    click.echo(f"Training on {describe_device()}")
    if getattr(dataset, "cache", False) and hasattr(dataset, "cached_images"):
        click.echo("Decoding the images once into the dataset's cache (later runs reuse it) ...")
        dataset.cached_images()
    os.makedirs(run_dir)

    steps = config["steps"]
    if evaluation is not None:  # one epoch per evaluation, so the scores share the losses' rows
        steps_per_epoch = options["eval_every"]
        epochs = math.ceil(steps / steps_per_epoch)
    else:
        epochs = math.ceil(steps / STEPS_PER_EPOCH_MAX)
        steps_per_epoch = math.ceil(steps / epochs)
    dataset_options = {"image_size": config["image_size"]}
    if config["data_dir"]:
        dataset_options["data_dir"] = os.path.abspath(config["data_dir"])
    config.update(model_config=model.get_config(), steps_trained=epochs * steps_per_epoch,
                  image_shape=list(dataset.observation_shape), dataset_options=dataset_options)
    if psi is not None:
        config["psi"] = np.asarray(psi).tolist()
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]))
    model.fit(
        dataset.batches(config["batch_size"], seed=config["seed"]),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=([evaluation] if evaluation else []) + [  # evaluation first: the loggers see its scores
            keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs")),
            keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv")),
        ],
        shuffle=False,  # the stream is already random; Keras would only warn
        verbose="auto",
    )

    model_path = os.path.join(run_dir, "model.keras")
    save_keras_atomically(model, model_path)
    if evaluation is not None:
        with open(os.path.join(run_dir, "eval_metrics.json"), "w") as f:
            json.dump(evaluation.records, f, indent=2)
    preview = dataset.sample_observations(8, np.random.RandomState(config["seed"] + 1))
    save_traversal_grid(model, preview[0], os.path.join(run_dir, "traversal.png"))
    save_reconstruction_grid(model, preview, os.path.join(run_dir, "reconstructions.png"))
    click.echo(f"\nRun directory: {run_dir}")
    for name in ("config.json", "model.keras", "history.csv", "traversal.png", "reconstructions.png", "logs"):
        click.echo(f"  {os.path.join(run_dir, name)}")
    if not options["no_export"]:
        export_saved_model(model, export_path, card={"dataset": config["dataset"],
                                                     "training_steps": config["steps_trained"]})
        click.echo(f"SavedModel (encode, decode, reconstruct, sample, sample_seeded, traverse): {export_path}")
    click.echo(f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")
