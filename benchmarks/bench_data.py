"""Data pipelines against training: can each dataset feed CHyVAE at least 3x faster than it trains?

In one process: the images/s each dataset's ``batches()`` delivers through each pipeline (``py``:
the keras.utils.PyDataset with worker threads, read the way ``model.fit`` reads it on this
backend; ``tf``: the tf.data one, on the TensorFlow backend), and the images/s CHyVAE training
consumes on a fixed in-memory batch on this backend's device. Figure of merit: pipeline / training
(>= 3 is the target), in wall-clock images/s and, on a CPU, in images per CPU-second (steadier on
a shared machine). Also timed: building the CorrelatedEllipses grid cache and the decoded CelebA
cache (the one-off first-run costs).

Data: CorrelatedEllipses and procedural dSprites (built in); a dSprites-schema .npz (73,728
images, the loader's bit-packed cache); a (50000, 64, 64) uint8 memory-mapped array (faces3d's
path); generated CelebA-like JPEGs (178x218, ~10 KB) and chairs-like PNGs (600x600), all in a
temporary folder. It never imports TensorFlow itself, so on a GPU machine without it:

    KERAS_BACKEND=jax python benchmarks/bench_data.py --batch-sizes 64,256 --steps 200

    python benchmarks/bench_data.py [--batch-sizes 64] [--jpegs 3000] [--steps 30]
"""

import argparse
import logging
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402
from PIL import Image  # noqa: E402

import hwkeras  # noqa: E402
from hwkeras.data import get_dataset  # noqa: E402
from hwkeras.data.pipeline import default_workers  # noqa: E402


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def py_iterator(stream):
    """The PyDataset as model.fit reads it on this backend (Keras' ordered enqueuer on threads)."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(stream)
    adapter.on_epoch_begin()
    if keras.backend.backend() == "tensorflow":
        return iter(adapter.get_tf_dataset())
    return adapter.get_numpy_iterator()


def pipeline_rate(dataset, pipeline, batch, num_batches, seconds):
    """(images/s wall clock, images per CPU-second) of ``dataset.batches(batch)`` after a warm-up:
    ``num_batches`` batches, or fewer (at least 3) if that takes more than ``seconds``."""
    stream = dataset.batches(batch, seed=0, pipeline=pipeline)  # "py" or "tf", never "auto"
    iterator = py_iterator(stream) if pipeline == "py" else iter(stream)
    for _ in range(3):
        next(iterator)

    def drain():
        start = time.perf_counter()
        for done in range(1, num_batches + 1):
            next(iterator)
            if done >= 3 and time.perf_counter() - start > seconds:
                break
        return done

    done, wall, cpu = timed(drain)
    return done * batch / wall, done * batch / cpu


class SameBatch(keras.utils.PyDataset):
    """One fixed batch forever: training alone, with no input cost."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return self.images


