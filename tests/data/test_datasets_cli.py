"""``hwkeras datasets``: layouts, default locations, found or missing; one-line errors."""

import numpy as np
from click.testing import CliRunner
from PIL import Image

from hwkeras.cli.datasets import datasets_command
from hwkeras.data import DATASETS, get_dataset
from hwkeras.data.registry import find


def test_lists_every_dataset_with_layout_and_status(tmp_path, monkeypatch):
    monkeypatch.setenv("HWKERAS_DATA_DIR", str(tmp_path / "nothing-here"))
    celeba = tmp_path / "celeba" / "img_align_celeba"
    celeba.mkdir(parents=True)
    Image.fromarray(np.zeros((218, 178, 3), np.uint8)).save(celeba / "000001.jpg")
    result = CliRunner().invoke(datasets_command, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in DATASETS:
        assert name in result.output
    assert f"found at: {celeba}" in result.output
    assert f"looked in: {tmp_path} and {tmp_path / 'dsprites'}" in result.output
    assert "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz" in result.output
    assert "rendered_chairs/<chair>/renders/*.png" in result.output
    # The same root works for training: get_dataset looks in data_dir, then data_dir/celeba.
    assert len(get_dataset("celeba", data_dir=str(tmp_path), cache=False)) == 1
    assert find("dsprites")[0] == "missing" and str(tmp_path / "nothing-here" / "dsprites") in find("dsprites")[1]
    assert find("correlated-ellipses") == ("built in", None)
    default = CliRunner().invoke(datasets_command, [])
    assert default.exit_code == 0 and f"looked in: {tmp_path / 'nothing-here' / 'celeba'}" in default.output


def test_missing_data_dir_is_a_one_line_usage_error(tmp_path):
    result = CliRunner().invoke(datasets_command, ["--data-dir", str(tmp_path / "absent")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: --data-dir {tmp_path / 'absent'} is not a directory"
