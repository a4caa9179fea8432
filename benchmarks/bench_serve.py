"""What does serving over HTTP cost, and what does Ray Serve's request batching buy?

``hwkeras serve`` (a local Ray, one replica) on 127.0.0.1 serves a CHyVAE SavedModel of the default
architecture (64x64x1 images, latent 10; random weights: speed does not depend on them). Closed-loop
clients (each sends its next request when the answer of the last has come) call ``reconstruct``
in TF Serving's row format for a bounded time and count:

* batch 1 (one image a request) under 16 clients, and batch 64 under 4 clients;
* with batching on (``--max-batch-size 16 --batch-wait-ms 5``) and off (``--max-batch-size 1``),
  a fresh server for each;
* against the same SavedModel called in this process (``tf.saved_model.load``, no HTTP, no JSON)
  at batch 1 and 64, in the same run;
* and the server's reading of a batch-64 body: ``orjson.loads`` + ``np.asarray`` (before) against
  ``hwkeras.serve.json_arrays.loads`` (now), in this process.

Figures: requests/s and images/s, p50 and p99 latency (ms) of the requests; the ratios batching
on / off at batch 1 and served / in-process at batch 64 (issue 24's targets: >= 3 and >= 0.5).
The clients run on the same machine as the server (they share its cores, as a sidecar would).

    python benchmarks/bench_serve.py [--seconds 10] [--max-requests 20000] [--json OUT.json]
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from common import machine_description, markdown_table, versions  # noqa: E402

HWKERAS = [sys.executable, "-m", "hwkeras.cli.main"]
SCENARIOS = [(1, 16), (64, 4)]  # (images per request, clients)
BATCHING = {"on": ["--max-batch-size", "16", "--batch-wait-ms", "5"], "off": ["--max-batch-size", "1"]}


def export_model(root):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import hwkeras
    from hwkeras.export import export_saved_model

    model = hwkeras.HyperpriorVAE(latent_dim=10, image_shape=(64, 64, 1), seed=0)
    return export_saved_model(model, os.path.join(root, "chyvae"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(saved_model, options, log_path):
    port = free_port()
    log = open(log_path, "w")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", RAY_USAGE_STATS_ENABLED="0")
    process = subprocess.Popen([*HWKERAS, "serve", saved_model, "--port", str(port), *options],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    give_up = time.monotonic() + 600
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise SystemExit(f"hwkeras serve exited:\n{open(log_path).read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v1/models/chyvae")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(1)
    raise SystemExit(f"hwkeras serve did not answer in 600 s:\n{open(log_path).read()}")


def stop_server(process):
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def percentile_ms(latencies, q):
    return float(np.percentile(latencies, q) * 1000) if latencies else float("nan")


def load(port, body, clients, seconds, max_requests):
    """Closed loop: ``clients`` threads, each with one keep-alive connection, until ``seconds`` pass or
    ``max_requests`` are answered in all. Returns (answered, failed, latencies in s, wall s)."""
    latencies, failures, lock = [], [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < stop_at:
            with lock:
                if len(latencies) + len(failures) >= max_requests:
                    break
            start = time.monotonic()
            try:
                connection.request("POST", "/v1/models/chyvae:predict", body=body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                (latencies if ok else failures).append(time.monotonic() - start)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), len(failures), latencies, time.monotonic() - began


def in_process(saved_model, batch, seconds, max_requests):
    import tensorflow as tf

    fn = tf.saved_model.load(saved_model).signatures["reconstruct"]
    x = tf.constant(np.random.default_rng(0).uniform(size=(batch, 64, 64, 1)).astype("float32"))
    fn(images=x)  # the first call traces
    latencies = []
    began = time.monotonic()
    while time.monotonic() - began < seconds and len(latencies) < max_requests:
        start = time.monotonic()
        fn(images=x)["images"].numpy()
        latencies.append(time.monotonic() - start)
    return len(latencies), 0, latencies, time.monotonic() - began


def parse_costs(body, repeats=20):
    """ms to read a predict body into its image array: orjson then np.asarray (what the server did
    before ``hwkeras.serve.json_arrays``) against ``json_arrays.loads``, interleaved, medians."""
    import orjson

    from hwkeras.serve import json_arrays

    ways = {"orjson.loads + np.asarray": lambda: np.asarray(orjson.loads(body)["instances"]),
            "json_arrays.loads": lambda: json_arrays.loads(body)["instances"]}
    assert np.array_equal(*[way() for way in ways.values()])
    seconds = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            seconds[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(s)) for name, s in seconds.items()}


def row(label, batch, clients, measured):
    answered, failed, latencies, wall = measured
    return {"setting": label, "batch": batch, "clients": clients, "requests": answered, "failed": failed,
            "requests_per_s": answered / wall, "images_per_s": answered * batch / wall,
            "p50_ms": percentile_ms(latencies, 50), "p99_ms": percentile_ms(latencies, 99)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Each measurement's length.")
    parser.add_argument("--max-requests", type=int, default=20000, help="Each measurement's cap.")
    parser.add_argument("--json", help="Also write the rows to this file.")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_serve-")
    saved_model = export_model(root)
    rng = np.random.default_rng(1)
    bodies = {batch: json.dumps({"signature_name": "reconstruct", "instances": rng.uniform(
        size=(batch, 64, 64, 1)).round(4).tolist()}).encode() for batch, _ in SCENARIOS}
    parse = parse_costs(bodies[64])
    rows = [row("in-process (tf.saved_model.load)", batch, 1, in_process(saved_model, batch, args.seconds,
                                                                         args.max_requests))
            for batch, _ in SCENARIOS]
    for setting, options in BATCHING.items():
        process, port = start_server(saved_model, options, os.path.join(root, f"server-{setting}.log"))
        try:
            for batch, clients in SCENARIOS:
                load(port, bodies[batch], clients, min(2.0, args.seconds), 200)  # warm-up, not counted
                rows.append(row(f"hwkeras serve, batching {setting}", batch, clients,
                                load(port, bodies[batch], clients, args.seconds, args.max_requests)))
        finally:
            stop_server(process)
    by = {(r["setting"].split(", ")[-1] if "serve" in r["setting"] else "local", r["batch"]): r for r in rows}
    ratios = {
        "batch 1, 16 clients: batching on / off (requests/s)":
            by[("batching on", 1)]["requests_per_s"] / by[("batching off", 1)]["requests_per_s"],
        "batch 64: served with batching / in-process (images/s)":
            by[("batching on", 64)]["images_per_s"] / by[("local", 64)]["images_per_s"],
        "batch 64: served without batching / in-process (images/s)":
            by[("batching off", 64)]["images_per_s"] / by[("local", 64)]["images_per_s"],
        "batch 1: served with batching / in-process (images/s)":
            by[("batching on", 1)]["images_per_s"] / by[("local", 1)]["images_per_s"],
    }
    print(f"{machine_description()}; load average {os.getloadavg()[0]:.1f}; "
          f"{versions('hwkeras', 'ray', 'tensorflow', 'keras', 'fastapi', 'uvicorn')}")
    print(f"reconstruct, CHyVAE 64x64x1 latent 10, {args.seconds:g} s per measurement (cap {args.max_requests})\n")
    print(markdown_table(["setting", "batch", "clients", "requests", "failed", "requests/s", "images/s",
                          "p50 ms", "p99 ms"],
                         [[r["setting"], r["batch"], r["clients"], r["requests"], r["failed"],
                           f"{r['requests_per_s']:.1f}", f"{r['images_per_s']:.0f}", f"{r['p50_ms']:.1f}",
                           f"{r['p99_ms']:.1f}"] for r in rows]))
    print()
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    print(f"\nreading a batch-64 body ({len(bodies[64]) / 1e6:.1f} MB) in the server, ms: "
          + ", ".join(f"{k} {v:.1f}" for k, v in parse.items())
          + f"; ratio {parse['orjson.loads + np.asarray'] / parse['json_arrays.loads']:.2f}")
    ratios["batch 64 body: orjson + np.asarray / json_arrays (ms)"] = (
        parse["orjson.loads + np.asarray"] / parse["json_arrays.loads"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "ratios": ratios, "machine": machine_description(),
                       "load_average": os.getloadavg()[0]}, f, indent=2)


if __name__ == "__main__":
    main()
