"""The work behind ``hwkeras fit``: data stream, model, training, artefacts, export."""

import datetime
import json
import math
import os
import tempfile
import warnings

import click

STEPS_PER_EPOCH_MAX = 1000


def resolve_options(options):
    """Fills options left unset from the preset; returns a plain dict (the run's config)."""
    from hwkeras.presets import PRESETS

    config = dict(PRESETS[options["preset"]])
    for key in config:
        if options.get(key) is not None:
            config[key] = options[key]
    for key in ("dataset", "preset", "image_size", "seed", "psi"):
        config[key] = options.get(key)
    if config["batch_size"] < 1 or config["steps"] < 1:
        raise ValueError("--batch-size and --steps must be positive integers")
    if config["learning_rate"] <= 0:
        raise ValueError("--learning-rate must be positive")
    return config


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


def run_fit(options, parse_psi):
    config = resolve_options(options)
    # Validate everything cheap before importing TensorFlow or touching the disk.
    from hwkeras.data import get_dataset

    dataset = get_dataset(config["dataset"], image_size=config["image_size"])
    psi = parse_psi(config["psi"], config["latent_dim"])

    import keras
    import numpy as np

    from hwkeras import HyperpriorVAE
    from hwkeras.export import export_saved_model
    from hwkeras.viz import save_reconstruction_grid, save_traversal_grid

    keras.utils.set_random_seed(config["seed"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = HyperpriorVAE(
            latent_dim=config["latent_dim"], nu=config["nu"], psi=psi,
            image_shape=dataset.observation_shape, hidden_units=config["hidden_units"], seed=config["seed"],
        )
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)

    run_name = options.get("run_name") or "{}-chyvae-{}".format(
        config["dataset"], datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    run_dir = os.path.join(options["output_dir"], run_name)
    export_path = os.path.join(options["export_dir"], run_name)
    if os.path.exists(run_dir):
        raise FileExistsError(f"run directory {run_dir} already exists; choose another --run-name")
    if not options["no_export"] and os.path.exists(export_path):
        raise FileExistsError(f"{export_path} already exists; choose another --run-name or --export-dir")
    os.makedirs(run_dir)

    click.echo(f"hwkeras fit: CHyVAE on {config['dataset']} ({dataset.observation_shape[0]}x"
               f"{dataset.observation_shape[1]}x{dataset.observation_shape[2]}), latent {config['latent_dim']}, "
               f"nu {config['nu']:g}, batch {config['batch_size']}, {config['steps']} steps")
    click.echo(f"Training on {describe_device()}")

    steps = config["steps"]
    epochs = math.ceil(steps / STEPS_PER_EPOCH_MAX)
    steps_per_epoch = math.ceil(steps / epochs)
    config.update(psi=model.psi.tolist(), nu=model.nu, steps_trained=epochs * steps_per_epoch,
                  model="chyvae", image_shape=list(dataset.observation_shape),
                  dataset_options={"image_size": config["image_size"]})
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]))
    model.fit(
        dataset.batches(config["batch_size"], seed=config["seed"]),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs")),
            keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv")),
        ],
        shuffle=False,  # the stream is already random; Keras would only warn
        verbose="auto",
    )

    model_path = os.path.join(run_dir, "model.keras")
    save_keras_atomically(model, model_path)
    preview = dataset.sample_observations(8, np.random.RandomState(config["seed"] + 1))
    save_traversal_grid(model, preview[0], os.path.join(run_dir, "traversal.png"))
    save_reconstruction_grid(model, preview, os.path.join(run_dir, "reconstructions.png"))
    click.echo(f"\nRun directory: {run_dir}")
    for name in ("config.json", "model.keras", "history.csv", "traversal.png", "reconstructions.png", "logs"):
        click.echo(f"  {os.path.join(run_dir, name)}")
    if not options["no_export"]:
        export_saved_model(model, export_path)
        click.echo(f"SavedModel (encode, decode, reconstruct, sample): {export_path}")
    click.echo(f"TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'logs')}")
