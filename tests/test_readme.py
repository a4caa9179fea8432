"""The README's script section runs as written (issue 20: runs as a library)."""

import os
import re
import subprocess
import sys

from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_block(title):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index(title):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_script_section_runs_and_writes_resumable_runs(tmp_path):
    code = readme_block("## Runs from a script")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=deadline(900), env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    printed = [line for line in done.stdout.splitlines() if line.startswith("100 ")]
    assert printed and float(printed[0].split()[1]) > 0, done.stdout[-2000:]
    assert "Resuming runs/beta4 from its checkpoint at step 100 (of 150)" in done.stdout
    import json

    with open(tmp_path / "runs" / "beta4" / "config.json") as f:
        config = json.load(f)
    assert config["steps_trained"] == 150 and config["completed"] and config["format"] == 2
    with open(tmp_path / "runs" / "beta4" / "metrics.json") as f:
        record = json.load(f)
    mig = [line for line in done.stdout.splitlines() if line.startswith("MIG ")]
    assert mig and float(mig[0].split()[1]) == record["metrics"]["mig"]["discrete_mig"], done.stdout[-2000:]
    assert record["training_steps"] == 150 and record["parameters"]["mig"]["num_train"] == 2000
    trials = ["beta-vae-beta=1-seed0", "beta-vae-beta=1-seed1", "beta-vae-beta=4-seed0", "beta-vae-beta=4-seed1"]
    assert sorted(os.listdir(tmp_path / "sweeps" / "betas" / "trials")) == trials
    rows = [line for line in done.stdout.splitlines() if line.startswith("[('beta-vae")]
    assert rows and all(f"('{t}', 'finished', '" in rows[0] for t in trials), done.stdout[-2000:]
    chosen = done.stdout.strip().splitlines()[-1]
    assert chosen in trials, done.stdout[-2000:]
    with open(tmp_path / "sweeps" / "betas" / "selection.json") as f:
        assert json.load(f)["trial"] == chosen
