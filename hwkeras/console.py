"""The lines a run says as it goes (what it trains, where it wrote, what it kept), on the
``hwkeras.run`` logger: ``say`` for the story (stdout), ``note`` for notes and warnings (stderr).

Unless the application configures that logger (or the root logger) itself, the lines are printed
as they are, to the ``sys.stdout`` and ``sys.stderr`` of the moment; the command line always
prints them (``to_terminal``), so that it and its tests see them like prints.
"""

import logging
import sys

logger = logging.getLogger("hwkeras.run")


class _Console(logging.Handler):
    def emit(self, record):
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        stream.write(self.format(record) + "\n")
        stream.flush()


def to_terminal():
    """The lines go to the terminal as they are, whatever logging is configured (the command line)."""
    if not any(isinstance(h, _Console) for h in logger.handlers):
        handler = _Console()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _ready():
    if not logger.handlers and not logging.getLogger().handlers:
        to_terminal()


def say(message):
    _ready()
    logger.info(message)


def note(message):
    _ready()
    logger.warning(message)
