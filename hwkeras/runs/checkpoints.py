"""Training checkpoints inside a run directory: everything a resumed run needs to continue exactly.

    RUN_DIR/checkpoints/step-00001000/state.weights.h5     model.save_weights: the weights, the model's
                                                           optimizer and (adversarial models) the
                                                           discriminator's optimizer, slots and iterations
    RUN_DIR/checkpoints/step-00001000/checkpoint.json      the step, the model's class and config, the
                                                           seed generators' states, the loss trackers

The data position needs nothing more: training batch ``i`` is a pure function of ``(seed, i)``
(``hwkeras.data.batching``), so a run resumed at step ``k`` streams from ``start=k``.

Why not ``keras.callbacks.BackupAndRestore`` (the same two files underneath): it restores only at
epoch granularity (it records the batch but resumes from the start of the epoch, so a mid-epoch
backup would replay batches on top of weights that have already seen them); it writes the weights
file in place and the metadata after it, so a kill in between leaves a mismatched or truncated pair;
``save_weights`` does not hold ``keras.random.SeedGenerator`` states or the epoch's loss trackers;
it keeps one (or two) backups and deletes them when training ends. Here each checkpoint is written
to a staging directory and renamed into place (a reader sees a whole checkpoint or none), the last
``keep`` are kept, and a damaged newest one falls back to the one before.
"""

import json
import os
import re
import shutil
import tempfile
import time

import keras
import numpy as np

from hwkeras.resources import default_dir_mode
from hwkeras.runs import layout

DEFAULT_KEEP = 3
_NAME = re.compile(r"^step-(\d+)$")
_FORMAT = 1


def checkpoint_dir(run_dir):
    return os.path.join(run_dir, layout.CHECKPOINTS)


def seed_generator_states(model):
    """The state variables of every ``keras.random.SeedGenerator`` of the model, in a fixed order."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


def build_optimizers_for_restore(model):
    """Creates the optimizer slots a checkpoint holds (before the first step creates them)."""
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        # Over every trainable weight, as hwkeras.training.build_optimizers does on the first step.
        model.optimizer.build(model.trainable_variables)


class Checkpoint:
    """One checkpoint on disk: ``path`` (its directory), ``step`` and its ``metadata`` dict."""

    def __init__(self, path, metadata):
        self.path = path
        self.metadata = metadata
        self.step = int(metadata["step"])

    @property
    def weights_path(self):
        return os.path.join(self.path, layout.CHECKPOINT_WEIGHTS)

    def __repr__(self):
        return f"Checkpoint(step={self.step}, path={self.path!r})"

    def build_model(self):
        """A fresh model of the checkpoint's class and config (weights not loaded yet)."""
        cls = keras.saving.get_registered_object(self.metadata["class_name"])
        if cls is None:
            import hwkeras

            hwkeras.register_keras_classes()
            cls = keras.saving.get_registered_object(self.metadata["class_name"])
        if cls is None:
            raise ValueError(f"{self.path}: unknown model class {self.metadata['class_name']!r}")
        return cls.from_config(self.metadata["model_config"])

    def restore(self, model):
        """Loads weights, both optimizers' state and the seed generators' states into ``model``.

        The model must be the one that was saved (same class and config); compile it first to
        restore its optimizer too (an uncompiled model gets the weights alone).
        """
        build_optimizers_for_restore(model)
        model.load_weights(self.weights_path)
        states = seed_generator_states(model)
        saved = self.metadata.get("seed_generators", [])
        if len(saved) != len(states):
            raise ValueError(f"{self.path} holds {len(saved)} seed generator states, the model has {len(states)}")
        for variable, value in zip(states, saved):
            variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))
        return model

    def restore_trackers(self, model):
        """The epoch's running loss means at the checkpoint (a mid-epoch resume continues them)."""
        saved = self.metadata.get("trackers")
        if saved is None or len(saved) != len(model.metrics_variables):
            return False
        for variable, value in zip(model.metrics_variables, saved):
            variable.assign(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))
        return True

    def load_model(self):
        """The checkpoint's model with its weights, ready for inference (no optimizer)."""
        return self.restore(self.build_model())


