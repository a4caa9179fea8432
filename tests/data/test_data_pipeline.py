"""The training pipelines: batch i depends only on (seed, i); the PyDataset and tf.data pipelines
yield the same batches; every dataset streams in a process where TensorFlow cannot be imported."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from hwkeras.data import batch_items, epoch_permutation, get_dataset, take
from tests.data.test_datasets_dsprites import write_small_dsprites
from tests.data.test_datasets_files import write_celeba, write_chairs
from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def datasets(tmp_path):
    """One dataset of every kind, from small fixtures in the real formats."""
    write_celeba(tmp_path / "celeba", n=13, partition=False, corrupt=(5,))
    write_chairs(tmp_path / "chairs")
    write_small_dsprites(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    faces = (np.arange(2 * 3 * 2 * 2 * 64 * 64) % 251).astype(np.uint8).reshape(2, 3, 2, 2, 64, 64)
    np.save(tmp_path / "faces.npy", faces)
    return {
        "correlated-ellipses": get_dataset("correlated-ellipses", image_size=32, cache=False),
        "dsprites-procedural": get_dataset("dsprites-procedural"),
        "dsprites": get_dataset("dsprites", data_dir=str(tmp_path)),
        "celeba": get_dataset("celeba", data_dir=str(tmp_path / "celeba"), image_size=32),
        "celeba-files": get_dataset("celeba", data_dir=str(tmp_path / "celeba"), image_size=32, cache=False),
        "chairs": get_dataset("chairs", data_dir=str(tmp_path / "chairs"), image_size=32, cache=False),
        "faces3d": get_dataset("faces3d", data_dir=str(tmp_path / "faces.npy")),
    }


def test_epoch_order_is_a_permutation_per_epoch_and_batches_cross_epochs():
    first, second = epoch_permutation(10, 3, 0), epoch_permutation(10, 3, 1)
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert not np.array_equal(first, second) and not np.array_equal(first, epoch_permutation(10, 4, 0))
    # Batch 2 of 4 holds positions 8..11: the end of epoch 0 and the start of epoch 1.
    np.testing.assert_array_equal(batch_items(10, 4, 3, 2), np.concatenate([first[8:], second[:2]]))
    np.testing.assert_array_equal(np.concatenate([batch_items(10, 5, 3, i) for i in range(4)]),
                                  np.concatenate([first, second]))


@pytest.mark.parametrize("name", ["correlated-ellipses", "dsprites", "celeba", "celeba-files"])
def test_py_and_tf_pipelines_yield_the_same_batches_and_start_resumes(datasets, name):
    """A procedural, an indexed and a file dataset (decoded cache, and decoding every pass with a
    corrupt file): the same batches from both pipelines, and start=k continues where k left off."""
    import warnings

    data = datasets[name]
    warnings.simplefilter("ignore")  # the corrupt CelebA file is reported; tested elsewhere
    py = take(data.batches(4, seed=7, pipeline="py", workers=3), 6)
    tf = take(data.batches(4, seed=7, pipeline="tf"), 6)
    assert isinstance(data.batches(4, pipeline="py"), keras.utils.PyDataset)
    assert py[0].shape == (4,) + tuple(data.observation_shape) and py[0].dtype == np.float32
    for a, b in zip(py, tf):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(py[0], py[1])
    for pipeline in ("py", "tf"):
        resumed = take(data.batches(4, seed=7, start=4, pipeline=pipeline), 2)
        np.testing.assert_array_equal(np.stack(resumed), np.stack(py[4:6]))
    np.testing.assert_array_equal(data.batch(4, 7, 5), py[5])
    assert not np.array_equal(take(data.batches(4, seed=8, pipeline="py"), 1)[0], py[0])


def test_worker_threads_keep_the_order_through_the_enqueuer(datasets):
    """Keras' ordered enqueuer (what model.fit runs) delivers batch i at position i, across epochs."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    data = datasets["dsprites-procedural"]
    adapter = PyDatasetAdapter(data.batches(8, seed=2, start=3, pipeline="py", workers=4))
    adapter.on_epoch_begin()
    iterator = adapter.get_numpy_iterator()
    got = [next(iterator)[0] for _ in range(5)]
    adapter.on_epoch_end()  # fit stops the workers between epochs; the order must survive that
    adapter.on_epoch_begin()
    got += [next(iterator)[0] for _ in range(5)]
    adapter.on_epoch_end()
    for i, batch in enumerate(got):
        np.testing.assert_array_equal(batch, data.batch(8, 2, 3 + i))


