"""``hwkeras serve``'s bad input: one ``Error:`` line and exit code 2, before Ray or TensorFlow start."""

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import deadline

HWKERAS = os.path.join(os.path.dirname(sys.executable), "hwkeras")


def serve(*args, cwd):
    return subprocess.run([HWKERAS, "serve", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=deadline(60))


@pytest.fixture
def places(tmp_path):
    """A folder that passes for a SavedModel export (its files are only looked at), a run directory
    without a model, and a listening socket on a port."""
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "sm" / "model.json").write_text("{}")
    (tmp_path / "nocard").mkdir()
    (tmp_path / "nocard" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    yield tmp_path, listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("args, message", [
    (["missing"], "missing does not exist (expected a SavedModel, a run directory or a .keras file)"),
    (["empty", "--runtime", "tensorflow"],
     "not a SavedModel: serve a run directory or .keras file with --runtime keras"),
    (["nocard"], "nocard has no model.json (its model card); re-export it with hwkeras export"),
    (["empty"], "empty is not a run directory"),
    (["sm", "--name", "a:b"], "--name 'a:b': a model name in URLs is letters, digits"),
    (["sm", "--replicas", "0"], "Invalid value for '--replicas'"),
    (["sm", "--max-request-mb", "0"], "Invalid value for '--max-request-mb'"),
])
def test_bad_input_is_one_error_line(places, args, message):
    root, _ = places
    done = serve(*args, cwd=root)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Ray" not in done.stderr


def test_a_busy_port_is_said_before_ray_starts_and_another_host_is_warned_about(places):
    root, port = places
    done = serve("sm", "--port", port, cwd=root)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and lines == [lines[-1]] and f"cannot listen on 127.0.0.1:{port}" in lines[-1]
    assert "choose another --port" in lines[-1]
    done = serve("sm", "--port", port, "--host", "0.0.0.0", "--name", "m", cwd=root)
    assert done.stderr.startswith("Warning: --host 0.0.0.0 serves the model to other machines"), done.stderr


def test_an_address_where_no_cluster_answers_is_said_at_once(places):
    root, _ = places
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = serve("sm", "--address", f"127.0.0.1:{port}", cwd=root)
    assert done.returncode == 2 and f"nothing answers at --address 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "ray start --head" in done.stderr
