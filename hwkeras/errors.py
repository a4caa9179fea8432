"""What the library raises for what a user can act on, each said in one line.

The command line prints each as one ``Error:`` line: a ``UserError`` with exit code 2 (like
click's usage errors), a ``Failed`` with 1, a ``RunStopped`` by a signal with 128 + the signal.
A script catches them like any exception; anything else that escapes is a bug.
"""


class UserError(ValueError):
    """Bad input, or a file or place that cannot be used: the message names the problem and the fix."""


class Failed(Exception):
    """A step failed for a reason outside the user's input (a fault, a child process): one line."""

    exit_code = 1


class RunStopped(Failed):
    """Training stopped before its end: on a fault (``exit_code`` 1), or by a signal (128 + the
    signal; ``signal_name`` set, and the message is not an error but what was kept and how to go on)."""

    def __init__(self, message, exit_code=1, signal_name=None):
        super().__init__(message)
        self.exit_code = exit_code
        self.signal_name = signal_name
