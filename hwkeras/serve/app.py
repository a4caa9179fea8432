"""The server: TF Serving's REST API (``rest.py``) and the latent explorer (``static/``) as one Ray
Serve deployment, with Ray Serve's request batching and replicas.

Each replica loads the model once (``load_servable``) and computes the latents' average KL once
(``latents.py``). Predict requests of signatures whose inputs and outputs all have a batch
dimension (encode, decode, reconstruct, serving_default) are batched across requests with
``@serve.batch``: up to ``max_batch_size`` requests, waiting at most ``batch_wait_ms`` for them,
run as one call and split again; the others (sample, sample_seeded, traverse) run one by one.
``max_batch_size`` 1 turns batching off.
"""

import asyncio
import html
import logging
import os

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from ray import serve

from hwkeras.serve import load_servable, rest
from hwkeras.serve.latents import latent_rows
from hwkeras.serve.servable import batched

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
logger = logging.getLogger("ray.serve")

api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


# Above the deployment: serve.ingress captures the class with the module's names defined so far.
def _json(value, status=200):
    """A JSON answer; orjson writes a card's NaN metric as null where Python's json would fail."""
    return Response(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


@serve.deployment
@serve.ingress(api)
class ModelServer:
    def __init__(self, path, runtime, name, max_request_bytes, max_batch_size, batch_wait_s):
        self.servable = load_servable(path, runtime=runtime, name=name)
        self.latents = latent_rows(self.servable)
        self.max_request_bytes = max_request_bytes
        self.batching = max_batch_size > 1
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_s)

    @api.api_route("/{path:path}", methods=METHODS)
    async def route(self, request: Request, path: str):
        try:
            return await self._route(request, path)
        except rest.RequestError as exc:
            return _json({"error": str(exc)}, exc.status)
        except Exception as exc:  # noqa: BLE001 - the server keeps serving; the client gets one line
            logger.exception("hwkeras serve: %s %s failed", request.method, request.url.path)
            return _json({"error": f"internal error ({exc.__class__.__name__}); see the server's log"}, 500)

    async def _route(self, request, path):
        if path in ("", "index.html") or path.startswith("static/"):
            return self._static("index.html" if path in ("", "index.html") else path[len("static/"):],
                                request.method)
        if not path.startswith("v1/models/"):
            raise rest.RequestError(404, f"unknown path /{path}: the API is under /v1/models/{self.servable.name}, "
                                         f"the explorer at /")
        verb = rest.parse_model_path(path[len("v1/models/"):], self.servable.name)
        wanted = "POST" if verb == "predict" else "GET"
        if request.method != wanted:
            raise rest.RequestError(405, f"{verb} takes {wanted}, not {request.method}")
        if verb == "status":
            return _json(rest.status(self.servable.name))
        if verb == "metadata":
            return _json(rest.metadata(self.servable, self.latents))
        request_json = rest.parse_body(await self._body(request))
        signature, arrays, form = rest.parse_predict(self.servable, request_json)
        if self.batching and batched(self.servable.signatures()[signature]):
            outputs = await self.predict_batch((signature, arrays))
        else:
            outputs = await asyncio.to_thread(self._predict, signature, arrays)
        if isinstance(outputs, Exception):
            raise outputs
        return Response(rest.answer(outputs, form), media_type="application/json")

    def _static(self, name, method):
        """A file of the explorer; nothing outside ``static/`` whatever the path says."""
        if method != "GET":
            raise rest.RequestError(405, f"/{name} takes GET, not {method}")
        if any(part in ("", ".", "..") for part in name.split("/")) or "\\" in name or "\x00" in name:
            raise rest.RequestError(400, f"the path {name!r} leaves the explorer's files; ask for /")
        full = os.path.realpath(os.path.join(STATIC, name))
        if os.path.commonpath([full, STATIC]) != STATIC or not os.path.isfile(full):
            raise rest.RequestError(404, f"no file {name!r} here; the explorer is at /")
        if name == "index.html":  # the page learns which model it explores from its meta tag
            with open(full, encoding="utf-8") as f:
                return HTMLResponse(f.read().replace("__MODEL_NAME__", html.escape(self.servable.name)))
        return FileResponse(full)

    async def _body(self, request):
        """The body, refused (413) as soon as it passes --max-request-mb, before it is all read."""
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise rest.RequestError(400, f"Content-Length {length!r} is not a number of bytes")
            if int(length) > self.max_request_bytes:
                raise rest.request_size_error(int(length), self.max_request_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_request_bytes:
                raise rest.request_size_error(len(body), self.max_request_bytes)
        return bytes(body)

    def _predict(self, signature, arrays):
        try:
            return self.servable.predict(signature, arrays)
        except ValueError as exc:  # the model's own checks (nu out of range, ...)
            return rest.RequestError(400, str(exc))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def predict_batch(self, items):
        return await asyncio.to_thread(self._predict_together, items)

    def _predict_together(self, items):
        """[(signature, arrays)] -> [outputs or RequestError]: one call per signature, split by request."""
        results = [None] * len(items)
        groups = {}
        for i, (signature, _) in enumerate(items):
            groups.setdefault(signature, []).append(i)
        for signature, members in groups.items():
            if len(members) == 1:
                results[members[0]] = self._predict(signature, items[members[0]][1])
                continue
            names = list(items[members[0]][1])
            rows = [len(items[i][1][names[0]]) for i in members]
            joined = self._predict(signature, {n: np.concatenate([items[i][1][n] for i in members]) for n in names})
            if isinstance(joined, Exception):  # one bad request must not fail the others: each on its own
                for i in members:
                    results[i] = self._predict(signature, items[i][1])
                continue
            cuts = np.cumsum(rows)[:-1]
            parts = {k: np.split(v, cuts) for k, v in joined.items()}
            for j, i in enumerate(members):
                results[i] = {k: v[j] for k, v in parts.items()}
        return results


def deployment(path, runtime, name, replicas, max_batch_size, batch_wait_ms, max_request_mb, num_cpus=1):
    """The bound application ``serve.run`` deploys."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    if runtime == "keras":
        env["KERAS_BACKEND"] = "tensorflow"
    options = {"num_cpus": num_cpus, "runtime_env": {"env_vars": env}}
    return ModelServer.options(
        name=name, num_replicas=replicas, ray_actor_options=options,
        # Room for a full batch waiting while another runs on each replica.
        max_ongoing_requests=max(100, 4 * max_batch_size),
    ).bind(os.path.abspath(path), runtime, name, int(max_request_mb * 2 ** 20), max_batch_size,
           batch_wait_ms / 1000.0)


def start(path, runtime, name, host, port, replicas, max_batch_size, batch_wait_ms, max_request_mb, address=None):
    """Starts (or joins, with ``address``) a Ray cluster and deploys the server; returns once every
    replica has loaded the model. A replica that cannot load it raises ``Failed`` in one line."""
    import ray

    from hwkeras.errors import Failed

    if address:
        from hwkeras import ray_cluster

        ray_cluster.join(address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        # A local Ray sized to the replicas: each replica holds one CPU (its TensorFlow uses the
        # machine's cores as it would outside Ray); the proxy and controller hold none. "local": a new
        # one even when RAY_ADDRESS or a `ray start` on this machine names a cluster, which plain
        # ray.init() would join (deploying there, and refusing num_cpus); --address is for that.
        ray.init(address="local", num_cpus=replicas, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # its INFO lines; the command says when it is up
    serve.start(http_options={"host": host, "port": port}, logging_config={"log_level": "WARNING"})
    app = deployment(path, runtime, name, replicas, max_batch_size, batch_wait_ms, max_request_mb)
    try:
        serve.run(app, name=name, route_prefix="/", logging_config={"log_level": "WARNING"})
    except Exception as exc:  # noqa: BLE001 - a replica's failure arrives as Ray's text with a traceback
        why = _cause(_replica_failure(name) or str(exc))
        stop(name, address)
        raise Failed(f"the server did not start: {why}") from None


def stop(name, address=None):
    """Removes the application (a cluster's other applications keep running) and, for a local Ray,
    the whole Ray instance this process started."""
    import ray

    try:
        if address:
            serve.delete(name)
    finally:
        ray.shutdown()  # a local Ray goes whole, with its Serve controller, proxy and replicas


def _replica_failure(name):
    """What Ray Serve recorded of the application's failed deployment (the replica's traceback)."""
    try:
        application = serve.status().applications[name]
        return "\n".join([d.message for d in application.deployments.values() if d.message]
                         + [application.message or ""])
    except Exception:  # noqa: BLE001 - no record: the caller has Ray's own error
        return None


def _cause(text):
    """The line of a deployment failure that names its cause (a UserError's own message)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        for marker in ("UserError: ", "ValueError: ", "Failed: "):
            if marker in line:
                return line.split(marker, 1)[1]
    return lines[-1] if lines else "unknown cause (see Ray's logs under /tmp/ray)"
