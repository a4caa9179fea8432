"""``hwkeras serve`` end to end: one server (a local Ray, one replica) on 127.0.0.1 for the module,
called with TF Serving's request formats and checked against the SavedModel loaded here."""

import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.helpers import deadline
from tests.serve import tiny

HWKERAS = os.path.join(os.path.dirname(sys.executable), "hwkeras")
MAX_REQUEST_MB = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port, model, signatures, root):
        self.port, self.model, self.signatures, self.root = port, model, signatures, root
        self.url = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, headers=None, raw=None):
        """(status, JSON answer); ``body`` is sent as JSON, ``raw`` as bytes."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=deadline(60))
        try:
            data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            payload = response.read()
            return response.status, json.loads(payload) if payload[:1] in (b"{", b"[") else payload
        finally:
            connection.close()

    def predict(self, body, name="sm"):
        return self.call("POST", f"/v1/models/{name}:predict", body)

    def local(self, signature, **inputs):
        """The SavedModel's answer in this process, as numpy."""
        import tensorflow as tf

        return {k: v.numpy() for k, v in self.signatures[signature](
            **{k: tf.constant(v) for k, v in inputs.items()}).items()}


def wait_until_serving(process, log_path, name="sm"):
    """Until ``hwkeras serve`` says it serves (once every replica is up); fails with its log if it
    exits or takes too long."""
    give_up = time.monotonic() + deadline(300)
    while f"Serving {name}" not in log_path.read_text():
        if process.poll() is not None:
            pytest.fail(f"hwkeras serve exited ({process.returncode}):\n{log_path.read_text()}")
        if time.monotonic() > give_up:
            pytest.fail(f"hwkeras serve did not start:\n{log_path.read_text()}")
        time.sleep(0.5)


