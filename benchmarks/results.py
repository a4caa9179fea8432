"""The comparison of docs/RESULTS.md, one command per table: CHyVAE (nu 20, 200, 1000, 10000),
beta-VAE (beta 1, 4, 8) and FactorVAE (gamma 10, 35), 3 seeds, the same steps for all, on
CorrelatedEllipses or procedural dSprites; the chyvae protocol's FactorVAE score, dlib's FactorVAE
score and MIG, the held-out reconstruction NLL and UDR. Prints a draft markdown table (mean ± sd
over seeds, n) for docs/RESULTS.md.

    python benchmarks/results.py ellipses [--steps 10000] [--output-dir results/ellipses]
    python benchmarks/results.py dsprites
    python benchmarks/results.py ellipses --table-only     # the table of a sweep already run

It runs ``hwkeras sweep`` with the JAX backend (no TensorFlow needed), several trials at once on
one GPU; on a CPU, ``--backend tensorflow --image-size 32 --evaluate chyvae.factor_vae,dlib.mig``
makes a table that fits in an hour or two of 2 cores (docs/RESULTS.md says what each table used).
Run again with the same arguments, it resumes the sweep in --output-dir: finished trials are kept,
the others run. --time-budget (default 420 s) stops the trials still running in time for the
tables to be written inside a 10-minute command; the next run finishes them.
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import machine_description, markdown_table, versions  # noqa: E402

TABLES = {"ellipses": "correlated-ellipses", "dsprites": "dsprites-procedural"}
#: The paper's comparison (Ansari & Soh 2019), as hwkeras sweep's --model / --grid pairs.
COMPARISON = (("chyvae", "nu", "20,200,1000,10000"), ("beta-vae", "beta", "1,4,8"), ("factor-vae", "gamma", "10,35"))
#: One setting a model, the paper's headline ones (nu 200, beta 4, gamma 35): --headline, for a CPU.
HEADLINE = (("chyvae", "nu", "200"), ("beta-vae", "beta", "4"), ("factor-vae", "gamma", "35"))
METRICS = ("chyvae.factor_vae", "dlib.factor_vae", "dlib.mig")
COLUMNS = METRICS + ("reconstruction_nll", "udr_lasso", "udr_spearman", "udr_a2a_lasso")


def sweep_arguments(args):
    command = ["sweep", "--backend", args.backend, "--dataset", TABLES[args.table], "--preset", "paper",
               "--steps", str(args.steps), "--seeds", str(args.seeds), "--evaluate", args.evaluate,
               "--image-size", str(args.image_size),
               "--max-concurrent", str(args.max_concurrent), "--summary-every", "0",
               "--tradeoff-metric", "chyvae.factor_vae", "--output-dir", args.output_dir]
    for model, key, values in (HEADLINE if args.headline else COMPARISON):
        command += ["--model", model, "--grid", f"{key}={values}"]
    if args.gpus_per_trial is not None:
        command += ["--gpus-per-trial", str(args.gpus_per_trial)]
    if args.time_budget:
        command += ["--time-budget", str(args.time_budget)]
    if not args.report:
        command += ["--no-report"]
    return command


def mean_sd(row, column):
    mean, sd = row.get(f"{column}_mean", ""), row.get(f"{column}_sd", "")
    if not mean:
        return "–"
    digits = 1 if column == "reconstruction_nll" else 3
    return f"{float(mean):.{digits}f} ± {float(sd):.{digits}f}" if sd else f"{float(mean):.{digits}f}"


def draft_table(sweep_dir):
    """The markdown that goes into docs/RESULTS.md, from summary.csv, results.csv and selection.json."""
    with open(os.path.join(sweep_dir, "summary.csv"), newline="") as f:
        summary = list(csv.DictReader(f))
    with open(os.path.join(sweep_dir, "results.csv"), newline="") as f:
        results = list(csv.DictReader(f))
    with open(os.path.join(sweep_dir, "sweep.json")) as f:
        spec = json.load(f)
    columns = [c for c in COLUMNS if summary and f"{c}_mean" in summary[0]]  # those the sweep measured
    rows = []
    for s in summary:
        setting = s["configuration"][len(s["model"]) + 1:] or "–"
        rows.append([s["model"], setting, s["n"], *[mean_sd(s, c) for c in columns]])
    header = ["model", "setting", "n", *columns]
    lines = [markdown_table(header, rows), ""]
    finished = [r for r in results if r["status"] == "finished"]
    wall = sum(float(r["wall_time_s"]) for r in finished)
    from hwkeras.presets import PRESETS

    options = spec["fit_options"]
    preset = {**PRESETS[options.get("preset", "quick")], **{k: options[k] for k in PRESETS["quick"] if k in options}}
    lines.append(f"{len(finished)} of {len(results)} trials finished on {options.get('dataset')}: "
                 f"{preset['steps']} steps each, batch {preset['batch_size']}, latent {preset['latent_dim']}, "
                 f"{options.get('image_size', 64)}x{options.get('image_size', 64)} images, "
                 f"Adam {preset['learning_rate']:g} (preset {options.get('preset')}), backend {spec.get('backend')}; "
                 f"{wall / 3600:.2f} trial-hours in all. Mean ± sd over seeds (sd with ddof 1), n finished seeds.")
    selection_path = os.path.join(sweep_dir, "selection.json")
    if os.path.isfile(selection_path):
        with open(selection_path) as f:
            chosen = json.load(f)
        lines.append(f"\nUDR ({chosen['by']}) selects {chosen['trial']} (score {chosen['score']:.3f}).")
        for metric, a in chosen["agreement"].items():
            rho = a["trials"]["rho"]
            lines.append(f"- {metric}: the selected trial ranks {a['chosen_rank']} of {a['trials_ranked']}; "
                         f"Spearman rho(UDR, {metric}) across trials "
                         f"{'n/a' if rho is None else f'{rho:+.2f}'} (n={a['trials']['n']}), across "
                         f"configurations {_rho(a['configurations'])}")
    return "\n".join(lines)


def gpu_names():
    """The NVIDIA GPUs as the driver names them (/proc/driver/nvidia), or "no NVIDIA GPU"."""
    import glob

    names = []
    for path in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        with open(path) as f:
            names += [line.split(":", 1)[1].strip() for line in f if line.startswith("Model:")]
    return ", ".join(names) or "no NVIDIA GPU"


def _rho(r):
    return "n/a" if r["rho"] is None else f"{r['rho']:+.2f} (n={r['n']})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--steps", type=int, default=10000, help="Training steps of every trial (default 10000).")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--headline", action="store_true",
                        help="Only CHyVAE nu=200, beta-VAE beta=4, FactorVAE gamma=35 (9 trials with 3 seeds).")
    parser.add_argument("--backend", default="jax", choices=("jax", "tensorflow", "torch"),
                        help="Default jax (the GPU path); on a CPU tensorflow is several times faster "
                             "(docs/BACKENDS.md).")
    parser.add_argument("--image-size", type=int, default=64, help="Image side (default 64, the paper's).")
    parser.add_argument("--evaluate", default="factor_vae,mig",
                        help="hwkeras sweep --evaluate (default factor_vae,mig: chyvae.factor_vae, dlib.factor_vae, "
                             "dlib.mig); on a CPU, chyvae.factor_vae,dlib.mig skips dlib's 960k-image "
                             "FactorVAE protocol.")
    parser.add_argument("--max-concurrent", type=int, default=14,
                        help="Trials at once on the machine (default 14: one CPU each on 16 cores, sharing the GPU).")
    parser.add_argument("--gpus-per-trial", type=float, help="Default: the GPUs divided among --max-concurrent.")
    parser.add_argument("--time-budget", type=float, default=420.0,
                        help="Seconds after which running trials stop (0: none); rerun to finish them.")
    parser.add_argument("--output-dir", help="Default: results/TABLE.")
    parser.add_argument("--report", action="store_true", help="Also write the pages (slower: loads every model).")
    parser.add_argument("--table-only", action="store_true",
                        help="Print the table of the sweep already in --output-dir.")
    parser.add_argument("--dry-run", action="store_true", help="Print the hwkeras sweep command only.")
    args = parser.parse_args()
    args.output_dir = args.output_dir or os.path.join("results", args.table)
    hwkeras = [sys.executable, "-m", "hwkeras.cli.main"]  # this interpreter's hwkeras, installed or not on PATH
    command = hwkeras + sweep_arguments(args)
    if os.path.isfile(os.path.join(args.output_dir, "sweep.json")):
        command = hwkeras + ["sweep", "--resume", args.output_dir, "--max-concurrent", str(args.max_concurrent)]
        command += [c for c in sweep_arguments(args) if c in ("--no-report",)]
        if args.time_budget:
            command += ["--time-budget", str(args.time_budget)]
        if args.gpus_per_trial is not None:
            command += ["--gpus-per-trial", str(args.gpus_per_trial)]
    if args.dry_run:
        print(shlex.join(command))
        return 0
    if not args.table_only:
        print("$ " + shlex.join(command), flush=True)
        done = subprocess.run(command)
        if done.returncode not in (0, 1):  # 1: some trials failed; their rows say so
            return done.returncode
    print(f"\n## {TABLES[args.table]}\n")
    print(draft_table(args.output_dir))
    print(f"\nCommand: python benchmarks/results.py {shlex.join(sys.argv[1:])}")
    print(f"Machine: {gpu_names()}; {machine_description()}; "
          f"{versions('hwkeras', 'keras', 'jax', 'jaxlib', 'ray', 'numpy', 'scikit-learn')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
