"""Which Keras backend trains, on which accelerator, and whether a GPU sits unused.

Keras reads its backend once per process (``KERAS_BACKEND``), so ``select_backend`` must run
before Keras is imported. ``describe_device`` asks the backend itself (TensorFlow's GPU list,
``jax.devices()``, ``torch.cuda``) instead of assuming TensorFlow, and compares with the NVIDIA
GPUs the machine has, so that a CUDA machine training on its CPU says so.
"""

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
#: Keras dtype policies hwkeras trains in (``hwkeras fit --precision``, a model's ``dtype``). No
#: float16: it would need loss scaling, which bfloat16's float32-sized exponent does not.
PRECISIONS = ("float32", "mixed_bfloat16")
#: ``hwkeras fit --distribute``: none, JAX's DataParallel or TensorFlow's MirroredStrategy
#: (hwkeras.training.distribute).
DISTRIBUTIONS = ("none", "data-parallel", "mirrored")
#: The backend each distribution runs on.
BACKEND_OF = {"data-parallel": "jax", "mirrored": "tensorflow"}
_NVIDIA_GPUS = "/proc/driver/nvidia/gpus"  # one folder per GPU the NVIDIA driver sees (Linux)


def check_distribution(name, backend):
    """``name`` if this backend can train that way, else a one-line ValueError naming the fix."""
    if name is None or name == "none":
        return "none"
    if name not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {name!r}; choose one of: {', '.join(DISTRIBUTIONS)}")
    needed = BACKEND_OF[name]
    if backend != needed:
        other = {b: n for n, b in BACKEND_OF.items()}.get(backend)
        hint = f" (on {backend} use --distribute {other})" if other else ""
        raise ValueError(f"--distribute {name} runs on the {needed} backend, not {backend}; "
                         f"use --backend {needed}{hint}")
    return name


def select_backend(name):
    """Sets KERAS_BACKEND to ``name`` (None: keep the environment's); ValueError if Keras is loaded."""
    if name is None:
        return os.environ.get("KERAS_BACKEND", "tensorflow")
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise ValueError(f"Keras is already running on {current}; the backend is chosen once per process")
        return name
    os.environ["KERAS_BACKEND"] = name
    return name


def machine_gpus():
    """The NVIDIA GPUs the driver sees, whatever the framework (0 where there is no driver)."""
    try:
        return len(os.listdir(_NVIDIA_GPUS))
    except OSError:
        return 0


def backend_accelerators():
    """(kind, names): the devices the active Keras backend computes on, e.g. ("gpu", ["cuda:0"])."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return ("gpu", [g.name for g in gpus]) if gpus else ("cpu", ["CPU"])
    if backend == "jax":
        import jax

        devices = jax.devices()
        return devices[0].platform, [f"{d.platform}:{d.id} ({d.device_kind})" for d in devices]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
        return "cpu", ["CPU"]
    return "unknown", [backend]


def describe_device():
    """(one line for the log, a warning or None): backend, devices, and an unused GPU if any."""
    import keras

    backend = keras.backend.backend()
    kind, names = backend_accelerators()
    line = f"{kind.upper()} ({backend} backend" + (f": {', '.join(names)})" if kind != "cpu" else ")")
    warning = None
    gpus = machine_gpus()
    if gpus and kind == "cpu":
        fix = {"tensorflow": "install TensorFlow's CUDA build (pip install 'hwkeras[gpu]') or use --backend jax",
               "jax": "install JAX's CUDA build (pip install 'jax[cuda12]')",
               "torch": "install a CUDA build of PyTorch"}.get(backend, "use a backend with GPU support")
        warning = (f"this machine has {gpus} NVIDIA GPU{'s' if gpus > 1 else ''} but the {backend} backend "
                   f"sees none and trains on the CPU; {fix}")
    return line, warning