def test_model_fit_trains_on_the_py_pipeline(datasets):
    from hwkeras import HyperpriorVAE

    data = datasets["correlated-ellipses"]
    model = HyperpriorVAE(latent_dim=2, nu=4.0, image_shape=data.observation_shape, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(data.batches(4, seed=0, pipeline="py", workers=2), epochs=2, steps_per_epoch=2,
                        verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()


def test_bad_pipeline_arguments_are_one_line_errors(datasets):
    data = datasets["dsprites-procedural"]
    with pytest.raises(ValueError, match="pipeline must be one of auto, py, tf; got 'grain'"):
        data.batches(4, pipeline="grain")
    with pytest.raises(ValueError, match="batch_size must be >= 1 and start >= 0"):
        data.batches(4, start=-1)


# Run in a fresh interpreter where `import tensorflow` raises ImportError (as on a GPU machine with
# JAX or PyTorch and no TensorFlow): builds the fixtures, then 3 batches of every dataset through PyDataset.
NO_TF_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    sys.path.insert(0, {root!r})
    warnings.simplefilter("ignore")
    import keras, pathlib
    from hwkeras.data import get_dataset, take
    from tests.data.test_datasets_dsprites import write_small_dsprites
    from tests.data.test_datasets_files import write_celeba, write_chairs
    import numpy as np
    tmp = pathlib.Path({tmp!r})
    write_celeba(tmp / "celeba", n=9, partition=False, corrupt=(2,))
    write_chairs(tmp / "chairs", chairs=2, views=3)
    write_small_dsprites(tmp / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    np.save(tmp / "faces.npy", np.zeros((2, 3, 2, 2, 64, 64), np.uint8))
    built = {{
        "correlated-ellipses": get_dataset("correlated-ellipses", image_size=32, cache=False),
        "dsprites-procedural": get_dataset("dsprites-procedural"),
        "dsprites": get_dataset("dsprites", data_dir=str(tmp)),
        "celeba": get_dataset("celeba", data_dir=str(tmp / "celeba"), image_size=32),
        "celeba-files": get_dataset("celeba", data_dir=str(tmp / "celeba"), image_size=32, cache=False),
        "chairs": get_dataset("chairs", data_dir=str(tmp / "chairs"), image_size=32),
        "faces3d": get_dataset("faces3d", data_dir=str(tmp / "faces.npy")),
    }}
    shapes = {{name: [list(b.shape) for b in take(d.batches(4, seed=1, workers=2), 3)] for name, d in built.items()}}
    print(json.dumps({{"backend": keras.backend.backend(), "shapes": shapes,
                      "tensorflow": sys.modules.get("tensorflow") is not None}}))
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_dataset_streams_without_tensorflow(tmp_path, backend):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # None in sys.modules is how Python spells "not importable": `import tensorflow` raises
    # ModuleNotFoundError and importlib.util.find_spec says None, as when it is not installed.
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in ('tensorflow', 'tensorflow_probability', 'tf_keras'):\n    sys.modules[name] = None\n")
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(blocker))
    script = NO_TF_SCRIPT.format(root=ROOT, tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=deadline(300))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend and report["tensorflow"] is False
    assert set(report["shapes"]) == {"correlated-ellipses", "dsprites-procedural", "dsprites", "celeba",
                                     "celeba-files", "chairs", "faces3d"}
    for name, shapes in report["shapes"].items():
        channels = 3 if name.startswith("celeba") else 1
        size = 32 if name in ("correlated-ellipses", "celeba", "celeba-files", "chairs") else 64
        assert shapes == [[4, size, size, channels]] * 3, name
    # The blocker really blocks.
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True,
                           timeout=deadline(60))
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
