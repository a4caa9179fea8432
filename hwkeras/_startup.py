"""Quiet TensorFlow start-up for the ``hwkeras`` command line.

TensorFlow's C++ start-up logs (absl, oneDNN, CUDA probing) are written before
TF_CPP_MIN_LOG_LEVEL takes effect. The CLI mutes file descriptor 2 while TensorFlow loads, so its
own messages and one-line errors stay readable; a library import is left untouched.
"""

import contextlib
import os
import sys


def running_as_cli():
    return os.path.basename(sys.argv[0] if sys.argv else "") == "hwkeras"


@contextlib.contextmanager
def muted_native_stderr(enabled=True):
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow_startup():
    """Context for the first import of keras/TensorFlow: muted only under the CLI."""
    cli = running_as_cli()
    if cli:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return muted_native_stderr(cli)
