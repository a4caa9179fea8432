"""Training throughput of HyperpriorVAE (CHyVAE) under each Keras backend: TensorFlow, JAX, torch.

One invocation runs each backend in its own subprocess (a process holds one Keras backend) on the
same fixed batch of 64x64x1 ellipses at batch 64, and prints a markdown table of images/s with
the ratio to TensorFlow. Each backend's figure is its best of several short rounds after a warm-up
(which pays for tracing/compiling): other processes on a shared machine only slow rounds down.

    python benchmarks/bench_backends.py [--steps 8] [--rounds 8] [--backends tensorflow,jax,torch]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

BATCH, SIDE, LATENT, HIDDEN = 64, 64, 10, 128


def measure(steps, rounds):
    """Runs in the child process: (best images/s, median images/s) for the active backend."""
    import keras
    import numpy as np

    import hwkeras
    from hwkeras.data import CorrelatedEllipses

    x = CorrelatedEllipses(image_size=SIDE).sample_observations(BATCH * steps, np.random.RandomState(0))
    keras.utils.set_random_seed(0)
    model = hwkeras.HyperpriorVAE(latent_dim=LATENT, image_shape=(SIDE, SIDE, 1), hidden_units=HIDDEN, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(x[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)  # warm-up: tracing / jit
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.fit(x, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        speeds.append(BATCH * steps / (time.perf_counter() - start))
    return max(speeds), float(np.median(speeds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.steps, args.rounds)))
        return

    from common import machine_description, markdown_table, versions

    results = {}
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, __file__, "--child", "--steps", str(args.steps),
                               "--rounds", str(args.rounds)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{backend} failed:\n{done.stderr[-2000:]}")
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results.get("tensorflow", next(iter(results.values())))[0]
    rows = [[backend, f"{best:.0f}", f"{median:.0f}", f"{best / base:.2f}"]
            for backend, (best, median) in results.items()]
    print(f"HyperpriorVAE training, batch {BATCH}, {SIDE}x{SIDE}x1, latent {LATENT}, hidden {HIDDEN}; "
          f"best of {args.rounds} rounds of {args.steps} steps")
    print(machine_description() + "; " + versions("keras", "tensorflow", "jax", "torch"))
    print()
    print(markdown_table(["backend", "images/s (best)", "images/s (median)", "ratio to TF (best)"], rows))


if __name__ == "__main__":
    main()
