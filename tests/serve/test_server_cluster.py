"""``hwkeras serve`` beside a running Ray cluster (``ray start --head``): with ``--address`` it deploys
onto that cluster and leaves it running when it stops; without, it starts its own local Ray even when
``RAY_ADDRESS`` names the cluster (Ray's ``ray.init()`` would otherwise join it, and the replicas'
CPU request would be refused there). A cluster that cannot be joined is one line, for ``hwkeras
sweep --address`` too."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from tests.helpers import deadline
from tests.serve import tiny
from tests.serve.test_server import HWKERAS, Server, free_port, images, stop_with_ctrl_c, wait_until_serving

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
# Ray's token authentication, as `ray start` turns it on once ~/.ray/auth_token exists (a local Ray of
# hwkeras serve or sweep writes one): set explicitly here, with a token of the test's own (never
# written to ~/.ray), so that the test does not depend on what ran before it. A client naming the
# cluster's address must be given the token: Ray never sends it to an explicit address on its own.
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}


def answers(port):
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster of its own: its own temp dir (short: Ray's socket paths have a length
    limit), so ``ray.init()`` elsewhere in the suite never finds it; killed with its process group,
    never by ``ray stop`` (which would stop every Ray on the machine)."""
    temp = tempfile.mkdtemp(prefix="hwk-ray-", dir="/tmp")
    port = free_port()
    env = dict(os.environ, **AUTH)
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=2", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        give_up = time.monotonic() + deadline(120)
        while not answers(port):
            assert head.poll() is None, f"ray start exited with {head.returncode}"
            assert time.monotonic() < give_up, "the Ray head did not start"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", port, head
    finally:
        # SIGKILL to the whole group (the head, its GCS, raylet, workers and Serve's actors): SIGTERM
        # has `ray start --block` stop them one by one, about 30 s once Serve has run on it.
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def serve_until_stopped(root, model, extra, env):
    """Starts ``hwkeras serve`` on the tiny export, checks one prediction against the SavedModel,
    stops it with Ctrl-C and returns its log."""
    import tensorflow as tf

    port = free_port()
    log_path = root / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [HWKERAS, "serve", str(root / "sm"), "--name", "sm", "--port", str(port), *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            wait_until_serving(process, log_path)
            served = Server(port, model, tf.saved_model.load(str(root / "sm")).signatures, root)
            x = images(3, seed=4)
            status, got = served.predict({"signature_name": "encode", "instances": x.tolist()})
            assert status == 200, got
            np.testing.assert_allclose([row["mean"] for row in got["predictions"]],
                                       served.local("encode", images=x)["mean"], atol=1e-5)
        finally:
            stop_with_ctrl_c(process)
    return process.returncode, log_path.read_text()


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-cluster")
    model = tiny.tiny_model()
    tiny.export(model, root / "sm")
    return root, model


def test_address_deploys_onto_the_cluster_and_leaves_it_running(cluster, export):
    address, port, head = cluster
    root, model = export
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **AUTH)
    returncode, log = serve_until_stopped(root, model, ["--address", address], env)
    assert returncode == 0 and "Stopped serving sm" in log, log
    assert head.poll() is None and answers(port)  # the user's cluster is still up


def test_without_address_a_local_ray_is_started_even_beside_a_cluster(cluster, export):
    address, port, head = cluster
    root, model = export
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", RAY_ADDRESS=address, **AUTH)
    returncode, log = serve_until_stopped(root, model, [], env)
    assert returncode == 0 and "Stopped serving sm" in log, log
    assert head.poll() is None and answers(port)


@pytest.mark.parametrize("command", ["serve", "sweep"])
def test_a_cluster_that_wants_a_token_missing_here_is_one_error_line(cluster, export, command):
    """Both commands that take --address join through ``hwkeras.ray_cluster.join``; nothing written."""
    address, _, head = cluster
    root, _ = export
    # No token anywhere (HOME moved, so no ~/.ray/auth_token); Ray's client tries once a second, 20
    # times by default, printing a C++ warning each time: 3 tries here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_NUM_REDIS_GET_RETRIES="3", HOME=str(root))
    out = root / f"{command}-out"
    args = {"serve": [str(root / "sm"), "--port", str(free_port())],
            "sweep": ["--model", "vae", "--seeds", "1", "--steps", "4", "--batch-size", "4", "--image-size", "32",
                      "--latent-dim", "2", "--hidden-units", "8", "--output-dir", str(out)]}[command]
    done = subprocess.run([HWKERAS, command, *args, "--address", address], capture_output=True, text=True,
                          env=env, timeout=deadline(180))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: cannot join the Ray cluster at --address {address}: ") and \
        "RAY_AUTH_MODE=token with RAY_AUTH_TOKEN or ~/.ray/auth_token" in lines[0], lines[0]
    assert not out.exists() and head.poll() is None
