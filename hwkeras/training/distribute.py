"""Training on several devices: the one setup of ``hwkeras fit --distribute`` and of scripts.

    scope = distribute.start("data-parallel", batch_size=256)   # or "mirrored"; before building
    with scope:
        model = hwkeras.HyperpriorVAE(...)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(dataset.batches(256), ...)                         # 256 images a step, split over the devices

- ``"data-parallel"`` (JAX): ``keras.distribution.DataParallel`` over every device JAX sees, set
  for the whole process (``keras.distribution.set_distribution``): weights are replicated, each
  batch is sharded along its first axis, and the step is one SPMD program over the *global*
  batch. Everything in it, the batch mean of the loss, the trackers, FactorVAE's permutation of
  the codes across the batch and beta-TCVAE's minibatch estimate, means what it means on one
  device; the random draws too are the same numbers (JAX's draws do not depend on the sharding).
  Nothing is rescaled.
- ``"mirrored"`` (TensorFlow): ``tf.distribute.MirroredStrategy`` over the local GPUs (the CPU
  when there are none), or ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a
  cluster. The model must be built inside the returned scope. Keras splits each global batch
  into equal per-replica shares; each replica runs ``train_step`` on its share, and the
  optimizers sum the replicas' gradients, so ``hwkeras.training.tensorflow`` divides each loss by
  ``num_replicas_in_sync`` (that sum is then the gradient of the global mean, for the model's
  optimizer and the discriminator's alike, in both update orders). The trackers keep one running
  total per replica and Keras averages their results over the replicas, which is the global mean
  because the shares are equal. Terms that couple the examples of a batch (FactorVAE's and
  BF-VAE's permutation, beta-TCVAE's minibatch estimate) are computed per replica, on its share,
  and each replica draws its own noise (the same seed stream on every replica).

The global batch must split evenly: ``batch_size`` a multiple of the number of devices.
"""

import contextlib
import os

import keras

from hwkeras.devices import check_distribution

DATA_PARALLEL, MIRRORED = "data-parallel", "mirrored"


def _jax_devices(devices):
    return list(devices) if devices is not None else keras.distribution.list_devices()


def _tensorflow_strategy(devices):
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.MirroredStrategy(devices)


def _check_split(batch_size, replicas):
    if batch_size is not None and int(batch_size) % replicas:
        raise ValueError(f"--batch-size {batch_size} does not split evenly over {replicas} devices; "
                         f"use a multiple of {replicas}")


def start(name, batch_size=None, devices=None):
    """Sets up distribution ``name`` ("none", "data-parallel", "mirrored"); returns the scope in
    which to build (and compile) the model. ``devices``: a subset (JAX device strings such as
    "cpu:0", or TensorFlow device names); default all. ``batch_size``: the global batch, checked
    to split evenly. Raises a one-line ValueError for a distribution the backend cannot run.
    """
    name = check_distribution(name, keras.backend.backend())
    if name == DATA_PARALLEL:
        devices = _jax_devices(devices)
        _check_split(batch_size, len(devices))
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return contextlib.nullcontext()
    if name == MIRRORED:
        strategy = _tensorflow_strategy(devices)
        _check_split(batch_size, strategy.num_replicas_in_sync)
        return strategy.scope()
    return contextlib.nullcontext()


def model_scope(model):
    """The scope ``model`` was built in: compile it (its optimizer's variables) there too."""
    if keras.backend.backend() == "tensorflow":
        return model.distribute_strategy.scope()
    return contextlib.nullcontext()


def replicas():
    """How many devices share each batch under the current distribution (1 without one)."""
    backend = keras.backend.backend()
    if backend == "jax":
        distribution = keras.distribution.distribution()
        return len(distribution.device_mesh.devices.ravel()) if distribution is not None else 1
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def describe(name, model=None):
    """One line for the log, e.g. "data-parallel over 2 devices (cpu:0, cpu:1)"; None without one."""
    if name in (None, "none"):
        return None
    if name == DATA_PARALLEL:
        devices = [str(d) for d in keras.distribution.distribution().device_mesh.devices.ravel()]
    else:
        strategy = model.distribute_strategy if model is not None else None
        devices = list(strategy.extended.worker_devices) if strategy is not None else []
    return f"{name} over {len(devices)} device{'s' if len(devices) != 1 else ''} ({', '.join(devices)})"
