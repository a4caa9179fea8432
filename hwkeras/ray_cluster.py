"""Joining a running Ray cluster (``--address``): ``hwkeras serve`` and ``hwkeras sweep`` both join this way.

Ray is imported here only inside the function, and only those two commands reach it (fit never
imports Ray: tests/sweep/test_sweep.py).
"""

from hwkeras.errors import UserError
from hwkeras.files import one_line
from hwkeras.frameworks import muted_native_stderr


def join(address, **options):
    """``ray.init(address=address, **options)`` for ``--address``: quietly, and a cluster that cannot be
    joined is one ``UserError`` line.

    Muted while joining: a cluster that refuses this process (Ray's token authentication, on by
    default once ~/.ray/auth_token exists, is never turned on for an explicit address) has Ray's C++
    client print a warning a second for about 20 s before it gives up."""
    import ray

    try:
        with muted_native_stderr():
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UserError(f"cannot join the Ray cluster at --address {address}: {one_line(exc)} (is it running, and is "
                        f"its auth token here: RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or ~/.ray/auth_token?)") \
            from None
