"""What JAX's persistent compilation cache saves a sweep's trial: CPU seconds of one tiny trial's
training work (hwkeras fit's plan_fit + train, JAX backend, no TensorFlow) with a cold cache, then
with the cache the first process filled, as every trial after a sweep's first finds it.

Each run is a fresh process (as a Ray trial is), measured with its own CPU time (getrusage), so
other jobs on the machine slow the wall clock but barely the figures.

    python benchmarks/bench_sweep.py [--rounds 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from common import machine_description, markdown_table, versions  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIAL = r"""
import json, os, resource, sys
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
from hwkeras.sweep.trial import compilation_cache_environment
for key, value in compilation_cache_environment().items():
    os.environ.setdefault(key, value)
start = cpu()
from hwkeras.runs.plan import plan_fit  # noqa: E402
from hwkeras.runs.session import train
from hwkeras.runs.plan import DEFAULTS
options = dict(DEFAULTS, model="chyvae", steps=20, batch_size=16, image_size=32, latent_dim=3, hidden_units=16,
               summary_every=0, no_export=True, no_report=True, output_dir=sys.argv[1], run_name="trial")
train(plan_fit(options))
print(json.dumps({"cpu_s": cpu() - start}))
"""


def one_trial(cache, workdir):
    env = dict(os.environ, KERAS_BACKEND="jax", XDG_CACHE_HOME=cache, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.path.join(ROOT, "tests", "without_tensorflow"))
    out = tempfile.mkdtemp(dir=workdir)
    done = subprocess.run([sys.executable, "-c", TRIAL, out], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])["cpu_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.rounds):
            cache = tempfile.mkdtemp(dir=workdir)
            cold = one_trial(cache, workdir)
            warm = one_trial(cache, workdir)
            rows.append((f"{cold:.1f}", f"{warm:.1f}", f"{cold / warm:.1f}x"))
    print(markdown_table(["cold cache: CPU s", "warm cache: CPU s", "cold / warm"], rows))
    print(f"\n{machine_description()}; {versions('keras', 'jax', 'jaxlib')}")


if __name__ == "__main__":
    main()
