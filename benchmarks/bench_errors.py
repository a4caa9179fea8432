"""How fast does a bad input get its one-line error? Every command, ~50 cases, each in a fresh process.

Each case runs ``hwkeras ...`` as a new process (as a user would) and records the wall-clock
seconds until it exits, its exit code and its output: the case passes when the output is one
``Error:`` line (click's usage errors add their usage lines, which is click's format) and the exit
code is not 0. The figure of merit is the slowest case (issue 23: every bad-input error in under
2 s), beside the time of ``hwkeras --help`` measured in the same run, the floor of any command.

Set-up, not timed: one tiny finished run (2 steps) and its SavedModel export, which the cases about
existing runs and exports need.

    python benchmarks/bench_errors.py [--json OUT.json] [--repeat 1]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from common import machine_description, markdown_table, versions  # noqa: E402

HWKERAS = [sys.executable, "-m", "hwkeras.cli.main"]


def cases(run, export, scratch):
    """(command, arguments) pairs; paths under ``scratch`` are made by ``make_inputs``."""
    s = scratch
    quick = ["--steps", "2", "--batch-size", "4", "--no-report", "--output-dir", f"{s}/runs",
             "--export-dir", f"{s}/exports"]
    return [
        ("fit", ["--nu", "9", *quick]),
        ("fit", ["--nu", "nan", *quick]),
        ("fit", ["--model", "beta-vae", "--beta", "nan", *quick]),
        ("fit", ["--model", "vae", "--nu", "300", *quick]),
        ("fit", ["--model", "factor-vae", "--update-order", "sideways", *quick]),
        ("fit", ["--psi", f"{s}/missing.npy", *quick]),
        ("fit", ["--psi", f"{s}/not_pd.npy", *quick]),
        ("fit", ["--psi", f"{s}/wrong_size.npy", *quick]),
        ("fit", ["--latent-dim", "100000", *quick]),
        ("fit", ["--batch-size", "100000000", "--steps", "2", "--output-dir", f"{s}/runs", "--no-export"]),
        ("fit", ["--image-size", "37", *quick]),
        ("fit", ["--dataset", "nope", *quick]),
        ("fit", ["--model", "nope", *quick]),
        ("fit", ["--steps", "0", "--output-dir", f"{s}/runs", "--no-export"]),
        ("fit", ["--learning-rate", "nan", *quick]),
        ("fit", ["--run-name", "../escape", *quick]),
        ("fit", ["--output-dir", f"{s}/a_file", "--no-export"]),
        ("fit", ["--steps", "2", "--output-dir", f"{s}/runs", "--export-dir", f"{s}/a_file"]),
        ("fit", ["--steps", "2", "--output-dir", f"{s}/runs", "--export-dir", "/sys/hwkeras-exports"]),
        ("fit", ["--eval-every", "0", *quick]),
        ("fit", ["--eval-every", "1", "--eval-metrics", "nope", *quick]),
        ("fit", ["--eval-every", "1", "--eval-param", "mig.nope=1", *quick]),
        ("fit", ["--dataset", "dsprites", "--eval-every", "1", "--eval-metrics", "mig", "--data-dir", f"{s}/empty",
                 *quick]),
        ("fit", ["--dataset", "celeba", "--data-dir", f"{s}/missing", *quick]),
        ("fit", ["--checkpoint-every", "0", *quick]),
        ("fit", ["--resume", f"{s}/missing"]),
        ("fit", ["--resume", run, "--batch-size", "8"]),
        ("fit", ["--resume", run, "--steps", "1"]),
        ("fit", ["--resume", run]),
        ("sweep", ["--grid", "nu=abc", "--output-dir", f"{s}/sweep"]),
        ("sweep", ["--grid", "colour=1,2", "--output-dir", f"{s}/sweep"]),
        ("sweep", ["--model", "vae", "--grid", "nu=200,300", "--output-dir", f"{s}/sweep"]),
        ("sweep", ["--grid", "nu=5,200", "--output-dir", f"{s}/sweep"]),
        ("sweep", ["--output-dir", run]),
        ("sweep", ["--resume", f"{s}/missing"]),
        ("evaluate", [f"{s}/missing"]),
        ("evaluate", [run, "--metrics", "nope"]),
        ("evaluate", [run, "--param", "mig.nope=1"]),
        ("evaluate", [run, "--output", f"{run}/config.json"]),
        ("evaluate", [run, "--dataset", "celeba"]),
        ("export", [f"{s}/missing", "--output", f"{s}/out"]),
        ("export", [run, "--output", run, "--overwrite"]),
        ("export", [run, "--output", f"{s}/a_file/below"]),
        ("report", [f"{s}/missing"]),
        ("report", [run, "--output", f"{run}/config.json", "--overwrite"]),
        ("predict", [export, "--signature", "nope", "--output", f"{s}/o.npy"]),
        ("predict", [export, "--signature", "encode", "--input", f"{s}/missing.npy", "--output", f"{s}/o.npy"]),
        ("predict", [export, "--signature", "encode", "--input", f"{s}/wrong_shape.npy", "--output", f"{s}/o.npy"]),
        ("predict", [export, "--signature", "sample", "--num-samples", "0", "--output", f"{s}/o.npy"]),
        ("predict", [export, "--signature", "sample", "--output", f"{s}/x.txt"]),
        ("predict", [run, "--signature", "sample", "--output", f"{s}/o.npy"]),
        ("predict", [export, "--signature", "decode", "--input", f"{s}/wrong_width.npy", "--output", f"{s}/o.npy"]),
        ("datasets", ["--nope"]),
    ]


def make_inputs(scratch):
    import numpy as np

    os.makedirs(f"{scratch}/empty")
    open(f"{scratch}/a_file", "w").close()
    np.save(f"{scratch}/not_pd.npy", -np.eye(10))
    np.save(f"{scratch}/wrong_size.npy", np.eye(3))
    np.save(f"{scratch}/wrong_shape.npy", np.zeros((2, 16, 16, 1), "float32"))
    np.save(f"{scratch}/wrong_width.npy", np.zeros((2, 5), "float32"))


def run_case(command, args, env):
    start = time.perf_counter()
    done = subprocess.run(HWKERAS + [command, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    usage = bool(errors) and any(line.startswith("Usage:") for line in lines)  # click's own format
    clean = done.returncode != 0 and len(errors) == 1 and (len(lines) == 1 or usage)
    return {"command": command, "args": args, "seconds": seconds, "returncode": done.returncode,
            "clean": clean, "last_line": lines[-1] if lines else "", "lines": len(lines)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the median is kept)")
    args = parser.parse_args()

    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    scratch = tempfile.mkdtemp(prefix="hwkeras-bench-errors-")
    try:
        make_inputs(scratch)
        run, export = f"{scratch}/tiny-run", f"{scratch}/tiny-export"
        subprocess.run(HWKERAS + ["fit", "--steps", "2", "--batch-size", "4", "--output-dir", scratch,
                                  "--run-name", "tiny-run", "--no-report", "--no-export"],
                       check=True, capture_output=True, env=env)
        subprocess.run(HWKERAS + ["export", run, "--output", export], check=True, capture_output=True, env=env)
        help_times = [run_case("--help", [], env)["seconds"] for _ in range(3)]
        results = []
        for command, case_args in cases(run, export, scratch):
            runs = [run_case(command, case_args, env) for _ in range(args.repeat)]
            result = runs[0]
            result["seconds"] = statistics.median(r["seconds"] for r in runs)
            results.append(result)
            shown = " ".join(case_args).replace(scratch, "S")
            print(f"{result['seconds']:6.2f} s  {'ok ' if result['clean'] else 'BAD'} hwkeras {command} {shown}\n"
                  f"          {result['last_line'].replace(scratch, 'S')[:150]}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    slowest = max(results, key=lambda r: r["seconds"])
    rows = [["`hwkeras --help` (the floor)", f"{statistics.median(help_times):.2f}"],
            ["cases", len(results)],
            ["cases over 2 s", sum(r["seconds"] > 2 for r in results)],
            ["median case", f"{statistics.median(r['seconds'] for r in results):.2f}"],
            ["slowest case", f"{slowest['seconds']:.2f} (`{slowest['command']} "
                             f"{' '.join(slowest['args'][:4])}`)"],
            ["not one clean line", sum(not r["clean"] for r in results)]]
    print(f"\n{machine_description()}; {versions('keras', 'tensorflow', 'click')}\n")
    print(markdown_table(["bad-input errors", "seconds / count"], rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"help_seconds": help_times, "cases": results}, f, indent=1)


if __name__ == "__main__":
    main()