def _read_metadata(path):
    with open(os.path.join(path, layout.CHECKPOINT_METADATA)) as f:
        metadata = json.load(f)
    if not isinstance(metadata, dict) or "step" not in metadata or "class_name" not in metadata:
        raise ValueError(f"{path}: not an hwkeras checkpoint")
    return metadata


def list_checkpoints(run_dir):
    """Complete checkpoints of a run, newest first (staging leftovers and damaged ones skipped)."""
    directory = checkpoint_dir(run_dir)
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _NAME.match(name)
        path = os.path.join(directory, name)
        if not match or not os.path.isfile(os.path.join(path, layout.CHECKPOINT_WEIGHTS)):
            continue
        try:
            found.append(Checkpoint(path, _read_metadata(path)))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda c: c.step, reverse=True)


def latest_checkpoint(run_dir):
    """The newest complete checkpoint of ``run_dir``, or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[0] if checkpoints else None


def _to_list(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable)).tolist()


def non_finite_weights(model):
    """Paths of the trainable weights holding NaN or inf (empty when all are finite)."""
    return [v.path for v in model.trainable_variables
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))]


def save_checkpoint(model, run_dir, step, keep=DEFAULT_KEEP, **extra):
    """Writes checkpoint ``step`` of ``model`` atomically and keeps the newest ``keep``; returns it.

    On JAX call it where the trained state is on the variables (``model.jax_state_sync()``;
    a callback's ``self.model`` does that).
    """
    build_optimizers_for_restore(model)  # an unbuilt optimizer would save 2 variables, not its slots
    directory = checkpoint_dir(run_dir)
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, f"step-{int(step):08d}")
    staging = tempfile.mkdtemp(prefix=f".partial-step-{int(step):08d}-", dir=directory)
    metadata = {
        "format": _FORMAT,
        "step": int(step),
        "class_name": keras.saving.get_registered_name(type(model)),
        "model_config": model.get_config(),
        "seed_generators": [_to_list(v) for v in seed_generator_states(model)],
        "trackers": [_to_list(v) for v in model.metrics_variables],
        "backend": keras.backend.backend(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }
    try:
        model.save_weights(os.path.join(staging, layout.CHECKPOINT_WEIGHTS))
        with open(os.path.join(staging, layout.CHECKPOINT_METADATA), "w") as f:
            json.dump(metadata, f, indent=1)
        os.chmod(staging, default_dir_mode())
        if os.path.isdir(final):  # the same step again: swap the old one out, then drop it
            old = staging + ".old"
            os.rename(final, old)
            os.rename(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[keep:]:
        shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, metadata)


def remove_staging_leftovers(run_dir):
    """Deletes half-written checkpoints a killed process left behind."""
    directory = checkpoint_dir(run_dir)
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            if name.startswith(".partial-"):
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)



def read_checkpoint(path):
    """The checkpoint in directory ``path`` (ValueError when it is not a whole one)."""
    if not os.path.isfile(os.path.join(path, layout.CHECKPOINT_WEIGHTS)):
        raise ValueError(f"{path} is not an hwkeras checkpoint (no {layout.CHECKPOINT_WEIGHTS})")
    try:
        return Checkpoint(path, _read_metadata(path))
    except OSError as exc:
        raise ValueError(f"{path}: unreadable {layout.CHECKPOINT_METADATA} ({exc.__class__.__name__})") from None


def run_model(run_dir, final_name=layout.MODEL):
    """Which model a run directory holds: ``(path, None)`` for its final .keras file, else
    ``(checkpoint directory, Checkpoint)`` for its newest checkpoint (a run stopped early), else
    ``(None, None)``. ``hwkeras evaluate``, ``export`` and ``report`` all ask this."""
    final = os.path.join(run_dir, final_name)
    if os.path.isfile(final):
        return final, None
    checkpoint = latest_checkpoint(run_dir)
    return (checkpoint.path, checkpoint) if checkpoint is not None else (None, None)
