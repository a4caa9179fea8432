"""One way to write a file (``hwkeras.files.atomic_path``): whole or not at all, and with the mode an
ordinary ``open`` gives under the user's umask (mkstemp's 0600 used to leave model.keras private)."""

import os
import stat

import numpy as np
import pytest

from hwkeras.files import atomic_open, atomic_path


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_every_writer_gives_the_mode_open_would(tmp_path, umask):
    import keras

    from hwkeras.data.arrays import atomic_npy
    from hwkeras.report.page import write_page
    from hwkeras.runs.session import save_keras_atomically

    expected = 0o666 & ~umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert mode(plain) == expected  # what the files below must match
    with atomic_open(str(tmp_path / "config.json")) as f:
        f.write("{}")
    write_page("<html></html>", str(tmp_path / "report.html"))
    with atomic_npy(str(tmp_path / "cache.npy"), np.uint8, (2, 3)) as out:
        out[:] = 1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_keras_atomically(model, str(tmp_path / "model.keras"))
    for name in ("config.json", "report.html", "cache.npy", "model.keras"):
        assert mode(tmp_path / name) == expected, (name, oct(mode(tmp_path / name)), oct(expected))
    assert sorted(os.listdir(tmp_path)) == ["cache.npy", "config.json", "model.keras", "plain.txt", "report.html"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(str(path)) as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["results.csv"]
    with atomic_path(str(path), suffix=".csv") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".results.csv.partial-")
        with open(tmp, "w") as f:
            f.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["results.csv"]
