"""Data pipelines against training: can each pipeline feed CHyVAE faster than it trains?

Measures, in one process, the images/s each ``dataset.batches(64)`` stream delivers alone
(procedural dSprites, CorrelatedEllipses, CelebA-like JPEGs decoded on every pass, the same
read from the decoded cache) and the images/s CHyVAE consumes when training on a fixed
in-memory batch of 64 (64x64x1, and 64x64x3 for the RGB pipelines). Figure of merit: the ratio
pipeline / training, both in wall-clock images/s and in images per CPU-second (the steadier
on a shared machine). Target: >= 3, so the pipeline needs at most a third of the CPU that
training does. The JPEGs (178x218, photo-like, ~10 KB like CelebA's) are generated in a
temporary folder, laid out as ``img_align_celeba/``.

    python benchmarks/bench_data.py [--jpegs 3000] [--steps 30]
"""

import argparse
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
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import hwkeras  # noqa: E402
from common import machine_description, markdown_table, versions  # noqa: E402
from hwkeras.data import get_dataset  # noqa: E402

BATCH = 64


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def pipeline_rate(dataset, num_batches):
    """(images/s wall clock, images per CPU-second) of ``dataset.batches(64)`` after a warm-up."""
    iterator = iter(dataset.batches(BATCH, seed=0))
    for _ in range(3):
        next(iterator)

    def drain():
        for _ in range(num_batches):
            next(iterator)

    _, wall, cpu = timed(drain)
    return num_batches * BATCH / wall, num_batches * BATCH / cpu


def training_rate(channels, steps):
    """Images/s of CHyVAE training steps on a fixed in-memory batch of 64 (after tracing)."""
    keras.utils.set_random_seed(0)
    images = np.random.RandomState(0).rand(BATCH, 64, 64, channels).astype(np.float32)
    stream = tf.data.Dataset.from_tensors(images).repeat()
    model = hwkeras.HyperpriorVAE(latent_dim=10, nu=200.0, image_shape=(64, 64, channels), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    model.fit(stream, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)
    _, wall, cpu = timed(lambda: model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False))
    return steps * BATCH / wall, steps * BATCH / cpu


def write_jpegs(folder, count):
    """Photo-like 178x218 JPEGs: smooth random colour fields with a little noise (~10 KB each)."""
    os.makedirs(folder)
    rs = np.random.RandomState(0)
    for i in range(1, count + 1):
        coarse = Image.fromarray(rs.randint(0, 256, (7, 6, 3), dtype=np.uint8)).resize((178, 218), Image.BICUBIC)
        pixels = np.asarray(coarse, np.int16) + rs.randint(-12, 13, (218, 178, 3))
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jpegs", type=int, default=3000, help="generated CelebA-like JPEGs")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--batches", type=int, default=60, help="timed batches per pipeline")
    args = parser.parse_args()

    train = {1: training_rate(1, args.steps), 3: training_rate(3, args.steps)}
    rows = []
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "img_align_celeba")
        write_jpegs(folder, args.jpegs)
        size_kb = sum(e.stat().st_size for e in os.scandir(folder)) / args.jpegs / 1024
        streamed = get_dataset("celeba", data_dir=root, cache=False)
        cached = get_dataset("celeba", data_dir=root, cache=True)
        _, build_wall, _ = timed(cached.cached_images)
        pipelines = [
            ("dsprites-procedural", get_dataset("dsprites-procedural"), 1),
            ("correlated-ellipses", get_dataset("correlated-ellipses"), 1),
            ("celeba JPEGs, decoded every pass", streamed, 3),
            ("celeba from the decoded cache", cached, 3),
        ]
        for name, dataset, channels in pipelines:
            rate, per_cpu = pipeline_rate(dataset, args.batches)
            wall_ratio, cpu_ratio = rate / train[channels][0], per_cpu / train[channels][1]
            rows.append([name, f"{rate:.0f}", f"{per_cpu:.0f}",
                         f"{train[channels][0]:.0f} / {train[channels][1]:.0f} (x{channels})",
                         f"**{wall_ratio:.1f}** / **{cpu_ratio:.1f}**",
                         "yes" if min(wall_ratio, cpu_ratio) >= 3 else "no"])

    print(f"Machine: {machine_description()}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"Versions: {versions('keras', 'tensorflow', 'numpy', 'pillow')}")
    print(f"Batch {BATCH}, 64x64; {args.batches} timed batches per pipeline, {args.steps} timed training steps; "
          f"{args.jpegs} JPEGs of 178x218 ({size_kb:.1f} KB on average), centre crop 140\n")
    print(markdown_table(
        ["pipeline", "images/s", "images per CPU-second", "CHyVAE training: images/s / per CPU-second",
         "pipeline / training: wall / CPU", ">= 3x"], rows))
    print("\nThe CPU ratio (images per CPU-second of each) is the steadier on a shared machine: it says "
          "how much CPU the pipeline needs per image relative to a training step.")
    print(f"Building the decoded cache of {args.jpegs} JPEGs took {build_wall:.1f} s "
          f"({args.jpegs / build_wall:.0f} images/s, one pass).")


if __name__ == "__main__":
    main()
