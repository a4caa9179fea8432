"""The encoder/decoder bodies every model can take (its ``architecture``), without Keras.

The names, what each is and the dense width it defaults to live here, so that ``hwkeras fit
--architecture``, ``sweep --grid architecture=...`` and the model constructors check a name before
Keras loads; the networks themselves are in ``hwkeras.layers`` (``NETWORKS``: conv.py, dlib.py).
"""

#: name -> (what it is, the dense width it defaults to; None: the dataset's, hwkeras.data.registry).
ARCHITECTURES = {
    "chyvae": ("the CHyVAE paper's (Ansari & Soh 2019): four 4x4 stride-2 convolutions and one dense layer",
               None),
    "dlib": ("disentanglement_lib's conv_encoder/deconv_decoder (Locatello et al. 2019): 4x4, 4x4, 2x2, 2x2 "
             "stride-2 convolutions and dense 256", 256),
}
#: The body of every model unless one is asked for (and of every run from before the option).
DEFAULT_ARCHITECTURE = "chyvae"


def check_architecture(architecture):
    """``architecture`` if it is a known name, else a one-line ValueError listing the names."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return architecture


def architecture_hidden_units(architecture):
    """The dense width ``architecture`` has by default, or None when it takes the dataset's."""
    return ARCHITECTURES[check_architecture(architecture)][1]
