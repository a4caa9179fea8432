"""``hwkeras serve EXPORT --runtime onnx`` end to end in a process where ``import tensorflow`` fails: TF
Serving's endpoints over HTTP, answered by ONNX Runtime with the SavedModel's numbers (issue 24)."""

import json
import os
import signal
import subprocess

import numpy as np
import pytest

from tests.helpers import deadline
from tests.serve import tiny
from tests.serve.test_server import HWKERAS, Server, free_port, images, stop_with_ctrl_c, wait_until_serving

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")


@pytest.fixture(scope="module")
def onnx_server(tmp_path_factory):
    import tensorflow as tf

    from hwkeras.export_onnx import export_onnx

    root = tmp_path_factory.mktemp("serve-onnx")
    model = tiny.tiny_model()
    tiny.export(model, root / "sm")
    export_onnx(model, root / "onnx", card={"training_steps": 7})
    port = free_port()
    log = open(root / "server.log", "w")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=NO_TENSORFLOW)
    # Started with SIGINT ignored, as a shell's background job or a pytest-xdist worker's child is: the
    # server sets its own handler, so the Ctrl-C below still stops it cleanly.
    process = subprocess.Popen(
        [HWKERAS, "serve", str(root / "onnx"), "--runtime", "onnx", "--name", "sm", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    served = Server(port, model, tf.saved_model.load(str(root / "sm")).signatures, root)
    try:
        wait_until_serving(process, root / "server.log")
        yield served
    finally:
        stop_with_ctrl_c(process)
        log.close()
    assert "Stopped serving sm" in (root / "server.log").read_text()


def test_an_onnx_export_is_served_without_tensorflow_with_the_saved_models_numbers(onnx_server):
    server = onnx_server
    # The server's process cannot import TensorFlow (tests/without_tensorflow), so it answered without it.
    probe = subprocess.run([os.path.join(os.path.dirname(HWKERAS), "python"), "-c", "import tensorflow"],
                           env=dict(os.environ, PYTHONPATH=NO_TENSORFLOW), capture_output=True, timeout=deadline(60))
    assert probe.returncode != 0
    assert server.call("GET", "/v1/models/sm")[0] == 200
    status, meta = server.call("GET", "/v1/models/sm/metadata")
    served = meta["metadata"]["signature_def"]["signature_def"]
    assert status == 200 and {"serving_default", "encode", "decode", "reconstruct", "traverse"} <= set(served)
    x = images(3, seed=4)
    local = server.local("encode", images=x)
    status, got = server.predict({"signature_name": "encode", "inputs": {"images": x.tolist()}})  # columnar
    assert status == 200 and sorted(got["outputs"]) == ["mean", "scale_tril"]
    for k in local:
        np.testing.assert_allclose(got["outputs"][k], local[k], atol=1e-5)
    status, got = server.predict({"instances": [{"images": image.tolist()} for image in x]})  # rows, default
    assert status == 200 and len(got["predictions"]) == 3
    for i, row in enumerate(got["predictions"]):
        np.testing.assert_allclose(row["mean"], local["mean"][i], atol=1e-5)
    z = local["mean"]
    status, got = server.predict({"signature_name": "decode", "instances": z.tolist()})
    np.testing.assert_allclose(got["predictions"], server.local("decode", z=z)["images"], atol=1e-5)
    status, got = server.predict({"signature_name": "reconstruct", "inputs": {"images": x.tolist()}})
    np.testing.assert_allclose(np.asarray(got["outputs"]), server.local("reconstruct", images=x)["images"], atol=1e-5)
    # A bad request is a 4xx with one JSON error, and the server goes on serving.
    status, got = server.predict({"signature_name": "encode", "inputs": {"images": (x * 2).tolist()}})
    assert 400 <= status < 500 and isinstance(got.get("error"), str)
    assert server.call("GET", "/")[0] == 200  # the explorer's page
    card = json.loads((server.root / "onnx" / "model.json").read_text())
    assert card["format"] == "onnx"
