"""hwkeras.files: a file appears whole or not at all, and an old one survives a failed rewrite."""

import json

import pytest

from hwkeras.files import atomic_open, write_json_atomically


def test_a_failed_rewrite_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = str(tmp_path / "record.json")
    write_json_atomically({"a": 1}, path)
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write('{"a": 2')  # half a record, then a failure
            raise RuntimeError("killed mid-write")
    assert json.loads(open(path).read()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
    write_json_atomically({"a": 2}, path)
    assert json.loads(open(path).read()) == {"a": 2} and open(path).read().endswith("}\n")


def test_a_csv_cell_is_a_number_only_when_finite():
    from hwkeras.files import csv_number

    assert csv_number("0.25") == 0.25 and csv_number("-3") == -3.0 and csv_number(" 1e-3 ") == 1e-3
    for cell in ("", None, "abc", "nan", "inf", "-inf"):
        assert csv_number(cell) is None, cell