def stop_with_ctrl_c(process):
    """Ctrl-C to the command's process group (it stops its Ray itself); SIGKILL if it does not end."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=deadline(180))  # Ray Serve's shutdown took over 60 s on a loaded 2-core machine
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import tensorflow as tf

    root = tmp_path_factory.mktemp("serve")
    model = tiny.tiny_model()
    tiny.export(model, root / "sm")
    port = free_port()
    log = open(root / "server.log", "w")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", RAY_USAGE_STATS_ENABLED="0")
    process = subprocess.Popen(
        [HWKERAS, "serve", str(root / "sm"), "--port", str(port), "--max-batch-size", "8", "--batch-wait-ms", "5",
         "--max-request-mb", str(MAX_REQUEST_MB)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    served = Server(port, model, tf.saved_model.load(str(root / "sm")).signatures, root)
    try:
        wait_until_serving(process, root / "server.log")
        assert served.call("GET", "/v1/models/sm")[0] == 200
        yield served
    finally:
        stop_with_ctrl_c(process)
        log.close()
    assert "Stopped serving sm" in (root / "server.log").read_text()


def images(n, seed=0):
    return np.random.default_rng(seed).uniform(size=(n,) + tiny.IMAGE_SHAPE).astype("float32")


def spec_json(spec):
    return {"dtype": {"float32": "DT_FLOAT", "int32": "DT_INT32"}[spec.dtype.name], "name": spec.name,
            "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()],
                             "unknown_rank": False}}


def test_status_and_metadata_describe_the_saved_models_signatures(server):
    assert server.call("GET", "/v1/models/sm") == (200, {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})
    assert server.call("GET", "/v1/models/sm/versions/1")[0] == 200
    status, meta = server.call("GET", "/v1/models/sm/metadata")
    assert status == 200 and meta["model_spec"] == {"name": "sm", "signature_name": "", "version": "1"}
    served = meta["metadata"]["signature_def"]["signature_def"]
    assert sorted(served) == sorted(server.signatures)
    for name, fn in server.signatures.items():
        inputs = {k: dict(spec_json(v), name=k) for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: dict(spec_json(v), name=k) for k, v in fn.structured_outputs.items()}
        assert served[name] == {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    card = json.loads((server.root / "sm" / "model.json").read_text())
    assert meta["metadata"]["hwkeras"]["card"] == card


def test_predict_in_row_and_columnar_formats_equals_the_saved_model(server):
    x = images(3)
    local = server.local("encode", images=x)
    # Columnar: {"inputs": {name: value}} -> {"outputs": {name: value}}.
    status, got = server.predict({"signature_name": "encode", "inputs": {"images": x.tolist()}})
    assert status == 200 and sorted(got["outputs"]) == ["mean", "scale_tril"]
    for k in local:
        np.testing.assert_allclose(got["outputs"][k], local[k], atol=1e-5)
    # Rows: {"instances": [{name: value}, ...]} -> {"predictions": [{name: value}, ...]}; no name -> serving_default.
    status, got = server.predict({"instances": [{"images": image.tolist()} for image in x]})
    assert status == 200 and len(got["predictions"]) == 3
    for i, row in enumerate(got["predictions"]):
        for k in local:
            np.testing.assert_allclose(row[k], local[k][i], atol=1e-5)
    # One input, one output: bare values both ways.
    z = local["mean"]
    decoded = server.local("decode", z=z)["images"]
    status, got = server.predict({"signature_name": "decode", "inputs": z.tolist()})
    assert status == 200
    np.testing.assert_allclose(got["outputs"], decoded, atol=1e-5)
    status, got = server.predict({"signature_name": "decode", "instances": z.tolist()})
    np.testing.assert_allclose(got["predictions"], decoded, atol=1e-5)
    status, got = server.predict({"signature_name": "reconstruct", "instances": x.tolist()})
    np.testing.assert_allclose(got["predictions"], server.local("reconstruct", images=x)["images"], atol=1e-5)
    # The signatures without a batch dimension take the columnar form.
    seeded = {"num_samples": np.int32(5), "seed": np.int32(3), "nu": np.float32(6.5)}
    status, got = server.predict({"signature_name": "sample_seeded",
                                  "inputs": {"num_samples": 5, "seed": 3, "nu": 6.5}})
    for k, v in server.local("sample_seeded", **seeded).items():
        np.testing.assert_allclose(got["outputs"][k], v, atol=1e-5)
    status, got = server.predict({"signature_name": "traverse", "inputs": {"image": x[0].tolist()}})
    for k, v in server.local("traverse", image=x[0]).items():
        np.testing.assert_allclose(got["outputs"][k], v, atol=1e-5)
    # sample draws anew on each call; its images are the decoded z.
    status, got = server.predict({"signature_name": "sample", "inputs": {"num_samples": 4}})
    assert status == 200 and np.shape(got["outputs"]["z"]) == (4, tiny.LATENT_DIM)
    np.testing.assert_allclose(got["outputs"]["images"],
                               server.local("decode", z=np.float32(got["outputs"]["z"]))["images"], atol=1e-5)


def good(server):
    z = np.full((1, tiny.LATENT_DIM), 0.5, np.float32)
    status, got = server.predict({"signature_name": "decode", "inputs": {"z": z.tolist()}})
    assert status == 200
    np.testing.assert_allclose(got["outputs"], server.local("decode", z=z)["images"], atol=1e-5)


PIXELS = images(1).tolist()
BAD = [
    ("malformed JSON", "POST", "/v1/models/sm:predict", b'{"inputs": [1, 2', 400, "not valid JSON"),
    ("not an object", "POST", "/v1/models/sm:predict", b"[1, 2]", 400, "must be a JSON object"),
    ("NaN literal", "POST", "/v1/models/sm:predict", b'{"signature_name": "decode", "inputs": [[NaN, 0, 0, 0]]}',
     400, "not valid JSON"),
    ("overflow to inf", "POST", "/v1/models/sm:predict", b'{"signature_name": "decode", "inputs": [[1e400, 0, 0, 0]]}',
     400, "no NaN or Infinity"),
    ("unknown model", "GET", "/v1/models/other", None, 404, "no model named 'other'"),
    ("unknown model predict", "POST", "/v1/models/other:predict", {"inputs": PIXELS}, 404, "no model named"),
    ("unknown version", "GET", "/v1/models/sm/versions/2", None, 404, "no version '2'"),
    ("unknown signature", "POST", "/v1/models/sm:predict", {"signature_name": "nope", "inputs": PIXELS}, 400,
     "no signature 'nope'"),
    ("wrong image size", "POST", "/v1/models/sm:predict", {"inputs": np.zeros((1, 8, 8, 1)).tolist()}, 400,
     "wrong shape for input 'images': got (1, 8, 8, 1)"),
    ("wrong z size", "POST", "/v1/models/sm:predict", {"signature_name": "decode", "inputs": [[0.0, 1.0]]}, 400,
     "wrong shape for input 'z'"),
    ("ragged rows", "POST", "/v1/models/sm:predict", {"signature_name": "decode", "instances": [[0, 0, 0, 0], [0]]},
     400, "ragged"),
    ("strings", "POST", "/v1/models/sm:predict", {"signature_name": "decode", "inputs": [["a", "b", "c", "d"]]},
     400, "holds strings"),
    ("null", "POST", "/v1/models/sm:predict", {"signature_name": "decode", "inputs": [[None, 0, 0, 0]]}, 400,
     "not numbers"),
    ("fractional int32", "POST", "/v1/models/sm:predict",
     {"signature_name": "sample_seeded", "inputs": {"num_samples": 2.5, "seed": 0, "nu": 0}}, 400,
     "must hold integers"),
    ("pixels above 1", "POST", "/v1/models/sm:predict", {"inputs": (np.array(PIXELS) * 2).tolist()}, 400,
     "pixel values above 1"),
    ("pixels below 0", "POST", "/v1/models/sm:predict", {"signature_name": "reconstruct",
                                                         "instances": (-np.array(PIXELS)).tolist()}, 400,
     "pixel values below 0"),
    ("empty instances", "POST", "/v1/models/sm:predict", {"instances": []}, 400, "empty batch"),
    ("empty inputs", "POST", "/v1/models/sm:predict", {"signature_name": "decode", "inputs": {"z": np.zeros(
        (0, tiny.LATENT_DIM)).tolist()}}, 400, "wrong shape"),
    ("both forms", "POST", "/v1/models/sm:predict", {"inputs": PIXELS, "instances": PIXELS}, 400, "exactly one"),
    ("rows for a scalar signature", "POST", "/v1/models/sm:predict",
     {"signature_name": "sample", "instances": [{"num_samples": 2}]}, 400, "columnar form"),
    ("too many samples", "POST", "/v1/models/sm:predict",
     {"signature_name": "sample", "inputs": {"num_samples": 10 ** 6}}, 400, "num_samples must be between 1 and 1024"),
    ("nu out of range", "POST", "/v1/models/sm:predict",
     {"signature_name": "sample_seeded", "inputs": {"num_samples": 2, "seed": 0, "nu": 2.0}}, 400,
     "nu must exceed latent_dim - 1 = 3"),
    ("body over --max-request-mb", "POST", "/v1/models/sm:predict",
     {"inputs": np.zeros((int(MAX_REQUEST_MB * 2 ** 20 / 1024) + 1, 16, 16, 1)).tolist()}, 413,
     "over this server's --max-request-mb"),
    ("static path leaves", "GET", "/static/../../../etc/passwd", None, 400, "leaves the explorer's files"),
    ("encoded static path leaves", "GET", "/static/%2e%2e/%2e%2e/etc/passwd", None, 400, "leaves"),
    ("model path leaves", "GET", "/v1/models/sm/../../../etc/passwd", None, 400, "leaves the model's place"),
    ("unknown file", "GET", "/static/secret.txt", None, 404, "no file 'secret.txt'"),
    ("unknown path", "GET", "/v2/anything", None, 404, "unknown path"),
    ("wrong method", "GET", "/v1/models/sm:predict", None, 405, "takes POST"),
]


@pytest.mark.parametrize("what, method, path, body, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, what, method, path, body, status,
                                                                         words):
    raw = body if isinstance(body, bytes) else None
    got_status, got = server.call(method, path, body=None if raw else body, raw=raw)
    assert got_status == status and isinstance(got, dict) and list(got) == ["error"], (got_status, got)
    assert words in got["error"] and "\n" not in got["error"], got["error"]
    good(server)


def test_large_batches_read_by_json_arrays_equal_the_saved_model_and_bad_ones_are_refused(server):
    """64 images (~350 kB of JSON): over json_arrays.MIN_SPAN_BYTES, so the server reads them without
    orjson's nested lists; the answers are the in-process model's, and a damaged large body gets the
    same 400s as a small one."""
    from hwkeras.serve import json_arrays

    x = images(64, seed=3)
    body = json.dumps({"signature_name": "reconstruct", "instances": x.tolist()})
    assert len(body) > 4 * json_arrays.MIN_SPAN_BYTES
    expected = server.local("reconstruct", images=x)["images"]
    status, got = server.call("POST", "/v1/models/sm:predict", raw=body.encode())
    assert status == 200
    np.testing.assert_allclose(got["predictions"], expected, atol=1e-5)
    status, got = server.predict({"signature_name": "encode", "inputs": {"images": x.tolist()}})
    np.testing.assert_allclose(got["outputs"]["mean"], server.local("encode", images=x)["mean"], atol=1e-5)

    def pixel(i, j, k):  # how json.dumps wrote that pixel: its innermost list of one channel
        return f"[{float(x[i, j, k, 0])!r}]"

    damaged = {
        "NaN": (body.replace(pixel(5, 3, 2), "[NaN]", 1), "not valid JSON"),
        "two commas": (body.replace(pixel(2, 2, 2) + ", ", pixel(2, 2, 2) + ",, ", 1), "not valid JSON"),
        "a ragged row": (body.replace(", " + pixel(7, 4, 15) + "]", "]", 1), "ragged"),
        "a pixel above 1": (body.replace(pixel(9, 1, 1), "[1.5]", 1), "above 1"),
    }
    for what, (text, words) in damaged.items():
        assert text != body, what
        status, got = server.call("POST", "/v1/models/sm:predict", raw=text.encode())
        assert status == 400 and words in got["error"], (what, got)
    good(server)


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=deadline(60))
    chunk = b" " * 2 ** 16
    chunks = iter([b'{"inputs": '] + [chunk] * (MAX_REQUEST_MB * 16 + 2))
    connection.request("POST", "/v1/models/sm:predict", body=chunks, encode_chunked=True,
                       headers={"Transfer-Encoding": "chunked"})
    response = connection.getresponse()
    assert response.status == 413 and "max-request-mb" in json.loads(response.read())["error"]
    connection.close()
    good(server)


def test_a_burst_of_concurrent_clients_has_no_failed_request(server):
    """32 clients for 4 s, each with its own keep-alive connection, mixing batched signatures; every
    answer is checked against the SavedModel."""
    clients, seconds = 32, 4.0
    x = images(4, seed=1)
    expected = {"reconstruct": server.local("reconstruct", images=x)["images"],
                "encode": server.local("encode", images=x)["mean"]}
    counts, failures = [0] * clients, []

    def client(k):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=deadline(60))
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            i = (k + counts[k]) % 4
            signature = ("reconstruct", "encode")[(k + counts[k]) % 2]
            body = json.dumps({"signature_name": signature, "instances": x[i:i + 1].tolist()})
            try:
                connection.request("POST", "/v1/models/sm:predict", body=body)
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200:
                    failures.append((response.status, answer))
                    continue
                got = answer["predictions"][0]
                got = got["mean"] if signature == "encode" else got
                if not np.allclose(got, expected[signature][i], atol=1e-5):
                    failures.append(("wrong answer", signature))
                counts[k] += 1
            except OSError as exc:
                failures.append(repr(exc))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=deadline(60))
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and min(counts) > 0, (failures[:5], counts)


# -- the explorer in Debian's chromium, driven by Selenium and chromium-driver --------------------

@pytest.fixture(scope="module")
def browser():
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed: apt-get install -y chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--force-color-profile=srgb"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(deadline(30))
    yield driver
    driver.quit()


def wait(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, deadline(60), poll_frequency=0.1).until(lambda d: condition(d), message=what)


def pixels(driver, css):
    """The canvas's pixels as the page drew them: (H, W) grey levels (the red channel)."""
    data, w, h = driver.execute_script(
        "const c = document.querySelector(arguments[0]);"
        "return [Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), c.width, c.height];",
        css)
    rgba = np.array(data, np.int64).reshape(h, w, 4)
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 3] == 255).all()
    return rgba[..., 0]


