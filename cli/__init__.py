"""The ``hwkeras`` command-line application (installed as ``hwkeras.cli``)."""
