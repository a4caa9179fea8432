"""GPU training throughput of hwkeras (JAX and PyTorch backends) next to hand-written PyTorch, one invocation.

On a machine with JAX, PyTorch and CUDA (TensorFlow is never imported; it need not be installed):

    python benchmarks/bench_gpu.py --out DIR          # about 7 minutes on one H100

measures, each in its own process, each figure after a warm-up over a few seconds:

1. hwkeras CHyVAE and VAE through ``model.fit`` on the JAX and the PyTorch backends at batch 50,
   64 and 256, from in-memory numpy batches and from ``dataset.batches`` (CorrelatedEllipses from
   its grid cache, the PyDataset pipeline ``hwkeras fit`` uses there);
2. the same models hand-written in PyTorch (benchmarks/reference_torch.py), eager (pinned host
   batches copied each step) and under ``torch.compile``;
3. ``hwkeras fit --backend jax`` (the CLI: its callbacks, data stream and epochs) at batch 50,
   two runs of different lengths, whose difference gives the steady per-step time and the time
   of the paper's 150k steps;
4. the JAX CHyVAE step at batch 64 with parts removed (the KL terms, the Cholesky factorisation
   of the head, both), the head with ``device_ops.unrolled_cholesky`` instead, and a callback
   that reads every step's logs (what a per-step ``on_train_batch_end`` costs);
5. float32 against mixed_bfloat16 (JAX, batch 64 and 256);
6. PyTorch diagnostics: host synchronisations per step (``torch.cuda.set_sync_debug_mode``) of
   the hwkeras step and the hand-written one, the hwkeras step with ``hwkeras.device_ops``
   switched off (the behaviour before it), and Keras's ``jit_compile=True`` (torch.compile).

It prints markdown tables and writes ``DIR/bench_gpu.json`` (every figure, the machine, the
versions). ``--budget`` (seconds, default 420) bounds the run: measurements past a process's
share are skipped and listed. ``--quick`` runs every part at batch 8 for a few tenths of a second
(about 2-4 minutes on a 2-core CPU), to check the script end to end without a GPU:

    PYTHONPATH=tests/without_tensorflow python benchmarks/bench_gpu.py --quick --out /tmp/bench_gpu
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

SIDE, LATENT, HIDDEN, NU = 64, 10, 128, 200.0
MODELS = ("chyvae", "vae")
PAPER_STEPS = 150_000
#: Each child's share of --budget, in the order they run.
SHARES = {"jax": 0.36, "torch": 0.17, "reference": 0.27, "cli": 0.20}


# =============================================================================================
# Children: one process per backend. Each prints one ``RECORD {json}`` line per measurement.
# =============================================================================================

def importable_hwkeras():
    """Makes ``hwkeras`` importable from this checkout when it is not installed (a GPU machine
    that only has the source): ``hwkeras.layers`` and ``hwkeras.cli`` live in ``layers/`` and
    ``cli/``, mapped as pyproject.toml's package-dir maps them."""
    import importlib.util

    try:
        import hwkeras.layers  # noqa: F401
        return
    except ImportError:
        pass
    sys.path.insert(0, ROOT)
    import hwkeras

    for name, folder in (("layers", "layers"), ("cli", "cli")):
        full = f"hwkeras.{name}"
        if full in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(full, os.path.join(ROOT, folder, "__init__.py"),
                                                      submodule_search_locations=[os.path.join(ROOT, folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        setattr(hwkeras, name, module)


def emit(**record):
    print("RECORD " + json.dumps(record), flush=True)


class Budget:
    def __init__(self, deadline):
        self.deadline = deadline

    def left(self):
        return self.deadline - time.time()

    def allows(self, what):
        if self.left() > 0:
            return True
        emit(kind="skipped", what=what, why="time budget")
        return False


def ellipses(batch, cfg):
    from hwkeras.data import CorrelatedEllipses

    return CorrelatedEllipses(image_size=SIDE, cache=None if not cfg["quick"] else False)


def in_memory_images(batch, steps, cfg):
    import numpy as np

    from hwkeras.data import CorrelatedEllipses

    rendered = CorrelatedEllipses(image_size=SIDE, cache=False).sample_observations(min(batch * 4, 1024),
                                                                                     np.random.RandomState(0))
    return np.resize(rendered, (batch * steps,) + rendered.shape[1:])  # repeats the rendered images


def keras_sync(model):
    """Waits until every dispatched step is done (JAX: the latest state; torch: the CUDA stream)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready([v.value for v in model.trainable_variables])
    elif keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def timer_callback(warmup, seconds, result):
    """Counts steps when a batch begins (so Keras can still dispatch the logs asynchronously),
    times ``seconds`` after ``warmup`` steps, then stops the fit."""
    import keras

    class Timer(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_begin(self, batch, logs=None):
            if self.steps == warmup:
                keras_sync(self.model)
                result["start"], result["start_step"] = time.perf_counter(), self.steps
            elif self.steps > warmup and time.perf_counter() - result["start"] >= seconds:
                keras_sync(self.model)
                result["seconds"] = time.perf_counter() - result["start"]
                result["steps"] = self.steps - result["start_step"]
                self.model.stop_training = True
            self.steps += 1

    return Timer()


def fit_rate(model, batch, data, cfg, callbacks=()):
    """Images/s of ``model.fit`` on ``data`` ("memory" or "dataset") after a warm-up."""
    result = {}
    timer = timer_callback(cfg["warmup"], cfg["seconds"], result)
    start = time.perf_counter()
    if data == "memory":
        x = in_memory_images(batch, cfg["epoch_steps"], cfg)
        model.fit(x, batch_size=batch, epochs=10 ** 6, shuffle=False, verbose=0, callbacks=[timer, *callbacks])
    else:
        stream = ellipses(batch, cfg).batches(batch, seed=0)
        model.fit(stream, epochs=1, steps_per_epoch=10 ** 7, verbose=0, callbacks=[timer, *callbacks])
    if "steps" not in result:
        raise RuntimeError("the fit ended before the timed window")
    return {"images_per_s": result["steps"] * batch / result["seconds"], "steps": result["steps"],
            "seconds": result["seconds"], "wall_with_warmup": time.perf_counter() - start}


def build(name, dtype=None, cls=None):
    import keras

    from hwkeras.models import build_model, model_class

    keras.utils.set_random_seed(0)
    options = {"nu": NU} if name == "chyvae" else {}
    if cls is None:
        model = build_model(name, latent_dim=LATENT, image_shape=(SIDE, SIDE, 1), hidden_units=HIDDEN, seed=0,
                            dtype=dtype, **options)
    else:
        assert issubclass(cls, model_class(name))
        model = cls(latent_dim=LATENT, image_shape=(SIDE, SIDE, 1), hidden_units=HIDDEN, seed=0, **options)
    return model


def compiled(model, **kwargs):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-4), **kwargs)
    return model


def describe_keras_device():
    import keras

    from hwkeras.devices import describe_device

    return {"backend": keras.backend.backend(), "device": describe_device()[0]}


def hwkeras_table(backend, cfg, budget):
    """Section 1: every model x batch x data source."""
    for batch in cfg["batches"]:
        for name in MODELS:
            if not budget.allows(f"{backend} {name} batch {batch}"):
                return
            model = compiled(build(name))
            for data in ("memory", "dataset"):
                emit(kind="fit", trainer=f"hwkeras {backend}", model=name, batch=batch, data=data,
                     precision="float32", **fit_rate(model, batch, data, cfg))


# ---- JAX: the table, precision, the step's parts ---------------------------------------------

def profile_variants():
    """CHyVAE subclasses with a part of the step removed or replaced (timing only: the numbers
    of the removed variants are not CHyVAE's)."""
    from keras import ops

    from hwkeras import device_ops
    from hwkeras.base import bernoulli_nll
    from hwkeras.layers import CholeskyGaussianHead
    from hwkeras.layers.cholesky_head import COVARIANCE_JITTER
    from hwkeras.model import HyperpriorVAE

    class LowerFactorHead(CholeskyGaussianHead):  # no factorisation: L itself as the "scale_tril"
        def call(self, features):
            out = self.dense(features)
            return out[:, :self.latent_dim], self.lower_factor(out[:, self.latent_dim:])

    class UnrolledHead(CholeskyGaussianHead):
        def call(self, features):
            p = self.latent_dim
            out = self.dense(features)
            lower = self.lower_factor(out[:, p:])
            covariance = ops.matmul(lower, ops.swapaxes(lower, -1, -2)) + COVARIANCE_JITTER * ops.eye(p)
            return out[:, :p], device_ops.unrolled_cholesky(covariance)

    class WithoutKL(HyperpriorVAE):
        def compute_terms(self, x, training=False, noise=None):
            mean, scale_tril = self.encode(x, training=training)
            z = mean + ops.einsum("bij,bj->bi", scale_tril, self.standard_normal(ops.shape(mean)))
            reconstruction = bernoulli_nll(x, self.decode_logits(z, training=training))
            zero = ops.zeros_like(reconstruction)
            return {"loss": reconstruction, "reconstruction": reconstruction, "kl_latent": zero,
                    "kl_hyperprior": zero, "elbo": -reconstruction}

    class WithoutCholesky(HyperpriorVAE):
        def build_head(self):
            return LowerFactorHead(self.latent_dim, name="posterior")

    class WithoutEither(WithoutKL):
        def build_head(self):
            return LowerFactorHead(self.latent_dim, name="posterior")

    class Unrolled(HyperpriorVAE):
        def build_head(self):
            return UnrolledHead(self.latent_dim, name="posterior")

    return {"CHyVAE step": HyperpriorVAE, "without the KL terms": WithoutKL,
            "without the head's Cholesky": WithoutCholesky,
            "without both (encoder, dense head, decoder)": WithoutEither,
            "head with device_ops.unrolled_cholesky": Unrolled}


def per_step_logs_callback():
    import keras

    class ReadsLogs(keras.callbacks.Callback):  # any on_train_batch_end: Keras converts the logs per step
        def on_train_batch_end(self, batch, logs=None):
            pass

    return ReadsLogs()


def run_jax(cfg, budget):
    emit(kind="device", **describe_keras_device())
    hwkeras_table("jax", cfg, budget)
    for batch in cfg["precision_batches"]:
        for name in MODELS:
            if budget.allows(f"jax {name} mixed_bfloat16 batch {batch}"):
                emit(kind="fit", trainer="hwkeras jax", model=name, batch=batch, data="memory",
                     precision="mixed_bfloat16", **fit_rate(compiled(build(name, dtype="mixed_bfloat16")), batch,
                                                            "memory", cfg))
    batch = cfg["profile_batch"]
    for variant, cls in profile_variants().items():
        if budget.allows(f"jax profile {variant}"):
            emit(kind="profile", variant=variant, batch=batch,
                 **fit_rate(compiled(build("chyvae", cls=cls)), batch, "memory", cfg))
    if budget.allows("jax per-step logs callback"):
        emit(kind="profile", variant="CHyVAE step + a callback with on_train_batch_end", batch=batch,
             **fit_rate(compiled(build("chyvae")), batch, "memory", cfg, callbacks=[per_step_logs_callback()]))


# ---- PyTorch backend: the table, host synchronisations, device_ops off, jit_compile ----------

def device_ops_off():
    """The hwkeras torch step as it was before hwkeras.device_ops: plain keras.ops everywhere."""
    import keras
    from keras import ops

    import hwkeras.base
    import hwkeras.layers.cholesky_head
    import hwkeras.priors

    hwkeras.layers.cholesky_head.constant = hwkeras.priors.constant = (
        lambda value, dtype: ops.convert_to_tensor(value, dtype=dtype))
    hwkeras.layers.cholesky_head.cholesky = ops.cholesky
    hwkeras.base.seed_generator = lambda seed=None, name=None: keras.random.SeedGenerator(seed)


def torch_device_batch(batch, cfg):
    from keras import ops

    return (ops.convert_to_tensor(in_memory_images(batch, 1, cfg)[:batch]),)


def count_syncs(step, steps=3):
    """Host synchronisations per call of ``step`` (CUDA only), from torch's sync debug mode."""
    import warnings

    import torch

    if not torch.cuda.is_available():
        return None
    step()
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / steps


def hwkeras_torch_step(model, batch, cfg):
    model.make_train_function()
    data = torch_device_batch(batch, cfg)
    return lambda: model.train_function([data])


def run_torch(cfg, budget):
    emit(kind="device", **describe_keras_device())
    hwkeras_table("torch", cfg, budget)
    batch = cfg["profile_batch"]
    for name in MODELS:
        if budget.allows(f"torch syncs {name}"):
            model = compiled(build(name))
            model.fit(in_memory_images(batch, 2, cfg), batch_size=batch, epochs=1, verbose=0)  # builds everything
            emit(kind="syncs", trainer="hwkeras torch", model=name, batch=batch,
                 syncs_per_step=count_syncs(hwkeras_torch_step(model, batch, cfg)))
    if cfg["torch_jit_compile"] and budget.allows("torch jit_compile"):
        try:
            emit(kind="fit", trainer="hwkeras torch, jit_compile=True", model="chyvae", batch=batch, data="memory",
                 precision="float32", **fit_rate(compiled(build("chyvae"), jit_compile=True), batch, "memory",
                                                 {**cfg, "warmup": max(cfg["warmup"], 10)}))
        except Exception as exc:  # noqa: BLE001 - a failure is a finding: report it and go on
            emit(kind="failed", what="hwkeras torch jit_compile=True", why=f"{type(exc).__name__}: {exc}"[:300])
    device_ops_off()  # last: it changes the modules for the rest of this process
    for batch in cfg["precision_batches"]:
        if budget.allows(f"torch device_ops off batch {batch}"):
            model = compiled(build("chyvae"))
            emit(kind="fit", trainer="hwkeras torch, device_ops off", model="chyvae", batch=batch, data="memory",
                 precision="float32", **fit_rate(model, batch, "memory", cfg))
    if budget.allows("torch syncs device_ops off"):
        model = compiled(build("chyvae"))
        model.fit(in_memory_images(batch, 2, cfg), batch_size=batch, epochs=1, verbose=0)
        emit(kind="syncs", trainer="hwkeras torch, device_ops off", model="chyvae", batch=batch,
             syncs_per_step=count_syncs(hwkeras_torch_step(model, batch, cfg)))


# ---- Hand-written PyTorch --------------------------------------------------------------------

def loop_rate(step, batch, cfg, host_batch, device):
    """Images/s of a hand-written loop; each step copies its pinned host batch to the device."""
    import torch

    def one():
        return step(host_batch.to(device, non_blocking=True))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    for _ in range(cfg["warmup"]):
        one()
    sync()
    compile_and_warmup = time.perf_counter() - start
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < cfg["seconds"]:
        one()
        steps += 1
    sync()
    seconds = time.perf_counter() - start
    return {"images_per_s": steps * batch / seconds, "steps": steps, "seconds": seconds,
            "wall_with_warmup": compile_and_warmup + seconds}


def run_reference(cfg, budget):
    import numpy as np
    import reference_torch as ref
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    emit(kind="device", backend="torch (hand-written)",
         device=torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU")
    torch.manual_seed(0)
    for mode in ("eager", "torch.compile"):
        batches = cfg["batches"] if mode == "eager" else cfg["compile_batches"]
        for batch in batches:
            for name in MODELS:
                if not budget.allows(f"reference {mode} {name} batch {batch}"):
                    continue
                images = in_memory_images(batch, 1, cfg)[:batch]
                host = torch.as_tensor(np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))))
                if device.type == "cuda":
                    host = host.pin_memory()
                model = ref.MODELS[name]().to(device)
                step = ref.make_step(model, compile=mode == "torch.compile")
                emit(kind="fit", trainer=f"hand-written torch, {mode}", model=name, batch=batch, data="memory",
                     precision="float32", **loop_rate(step, batch, cfg, host, device))
                if mode == "eager" and batch == cfg["profile_batch"]:
                    emit(kind="syncs", trainer="hand-written torch, eager", model=name, batch=batch,
                         syncs_per_step=count_syncs(lambda: step(host.to(device, non_blocking=True))))


def run_prepare(cfg, budget):
    """Builds the CorrelatedEllipses grid cache once, as ``hwkeras fit`` does before training on
    an accelerator, so that no measurement pays for it."""
    from hwkeras.data import CorrelatedEllipses

    start = time.perf_counter()
    dataset = CorrelatedEllipses(image_size=SIDE)
    dataset.prepare(accelerated=not cfg["quick"])
    emit(kind="prepare", seconds=time.perf_counter() - start, cache=None if cfg["quick"] else dataset.cache_path())


CHILDREN = {"prepare": run_prepare, "jax": run_jax, "torch": run_torch, "reference": run_reference}


# =============================================================================================
# The parent: runs the children and the CLI, prints the tables, writes the JSON.
# =============================================================================================

def config(args):
    if args.quick:
        return {"quick": True, "batches": [8], "precision_batches": [8], "profile_batch": 8, "compile_batches": [],
                "seconds": 0.3, "warmup": 2, "epoch_steps": 8, "torch_jit_compile": False,
                "cli_steps": (3, 6)}
    return {"quick": False, "batches": [50, 64, 256], "precision_batches": [64, 256], "profile_batch": 64,
            "compile_batches": [64, 256], "seconds": args.seconds, "warmup": 10, "epoch_steps": 64,
            "torch_jit_compile": True, "cli_steps": (500, 3000)}


def run_child(role, cfg, deadline, env):
    command = [sys.executable, os.path.abspath(__file__), "--child", role, "--config", json.dumps(cfg),
               "--deadline", str(deadline)]
    backend = "torch" if role in ("torch", "reference") else "jax"
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env={**env, "KERAS_BACKEND": backend}, capture_output=True, text=True,
                              timeout=max(60.0, deadline - time.time() + 120))
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return _records(out) + [{"kind": "failed", "what": role, "why": "timed out"}]
    records = _records(done.stdout)
    for record in records:
        record.setdefault("process", role)
    if done.returncode != 0:
        records.append({"kind": "failed", "what": role, "why": done.stderr.strip().splitlines()[-1][:300]
                        if done.stderr.strip() else f"exit {done.returncode}"})
        sys.stderr.write(f"--- {role} failed, last lines of its stderr:\n{done.stderr[-3000:]}\n")
    records.append({"kind": "process", "role": role, "seconds": time.perf_counter() - started})
    return records


def _records(stdout):
    return [json.loads(line[len("RECORD "):]) for line in stdout.splitlines() if line.startswith("RECORD ")]


def run_cli(cfg, deadline, env, workdir):
    """Two ``hwkeras fit --backend jax`` runs at batch 50; their difference is the steady step time."""
    records = []
    for steps in cfg["cli_steps"]:
        if time.time() > deadline:
            records.append({"kind": "skipped", "what": f"hwkeras fit {steps} steps", "why": "time budget"})
            continue
        command = [sys.executable, os.path.abspath(__file__), "--cli", "fit", "--backend", "jax", "--model", "chyvae",
                   "--dataset", "correlated-ellipses", "--preset", "paper", "--batch-size", "50", "--steps",
                   str(steps), "--no-export", "--no-report", "--output-dir", os.path.join(workdir, "runs"),
                   "--run-name", f"cli-{steps}"]
        start = time.perf_counter()
        done = subprocess.run(command, env={**env, "KERAS_BACKEND": "jax"}, capture_output=True, text=True,
                              timeout=max(60.0, deadline - time.time() + 120))
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            records.append({"kind": "failed", "what": f"hwkeras fit {steps} steps",
                            "why": (done.stderr.strip().splitlines() or ["?"])[-1][:300]})
            sys.stderr.write(f"--- hwkeras fit failed:\n{done.stderr[-3000:]}\n")
            break
        device = next((line.strip() for line in done.stdout.splitlines() if line.startswith("Training on")), "")
        records.append({"kind": "cli", "steps": steps, "batch": 50, "seconds": seconds, "device": device,
                        "command": "hwkeras " + " ".join(command[3:])})
    return records


def machine(env):
    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        info["gpus"] = [line.strip() for line in smi.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        info["gpus"] = []
    from common import machine_description, versions

    info["cpu"] = machine_description()
    info["versions"] = versions("keras", "jax", "jaxlib", "jax-cuda12-plugin", "torch", "numpy", "scipy")
    try:
        import importlib.util

        info["tensorflow_importable"] = importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        info["tensorflow_importable"] = False
    return info


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def tables(records, cfg):
    from common import markdown_table

    lines = []
    fits = [r for r in records if r["kind"] == "fit"]
    rate = {(r["trainer"], r["model"], r["batch"], r["data"], r["precision"]): r["images_per_s"] for r in fits}
    batches = sorted({r["batch"] for r in fits})
    rows = []
    for trainer, model, data, precision in sorted({(r["trainer"], r["model"], r["data"], r["precision"]) for r in fits},
                                                  key=lambda k: (not k[0].startswith("hwkeras jax"), k)):
        rows.append([trainer, model, "in-memory" if data == "memory" else "dataset.batches", precision]
                    + [fmt(rate.get((trainer, model, b, data, precision))) for b in batches])
    lines += ["## Images/s through model.fit / the hand-written loop", "",
              markdown_table(["trainer", "model", "data", "precision"] + [f"batch {b}" for b in batches], rows), ""]

    ratio_rows = []
    for model in MODELS:
        for batch in batches:
            best = max([rate.get((f"hand-written torch, {m}", model, batch, "memory", "float32")) or 0
                        for m in ("eager", "torch.compile")])
            if not best:
                continue
            for trainer, target in (("hwkeras jax", 1.0), ("hwkeras torch", 0.5)):
                mine = rate.get((trainer, model, batch, "memory", "float32"))
                if mine:
                    ratio_rows.append([trainer, model, batch, fmt(mine), fmt(best), f"{mine / best:.2f}",
                                       f">= {target}" if model == "chyvae" else ""])
    lines += ["## Against the best hand-written PyTorch step (eager or compiled), in-memory batches", "",
              markdown_table(["hwkeras", "model", "batch", "images/s", "hand-written best", "ratio", "target"],
                             ratio_rows), ""]

    profile = [r for r in records if r["kind"] == "profile"]
    if profile:
        full = next((r["images_per_s"] for r in profile if r["variant"] == "CHyVAE step"), None)
        rows = [[r["variant"], fmt(r["images_per_s"]), f"{1e3 * r['batch'] / r['images_per_s']:.3f}",
                 f"{(1 - full / r['images_per_s']) * 100:+.0f}%" if full else "-"] for r in profile]
        lines += [f"## The JAX CHyVAE step in parts (batch {profile[0]['batch']}, in-memory)", "",
                  markdown_table(["variant", "images/s", "ms/step", "step time saved vs the full step"], rows), ""]

    syncs = [r for r in records if r["kind"] == "syncs"]
    if syncs:
        lines += ["## PyTorch: host synchronisations per training step (torch.cuda sync debug mode)", "",
                  markdown_table(["step", "model", "batch", "syncs/step"],
                                 [[r["trainer"], r["model"], r["batch"], fmt(r["syncs_per_step"], 1)] for r in syncs]),
                  ""]

    cli = [r for r in records if r["kind"] == "cli"]
    if len(cli) == 2:
        (short, long_) = sorted(cli, key=lambda r: r["steps"])
        per_step = (long_["seconds"] - short["seconds"]) / (long_["steps"] - short["steps"])
        fixed = short["seconds"] - short["steps"] * per_step
        lines += ["## hwkeras fit --backend jax, CHyVAE, batch 50 (the CLI end to end)", "",
                  markdown_table(["steps", "wall s"], [[r["steps"], f"{r['seconds']:.1f}"] for r in cli]), "",
                  f"Steady state: {per_step * 1e3:.3f} ms/step = {50 / per_step:,.0f} images/s; start-up, compile and "
                  f"saving: {fixed:.1f} s. The paper's {PAPER_STEPS:,} steps: "
                  f"**{(fixed + PAPER_STEPS * per_step) / 60:.1f} "
                  f"min** (target < 5 min). Device line: {cli[0]['device']}", ""]
        records.append({"kind": "cli_summary", "ms_per_step": per_step * 1e3, "images_per_s": 50 / per_step,
                        "fixed_seconds": fixed, "paper_minutes": (fixed + PAPER_STEPS * per_step) / 60})

    other = [r for r in records if r["kind"] in ("skipped", "failed", "prepare", "device", "process")]
    if other:
        lines += ["## Notes", ""] + [f"- {json.dumps(r)}" for r in other] + [""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for bench_gpu.json")
    parser.add_argument("--quick", action="store_true", help="batch 8, tenths of a second: an end-to-end check")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for all measurements")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    if sys.argv[1:2] == ["--cli"]:  # `hwkeras ...` from this checkout, installed or not
        importable_hwkeras()
        from hwkeras.cli.main import main as hwkeras_main

        sys.argv = ["hwkeras"] + sys.argv[2:]
        return hwkeras_main()
    args = parser.parse_args()
    if args.child:
        importable_hwkeras()
        CHILDREN[args.child](json.loads(args.config), Budget(args.deadline))
        return
    if not args.out:
        parser.error("--out DIR is required")
    os.makedirs(args.out, exist_ok=True)
    cfg = config(args)
    started = time.time()
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        # The ellipse grid cache (1 GB at 64 px) and the CLI's runs stay out of --out.
        env = {**os.environ, "XDG_CACHE_HOME": os.path.join(workdir, "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
        records += run_child("prepare", cfg, started + 600, env)
        end = time.time() + args.budget
        roles = list(SHARES)
        for i, role in enumerate(roles):
            # Time a process leaves unused goes to the ones after it, in proportion to their shares.
            now = time.time()
            deadline = now + max(0.0, end - now) * SHARES[role] / sum(SHARES[r] for r in roles[i:])
            print(f"[{now - started:5.0f} s] {role} until +{deadline - started:.0f} s", file=sys.stderr, flush=True)
            records += run_cli(cfg, deadline, env, workdir) if role == "cli" else run_child(role, cfg, deadline, env)
    info = machine(env)
    text = tables(records, cfg)
    header = (f"# bench_gpu ({'quick' if cfg['quick'] else 'full'}), {time.time() - started:.0f} s\n\n"
              f"GPUs: {', '.join(info['gpus']) or 'none'}; CPU: {info['cpu']}; {info['versions']}; "
              f"TensorFlow importable: {info['tensorflow_importable']}\n")
    print(header + "\n" + text)
    with open(os.path.join(args.out, "bench_gpu.json"), "w") as f:
        json.dump({"machine": info, "config": cfg, "command": " ".join(sys.argv), "records": records,
                   "seconds": time.time() - started}, f, indent=1)
    print(f"JSON: {os.path.join(args.out, 'bench_gpu.json')}")


if __name__ == "__main__":
    main()
