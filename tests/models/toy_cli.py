"""``python -m tests.models.toy_cli ARGS``: ``hwkeras ARGS`` with the toy model "wobbly-vae"
registered first, as a plugin would (the command line builds its options when it is imported).

Keras-free until a command runs: the registration names the class's module, imported on first use.
"""

import sys

from hwkeras.models import Memory, ModelEntry, Option, register
from hwkeras.resources import FLOAT, PARAMETER_COPIES


def check_wobble_units(value):
    if int(value) < 1:
        raise ValueError(f"wobble_units must be a positive number of units, got {value}")
    return value


def wobble_bytes(options, latent_dim, batch_images):
    """The wobble layer's weights (with gradients and Adam's slots) and its activations."""
    units = int(options["wobble_units"])
    return {"--wobble-units": FLOAT * (PARAMETER_COPIES * (latent_dim + 1) * units + 2 * batch_images * units)}


ENTRY = ModelEntry("tests.models.toy_model", "WobblyVAE", "a toy: beta-VAE with a wobble layer on its codes",
                   (Option("beta", float, 4.0, "KL weight"),
                    Option("wobble_units", int, 4, "width of the wobble layer on the codes", check=check_wobble_units)),
                   Memory(extra=wobble_bytes))


def register_toy():
    register("wobbly-vae", ENTRY)


if __name__ == "__main__":
    register_toy()
    from hwkeras.cli.main import main

    main(sys.argv[1:], prog_name="hwkeras")
