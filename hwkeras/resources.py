"""What the machine allows: sizes that cannot fit in memory are refused before anything is
allocated, and directories made private by ``tempfile.mkdtemp`` get the process's usual mode.

``training_bytes`` is a rough lower bound of what a training step holds: the parameters with
their gradients and two Adam slots, and the activations of one batch kept for the backward pass.
It errs on the small side (it leaves out the framework's workspace), so a refusal is certain:
``--latent-dim 100000`` would need terabytes for CHyVAE's head alone. What a model holds besides
the shared encoder and decoder comes from its registry entry's ``Memory`` traits and options
(``hwkeras.models``), so a new model is counted as it declares. Pure Python: no Keras.
"""

import os

FLOAT = 4  # bytes of a float32
#: Copies of every parameter during training: the weight, its gradient, Adam's two slots.
PARAMETER_COPIES = 4


def available_memory():
    """Bytes of memory this process can still get (Linux MemAvailable, else the physical size); None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _conv_parameters(channels, hidden_units, h, w, architecture="chyvae"):
    # Both bodies: 32, 32, 64, 64 filters down and 64, 64, 32, 32, C up (hwkeras.layers); dlib's
    # last two encoder convolutions are 2x2 rather than 4x4.
    decoder = 16 * (64 * 64 + 64 * 32 + 32 * 32 + 32 * channels)
    encoder = 16 * (channels * 32 + 32 * 32) + (4 if architecture == "dlib" else 16) * (32 * 64 + 64 * 64)
    return encoder + decoder + 2 * (h // 16) * (w // 16) * 64 * hidden_units


def training_bytes(model, latent_dim, hidden_units, image_shape, batch_size, images_per_step=1,
                   discriminator_units=0, discriminator_layers=0, options=None, architecture="chyvae"):
    """{option: bytes} of a training step's memory, each share under the option that drives it.

    ``model``: a registered name, whose ``Memory`` traits say what its posterior and loss hold;
    ``options``: its options (defaults filled in), passed to the traits' ``extra`` (None: the defaults);
    ``architecture``: the encoder/decoder body (hwkeras.architectures.ARCHITECTURES).
    """
    from hwkeras.models import memory_traits, model_options

    traits = memory_traits(model)
    h, w, c = image_shape
    p, units, batch = int(latent_dim), int(hidden_units), int(batch_size) * int(images_per_step)
    head = p + p * (p + 1) // 2 if traits.full_covariance else 2 * p
    latent = units * head + p * units + discriminator_units * p
    per_image = p * p * 8 if traits.full_covariance else 0
    per_image += batch * p if traits.pairwise else 0
    # Each conv feature map once forward, once for its gradient, in the encoder and the decoder.
    maps = h * w * (c + 8 + 2 + 0.5 + 0.125)
    shares = {
        "--latent-dim": FLOAT * (PARAMETER_COPIES * latent + 2 * batch * per_image),
        "--hidden-units": FLOAT * PARAMETER_COPIES * (_conv_parameters(c, units, h, w, architecture)
                                                     + max(discriminator_layers - 1, 0) * discriminator_units ** 2),
        "--batch-size": FLOAT * 2 * 2 * batch * maps,
    }
    if traits.extra is not None:
        for option, nbytes in traits.extra({**model_options(model), **(options or {})}, p, batch).items():
            shares[option] = shares.get(option, 0) + nbytes
    return shares


def model_training_bytes(model, latent_dim, hidden_units, image_shape, batch_size, options=None,
                         architecture="chyvae"):
    """``training_bytes`` with what the model's options say: its discriminator's size, the images a
    step takes (``update_order``), its traits' extra; ``options``: those given (the rest: defaults)."""
    from hwkeras.hyperparameters import images_per_step
    from hwkeras.models import model_options

    chosen = {**model_options(model), **(options or {})}
    return training_bytes(model, latent_dim, hidden_units, image_shape, batch_size,
                          images_per_step(chosen.get("update_order")), chosen.get("discriminator_units") or 0,
                          chosen.get("discriminator_layers") or 0, options=chosen, architecture=architecture)


def human(nbytes):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000.0


def check_fits(shares, what, values=None, available=None):
    """ValueError naming the option with the largest share when the total cannot fit in memory.

    ``shares``: {option: bytes}; ``what``: what the memory is for ("training", ...); ``values``:
    {option: the value given}, for the message.
    """
    available = available_memory() if available is None else available
    total = sum(shares.values())
    if available is None or total <= available:
        return
    option = max(shares, key=shares.get)
    given = f"{option} {(values or {})[option]}" if option in (values or {}) else option
    raise ValueError(f"{given} is too large: {what} would take at least {human(total)} of memory and this "
                     f"machine has {human(available)} available; use a smaller {option}")


def default_dir_mode():
    """The mode ``os.makedirs`` would give a new directory (0755 under the usual umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask
