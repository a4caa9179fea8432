"""One rule for every command that replaces an output (docs/RELIABILITY.md): an existing output is
replaced only with --overwrite, and only when it is what the command writes (a SavedModel export,
a report page). A run directory, a sweep directory or any other file is never deleted or replaced:
one line says what is there, and nothing on disk changes. (Replacing a former export with
--overwrite: tests/test_cli_serving.py::test_export_writes_a_card_and_refuses_to_overwrite.)"""

import json
import os

import pytest
from click.testing import CliRunner

from hwkeras.files import REPORT_GENERATOR, is_report_page, is_saved_model_export


def snapshot(folder):
    """Every file under ``folder`` with its bytes: what a refused command must leave as it was."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A model file, a run directory, a sweep directory, an unrelated folder and a report page."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.keras").write_bytes(b"not loaded: the refusals come before the model is read")
    run = tmp_path / "runs" / "other"
    (run / "checkpoints" / "step-00000004").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "chyvae", "steps": 8}))
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (run / "checkpoints" / "step-00000004" / "checkpoint.json").write_text("{}")
    sweep = tmp_path / "sweeps" / "s"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    (tmp_path / "old.html").write_text(f'<html><head><meta name="generator" content="{REPORT_GENERATOR}">')
    return tmp_path


def error_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("output, what", [
    ("runs/other", "a run directory of hwkeras fit (it has config.json)"),
    ("sweeps/s", "a sweep directory of hwkeras sweep (it has sweep.json)"),
    ("notes", "a directory of 1 entries, none of them saved_model.pb, config.json or sweep.json"),
])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_export_never_replaces_what_it_did_not_write(place, output, what, overwrite):
    from hwkeras.cli.export import export_command

    before = snapshot(place)
    result = CliRunner().invoke(export_command, ["model.keras", "--output", output, *overwrite])
    assert error_line(result) == (f"Error: --output {output} is {what}, not a SavedModel export; it is never "
                                  f"replaced: choose another --output")
    assert snapshot(place) == before


@pytest.mark.parametrize("output", ["runs/other/config.json", "notes/todo.txt"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["plain", "overwrite"])
def test_report_never_replaces_a_file_it_did_not_write(place, output, overwrite):
    from hwkeras.cli.report import report_command

    before = snapshot(place)
    result = CliRunner().invoke(report_command, ["runs/other", "--output", output, *overwrite])
    assert error_line(result) == (f"Error: --output {output} is a file, not a report page; it is never replaced: "
                                  f"choose another --output")
    assert snapshot(place) == before


def test_report_replaces_its_own_page_only_with_overwrite(place):
    from hwkeras.cli.report import report_command

    before = snapshot(place)
    result = CliRunner().invoke(report_command, ["runs/other", "--output", "old.html"])
    assert error_line(result) == ("Error: old.html already exists; pass --overwrite (it holds a report page) or "
                                  "choose another --output")
    assert snapshot(place) == before


def test_what_counts_as_a_commands_own_output(place):
    assert is_report_page(place / "old.html") and not is_report_page(place / "runs" / "other" / "config.json")
    assert not is_report_page(place / "missing.html")
    (place / "empty").mkdir()
    (place / "sm").mkdir()
    (place / "sm" / "saved_model.pb").write_bytes(b"")
    assert is_saved_model_export(place / "empty") and is_saved_model_export(place / "sm")
    assert not is_saved_model_export(place / "notes") and not is_saved_model_export(place / "runs" / "other")
    assert not is_saved_model_export(place / "old.html")


# -- every output place proved writable before any work ---------------------------------------------
# /sys refuses new entries to root too, though its permission bits (and os.access) allow them: the
# kind of place only an attempt finds out (formerly found after training, with a traceback).

UNWRITABLE = "/sys/hwkeras-test-output"
TINY = ["--batch-size", "4", "--latent-dim", "2", "--image-size", "32", "--hidden-units", "16", "--steps", "4",
        "--no-report", "--summary-every", "0"]


@pytest.mark.parametrize("option", ["--export-dir", "--output-dir"])
def test_fit_into_an_unwritable_place_fails_before_training(tmp_path, monkeypatch, option):
    from hwkeras.cli.fit import fit_command
    from hwkeras.data import CorrelatedEllipses

    def no_batches(*args, **kwargs):
        raise AssertionError("a batch was read: training started")

    monkeypatch.setattr(CorrelatedEllipses, "batch", no_batches)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(fit_command, ["--run-name", "r", option, f"{UNWRITABLE}/sub", *TINY])
    assert error_line(result).startswith(f"Error: {option} {UNWRITABLE}/sub: cannot create it (") and \
        result.output.rstrip().endswith("; choose a writable place"), result.output
    assert not os.path.exists(UNWRITABLE) and not os.path.exists(tmp_path / "runs" / "r")


def test_export_into_an_unwritable_place_fails_before_loading(place):
    from hwkeras.cli.export import export_command

    result = CliRunner().invoke(export_command, ["model.keras", "--output", f"{UNWRITABLE}/sm"])
    assert error_line(result).startswith(f"Error: --output {UNWRITABLE}: cannot create it (")


def test_the_probe_leaves_nothing_behind(tmp_path):
    from hwkeras.cli.common import check_creatable_dir

    check_creatable_dir(str(tmp_path / "a" / "b" / "c"), "--output-dir")
    check_creatable_dir(str(tmp_path), "--output-dir")
    assert os.listdir(tmp_path) == []


def test_a_celeba_folder_where_no_image_decodes_is_one_line(tmp_path, monkeypatch):
    """Formerly a ValueError traceback from the decoded cache, after the run had started."""
    from hwkeras.cli.fit import fit_command

    images = tmp_path / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(3):
        (images / f"{i + 1:06d}.jpg").write_bytes(b"not a JPEG")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    result = CliRunner().invoke(fit_command, ["--dataset", "celeba", "--data-dir", str(tmp_path / "celeba"),
                                              "--run-name", "c", *TINY])
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert errors == ["Error: celeba: none of the 3 image files could be decoded; check the files under --data-dir"]
    assert not (tmp_path / "runs" / "c").exists()


# -- without TensorFlow: every command works or says what to install or pass ---------------------------

def test_each_command_says_in_one_line_what_it_needs_where_tensorflow_is_missing(place):
    """A process where ``import tensorflow`` fails (tests/without_tensorflow), KERAS_BACKEND unset:
    formerly a Keras import traceback (export, report, evaluate) or ModuleNotFoundError (predict)."""
    import subprocess
    import sys

    from tests.helpers import ROOT, deadline

    (place / "sm").mkdir()
    (place / "sm" / "saved_model.pb").write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "tests", "without_tensorflow"), ROOT])
    backend = ("Error: Keras's backend here is TensorFlow, which is not installed: pass --backend jax or --backend "
               "torch (or set KERAS_BACKEND), or pip install 'tensorflow>=2.18,<2.22'")
    cases = [
        (["export", "runs/other", "--output", "exported"],
         "Error: A SavedModel needs TensorFlow, which is not installed here: pip install 'tensorflow>=2.18,<2.22'"),
        (["predict", "sm", "--signature", "sample", "--output", "s.npz"],
         "Error: Running a SavedModel needs TensorFlow, which is not installed here: pip install "
         "'tensorflow>=2.18,<2.22'"),
        (["report", "runs/other", "--output", "page.html"], backend),
        (["evaluate", "runs/other"], backend),
    ]
    before = snapshot(place)
    for args, line in cases:
        done = subprocess.run([sys.executable, "-m", "hwkeras.cli.main", *args], cwd=place, env=env,
                              capture_output=True, text=True, timeout=deadline(120))
        assert done.returncode == 2 and done.stderr.strip().splitlines() == [line], (args, done.stderr)
    assert snapshot(place) == before