def training_rate(channels, batch, steps):
    """Images/s of CHyVAE training steps on a fixed in-memory batch (after tracing)."""
    keras.utils.set_random_seed(0)
    images = SameBatch(np.random.RandomState(0).rand(batch, 64, 64, channels).astype(np.float32))
    model = hwkeras.HyperpriorVAE(latent_dim=10, nu=200.0, image_shape=(64, 64, channels), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(images, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
    _, wall, cpu = timed(lambda: model.fit(images, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False))
    return steps * batch / wall, steps * batch / cpu


def write_jpegs(folder, count):
    """Photo-like 178x218 JPEGs: smooth random colour fields with a little noise (~10 KB each)."""
    os.makedirs(folder)
    rs = np.random.RandomState(0)
    for i in range(1, count + 1):
        coarse = Image.fromarray(rs.randint(0, 256, (7, 6, 3), dtype=np.uint8)).resize((178, 218), Image.BICUBIC)
        pixels = np.asarray(coarse, np.int16) + rs.randint(-12, 13, (218, 178, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def write_pngs(root, count):
    """Chairs-like 600x600 renders: a grey shape on white, as PNG."""
    folder = os.path.join(root, "rendered_chairs", "chair_0000", "renders")
    os.makedirs(folder)
    rs = np.random.RandomState(0)
    for i in range(count):
        pixels = np.full((600, 600, 3), 255, np.uint8)
        top, left = rs.randint(50, 250, size=2)
        pixels[top : top + 300, left : left + 200] = rs.randint(40, 200, size=3)
        Image.fromarray(pixels).save(os.path.join(folder, f"image_{i:03d}_p020_t000_r096.png"))


def write_dsprites(path, sizes=(1, 3, 6, 4, 32, 32)):
    """A dSprites-schema .npz (uncompressed) of random binary images."""
    num = int(np.prod(sizes))
    names = ("color", "shape", "scale", "orientation", "posX", "posY")
    metadata = {"latents_sizes": np.array(sizes), "latents_names": names,
                "latents_possible_values": {n: np.linspace(0, 1, s) for n, s in zip(names, sizes)}}
    classes = np.stack(np.unravel_index(np.arange(num), sizes), axis=1).astype(np.int64)
    imgs = (np.random.RandomState(0).rand(num, 64, 64) < 0.1).astype(np.uint8)
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64),
             metadata=np.array(metadata, dtype=object))


def datasets(root, args):
    """(name, dataset, channels, one-off build seconds or None) for every pipeline benchmarked."""
    cache = os.path.join(root, "cache")
    ellipses = get_dataset("correlated-ellipses", cache_dir=cache)
    _, grid_build, _ = timed(ellipses.prepare)
    write_dsprites(os.path.join(root, "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"))
    np.save(os.path.join(root, "faces.npy"), np.random.RandomState(0).randint(0, 256, (50000, 64, 64), np.uint8))
    write_jpegs(os.path.join(root, "celeba", "img_align_celeba"), args.jpegs)
    write_pngs(os.path.join(root, "chairs"), args.pngs)
    celeba = get_dataset("celeba", data_dir=os.path.join(root, "celeba"))
    _, celeba_build, _ = timed(celeba.cached_images)
    return [
        ("dsprites-procedural", get_dataset("dsprites-procedural"), 1, None),
        ("correlated-ellipses, grid cache", ellipses, 1, grid_build),
        ("correlated-ellipses, rendered on the fly", get_dataset("correlated-ellipses", cache=False), 1, None),
        ("dsprites file (73,728 images, bit-packed memmap)", get_dataset("dsprites", data_dir=root), 1, None),
        ("faces3d-style memmap (50,000 x 64 x 64)", get_dataset("faces3d", data_dir=os.path.join(root, "faces.npy")),
         1, None),
        (f"celeba from the decoded cache ({args.jpegs} JPEGs)", celeba, 3, celeba_build),
        ("celeba JPEGs decoded every pass", get_dataset("celeba", data_dir=os.path.join(root, "celeba"), cache=False),
         3, None),
        ("chairs PNGs (600x600) decoded every pass", get_dataset("chairs", data_dir=os.path.join(root, "chairs"),
                                                                 cache=False), 1, None),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="64", help="comma-separated, e.g. 64,256")
    parser.add_argument("--jpegs", type=int, default=3000, help="generated CelebA-like JPEGs")
    parser.add_argument("--pngs", type=int, default=200, help="generated chairs-like PNGs")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--batches", type=int, default=60, help="timed batches per pipeline (at most)")
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per pipeline measurement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    backend = keras.backend.backend()
    pipelines = ["py", "tf"] if backend == "tensorflow" else ["py"]  # never imports TensorFlow otherwise
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    rows = []
    with tempfile.TemporaryDirectory() as root:
        built = datasets(root, args)
        for batch in batch_sizes:
            train = {c: training_rate(c, batch, args.steps) for c in (1, 3)}
            for name, dataset, channels, _ in built:
                for pipeline in pipelines:
                    rate, per_cpu = pipeline_rate(dataset, pipeline, batch, args.batches, args.seconds)
                    wall_ratio, cpu_ratio = rate / train[channels][0], per_cpu / train[channels][1]
                    rows.append([name, batch, pipeline, f"{rate:,.0f}", f"{per_cpu:,.0f}",
                                 f"{train[channels][0]:,.0f} / {train[channels][1]:,.0f} (x{channels})",
                                 f"**{wall_ratio:.1f}** / {cpu_ratio:.1f}", "yes" if wall_ratio >= 3 else "no"])
        builds = [(name, seconds) for name, _, _, seconds in built if seconds is not None]

    print(f"Machine: {machine_description()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"Backend {backend} on {describe_devices()}; "
          f"{versions('keras', 'tensorflow', 'jax', 'torch', 'numpy', 'pillow')}")
    print(f"Up to {args.batches} timed batches (or {args.seconds:g} s) per pipeline, "
          f"{args.steps} timed training steps, {default_workers()} "
          f"worker threads; 64x64 images\n")
    print(markdown_table(
        ["dataset", "batch", "pipeline", "images/s", "images per CPU-second",
         "CHyVAE training: images/s / per CPU-second", "pipeline / training: wall / CPU", ">= 3x"], rows))
    print()
    for name, seconds in builds:
        print(f"One-off cache build, {name}: {seconds:.1f} s")


def describe_devices():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return ", ".join(sorted({d.device_kind for d in jax.devices()}))
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return ", ".join(keras.distribution.list_devices()[:1])


if __name__ == "__main__":
    main()