def levels(image):
    """Float pixels -> the grey levels the page should draw (floor(v * 255 + 0.5), as hwkeras.viz)."""
    return np.floor(np.clip(np.asarray(image, np.float64), 0, 1) * 255 + 0.5).astype(np.int64)[..., 0]


def slider_values(driver):
    return driver.execute_script(
        "const z = []; document.querySelectorAll('.latent').forEach(r => z[Number(r.dataset.latent)] ="
        " Number(r.querySelector('input').value)); return z;")


def test_explorer_sliders_follow_the_average_kl_and_redraw_as_decode_says(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from hwkeras.report import latents

    browser.get(server.url + "/")
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page loads")
    rows = browser.find_elements(By.CSS_SELECTOR, ".latent")
    # The order of the sliders: the run report's average KL over the served prior samples, largest first.
    prior = server.local("sample_seeded", num_samples=np.int32(latents.KL_IMAGES), seed=np.int32(0),
                         nu=np.float32(0.0))["images"]
    kl = latents.latent_kl(server.model, prior)
    assert [int(r.get_attribute("data-latent")) for r in rows] == list(np.argsort(-kl, kind="stable"))
    assert ["collapsed" in r.get_attribute("class").split() for r in rows] == \
        [bool(kl[j] < latents.COLLAPSED_KL) for j in np.argsort(-kl, kind="stable")]
    last = rows[-1]
    assert "collapsed" in last.get_attribute("class") and int(last.get_attribute("data-latent")) == tiny.COLLAPSED

    def drawn_for(z):
        return lambda d: d.find_element(By.ID, "decoded").get_attribute("data-z") and \
            np.allclose(json.loads(d.find_element(By.ID, "decoded").get_attribute("data-z")), z)

    wait(browser, drawn_for([0.0] * tiny.LATENT_DIM), "the first picture")
    before = pixels(browser, "#decoded")
    slider = rows[0].find_element(By.CSS_SELECTOR, "input")
    slider.send_keys(*[Keys.ARROW_RIGHT] * 30)  # the keyboard moves a range input by its step, 0.05
    z = slider_values(browser)
    assert math.isclose(z[int(rows[0].get_attribute("data-latent"))], 1.5, abs_tol=1e-9)
    wait(browser, drawn_for(z), "the picture of the moved slider")
    after = pixels(browser, "#decoded")
    expected = levels(server.local("decode", z=np.float32([z]))["images"][0])
    assert np.abs(after - expected).max() <= 1 and np.abs(after - before).max() > 10
    # The traversal strip: the moved latent swept over [-3, 3] from the sliders' code.
    chosen = int(rows[0].get_attribute("data-latent"))
    wait(browser, lambda d: d.find_element(By.ID, "strip").get_attribute("data-latent") == str(chosen) and
         np.allclose(json.loads(d.find_element(By.ID, "strip").get_attribute("data-z")), z), "the strip")
    sweep = np.tile(np.float32(z), (10, 1))
    sweep[:, chosen] = np.linspace(-3, 3, 10)
    strip = server.local("decode", z=sweep)["images"]
    for s in (0, 9):
        assert np.abs(pixels(browser, f"#strip canvas:nth-child({s + 1})") - levels(strip[s])).max() <= 1


def test_explorer_upload_shows_the_reconstruction_and_its_code(server, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page loads")
    grey = (images(1, seed=5)[0, ..., 0] * 255).round().astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "upload.png")
    browser.find_element(By.ID, "upload").send_keys(str(tmp_path / "upload.png"))
    wait(browser, lambda d: d.find_element(By.ID, "reconstruction").get_attribute("data-done") == "1",
         "the reconstruction")
    x = grey[None, ..., None].astype(np.float32) / 255.0
    assert np.array_equal(pixels(browser, "#original"), grey)
    reconstruction = levels(server.local("reconstruct", images=x)["images"][0])
    assert np.abs(pixels(browser, "#reconstruction") - reconstruction).max() <= 1
    mean = server.local("encode", images=x)["mean"][0]
    shown = [float(v) for v in browser.find_element(By.ID, "code").text.split(",")]
    np.testing.assert_allclose(shown, mean, atol=1e-3)
    np.testing.assert_allclose(slider_values(browser), np.clip(mean, -3, 3), atol=0.025 + 1e-6)  # the 0.05 step


def test_explorer_prior_samples_follow_the_nu_slider(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page loads")
    assert browser.find_element(By.ID, "nu-row").is_displayed()
    for turn, nu in enumerate((tiny.NU, 4.5), start=1):
        browser.execute_script("const s = document.getElementById('nu'); s.value = arguments[0];"
                               "s.dispatchEvent(new Event('change'));", nu) if turn > 1 else \
            browser.find_element(By.ID, "sample").click()
        wait(browser, lambda d: d.find_element(By.ID, "samples").get_attribute("data-done") == str(turn),
             f"samples at nu={nu}")
        draws = server.local("sample_seeded", num_samples=np.int32(8), seed=np.int32(0), nu=np.float32(nu))["images"]
        for i in (0, 7):
            assert np.abs(pixels(browser, f"#samples canvas:nth-child({i + 1})") - levels(draws[i])).max() <= 1
