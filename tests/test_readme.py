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
                          timeout=deadline(600), env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    printed = [line for line in done.stdout.splitlines() if line.startswith("100 ")]
    assert printed and float(printed[0].split()[1]) > 0, done.stdout[-2000:]
    assert "Resuming runs/beta4 from its checkpoint at step 100 (of 150)" in done.stdout
    import json

    with open(tmp_path / "runs" / "beta4" / "config.json") as f:
        config = json.load(f)
    assert config["steps_trained"] == 150 and config["completed"] and config["format"] == 2
    assert sorted(os.listdir(tmp_path / "runs" / "betas")) == ["b1-s0", "b1-s1", "b4-s0", "b4-s1"]
