"""``hwkeras serve``: TF Serving's REST API and the latent explorer on Ray Serve (docs/SERVING.md)."""

import ipaddress
import os
import re
import signal
import socket

import click

from hwkeras.cli.common import Command, InputError, examples
from hwkeras.files import EXPORT_CARD

RUNTIMES = ("tensorflow", "keras", "onnx")


@click.command("serve", cls=Command, epilog=examples(
    'hwkeras serve saved_models/RUN                     # http://127.0.0.1:8501/, API under /v1/models/RUN',
    'hwkeras serve runs/RUN --runtime keras --port 9000',
    'hwkeras serve saved_models/RUN --replicas 4 --address auto      # onto a running Ray cluster',
))
@click.argument("path")
@click.option("--name", help="The model's name in URLs (/v1/models/NAME).  [the folder's or file's name]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but a loopback address exposes the model (a warning is printed).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="HTTP port.")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="Copies of the model serving in parallel (Ray Serve replicas, one CPU each).")
@click.option("--max-batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests batched into one model call (encode, decode, reconstruct); 1 turns batching off.")
@click.option("--batch-wait-ms", type=click.FloatRange(min=0, max=10_000), default=5.0, show_default=True,
              help="How long a batch waits to fill.")
@click.option("--address", help="An existing Ray cluster to deploy onto (e.g. auto or ray://HOST:10001); "
                                "default: a local Ray started and stopped with this command.")
@click.option("--max-request-mb", type=click.FloatRange(min=0, min_open=True, max=2048), default=16.0,
              show_default=True, help="Larger request bodies are refused (413).")
@click.option("--runtime", type=click.Choice(RUNTIMES),
              help="tensorflow: a SavedModel export; keras: a run directory or .keras file; onnx: an ONNX "
                   "export (hwkeras export --format onnx).  [tensorflow for a SavedModel, else keras]")
def serve_command(path, name, host, port, replicas, max_batch_size, batch_wait_ms, address, max_request_mb,
                  runtime):
    """Serve PATH (a SavedModel, run directory or .keras file) over HTTP until Ctrl-C."""
    runtime = check_path(path, runtime)
    name = name or os.path.splitext(os.path.basename(os.path.normpath(os.path.abspath(path))))[0]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise InputError(f"--name {name!r}: a model name in URLs is letters, digits, '.', '_' and '-' "
                         f"(starting with a letter or digit); pass --name")
    if not is_loopback(host):
        click.echo(f"Warning: --host {host} serves the model to other machines, without authentication or TLS; "
                   f"put it behind a proxy that has them", err=True)
    if not address:
        check_port_free(host, port)
    else:
        check_cluster_reachable(address)
    try:
        from hwkeras.serve import app
    except ImportError as exc:
        raise InputError(f"hwkeras serve needs Ray Serve ({exc.name} is missing): pip install 'hwkeras[serve]'") \
            from None
    stop_on_sigterm()
    app.start(path, runtime, name, host, port, replicas, max_batch_size, batch_wait_ms, max_request_mb, address)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    click.echo(f"Serving {name} ({runtime}, {replicas} replica{'s' * (replicas > 1)}): {url}/v1/models/{name} ; "
               f"explorer {url}/ ; Ctrl-C stops", err=True)
    try:
        signal.pause() if hasattr(signal, "pause") else _sleep_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.stop(name, address)
    click.echo(f"Stopped serving {name}", err=True)


def check_path(path, runtime):
    """Before Ray starts: PATH exists and holds what the runtime serves; returns the runtime."""
    from hwkeras.files import is_saved_model
    from hwkeras.outputs import what_is_at

    if not os.path.exists(path):
        raise InputError(f"{path} does not exist (expected a SavedModel, a run directory or a .keras file)")
    if runtime is None:
        runtime = "tensorflow" if is_saved_model(path) else "keras"
    if runtime == "tensorflow" and not is_saved_model(path):
        raise InputError(f"{path} is {what_is_at(path)}, not a SavedModel: serve a run directory or .keras file "
                         f"with --runtime keras, or export it first (hwkeras export)")
    if runtime == "tensorflow" and not os.path.isfile(os.path.join(path, EXPORT_CARD)):
        raise InputError(f"{path} has no {EXPORT_CARD} (its model card); re-export it with hwkeras export")
    if runtime == "keras":
        from hwkeras.runs.target import resolve_run

        resolve_run(path)  # a run directory or .keras file, as hwkeras export takes
    if runtime == "onnx":
        import importlib.util

        if importlib.util.find_spec("hwkeras.serve.onnx") is None:
            raise InputError("--runtime onnx is not available in this hwkeras yet; serve the SavedModel export")
    return runtime


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
                             f"or --host") from None


def check_cluster_reachable(address):
    """A HOST:PORT --address is probed first: Ray retries a dead address for minutes before it fails."""
    match = re.fullmatch(r"\[?([^\[\]/]+?)\]?:(\d+)", address)
    if match is None:  # auto, ray://..., or a form Ray itself judges
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout=5).close()
    except OSError as exc:
        raise InputError(f"nothing answers at --address {address} ({exc.strerror or exc.__class__.__name__}): "
                         f"start the cluster with ray start --head, or check the address") from None


def stop_on_sigterm():
    """SIGTERM (a service manager's stop) ends the server as Ctrl-C does: Ray is shut down cleanly.

    SIGINT's handler is set too: Python leaves SIGINT ignored when the process starts with it ignored
    (a shell's background job, a pytest-xdist worker's child), and Ctrl-C or ``kill -INT`` then did
    nothing until the server was killed, leaving Ray's processes behind."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _sleep_forever():
    import time

    while True:
        time.sleep(3600)
