"""tf.data pipelines that stream batches of images to ``model.fit``.

Every dataset ends in the same stages (seeded shuffle, repeat, batch, prefetch); they differ in
where an image comes from:

- ``procedural_batches``: rendered batch by batch from ``(seed, batch index)`` alone.
- ``indexed_batches``: rows of an indexable array (dSprites' memory map, 3D faces, the decoded
  cache of an image folder); an epoch is a seeded permutation of the rows.
- ``file_batches``: image files read and decoded in parallel by TensorFlow; files that fail to
  decode are dropped (``ignore_errors``) and counted at the end of each pass over the files.

All three are deterministic for a seed: parallel stages keep their order (``deterministic=True``).
"""

import numpy as np


def procedural_batches(dataset, batch_size, seed=0):
    """An endless, seed-deterministic ``tf.data.Dataset`` of image batches from a procedural dataset.

    Batch ``i`` depends only on ``(seed, i)``, so batches can be rendered in parallel and a
    rerun with the same seed sees the same images in the same order.
    """
    import tensorflow as tf

    shape = (batch_size,) + tuple(dataset.observation_shape)

    def render(index):
        rs = np.random.RandomState([seed & 0xFFFFFFFF, int(index) & 0xFFFFFFFF])
        return dataset.sample_observations(batch_size, rs).astype(np.float32)

    def render_tf(index):
        images = tf.numpy_function(render, [index], tf.float32, stateful=False)
        return tf.ensure_shape(images, shape)

    return (
        tf.data.Dataset.counter()
        .map(render_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def _epoch_permutation(num_items, seed, epoch):
    """Indices 0..num_items-1 in the order of epoch ``epoch`` (a TF tensor), from (seed, epoch)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(
        tf.range(num_items, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
    )


def indexed_batches(num_items, gather, observation_shape, batch_size, seed=0):
    """Endless batches of ``gather(indices)`` (float32 images) over seeded epoch permutations.

    Each epoch visits every row once; batches run across epoch boundaries, so none is short.
    ``gather`` runs in parallel on TensorFlow's threads, so it must be thread-safe (reads only).
    """
    import tensorflow as tf

    if num_items < 1:
        raise ValueError("the dataset has no images")
    shape = (batch_size,) + tuple(observation_shape)

    def gather_tf(indices):
        images = tf.numpy_function(lambda i: np.asarray(gather(i), np.float32), [indices], tf.float32, stateful=False)
        return tf.ensure_shape(images, shape)

    return (
        tf.data.Dataset.counter()
        .flat_map(lambda epoch: tf.data.Dataset.from_tensor_slices(_epoch_permutation(num_items, seed, epoch)))
        .batch(batch_size, drop_remainder=True)
        .map(gather_tf, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def decoded_images(keys, load, num_parallel_calls=None):
    """``(position, uint8 image)`` for each key that ``load`` decodes; failures are skipped.

    ``load`` maps a string key (a path, or a member of a zip) to a uint8 image tensor of fixed
    shape; ``position`` is the key's index in ``keys``, so callers can tell which were skipped.
    """
    import tensorflow as tf

    keys = list(keys)
    return (
        tf.data.Dataset.from_tensor_slices((tf.range(len(keys), dtype=tf.int64), tf.constant(keys, tf.string)))
        .map(lambda i, key: (i, load(key)), num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
             deterministic=True)
        .ignore_errors()
    )


def file_batches(keys, load, observation_shape, batch_size, seed=0, on_pass_end=None):
    """Endless float32 batches decoded from ``keys``, in a seeded new order every pass.

    Files that fail to decode are skipped, never raised, so training cannot stop half-way
    through an epoch on a corrupt file. After each full pass, ``on_pass_end(num_decoded)`` is
    called on a TensorFlow thread (it tells the dataset how many files were skipped).
    """
    import tensorflow as tf

    keys = tf.constant(list(keys), tf.string)
    num_keys = int(keys.shape[0])
    if num_keys < 1:
        raise ValueError("the dataset has no images")
    image_shape = tuple(observation_shape)
    end_marker = tf.data.Dataset.from_tensors((tf.zeros(image_shape, tf.uint8), tf.constant(False)))

    def one_pass(epoch):
        images = (
            tf.data.Dataset.from_tensor_slices(tf.gather(keys, _epoch_permutation(num_keys, seed, epoch)))
            .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .ignore_errors()
        )
        # A marker after the last image lets the count below see where a pass ends.
        return images.map(lambda image: (image, tf.constant(True))).concatenate(end_marker)

    def count(decoded, element):
        image, real = element
        return tf.where(real, decoded + 1, tf.constant(0, tf.int64)), (image, real, decoded)

    def report(num_decoded):
        if num_decoded == 0:  # otherwise the stream would spin forever without yielding
            raise ValueError(f"none of the {num_keys} image files could be decoded")
        if on_pass_end is not None:
            on_pass_end(int(num_decoded))
        return False

    def keep(image, real, decoded):
        return tf.cond(real, lambda: tf.constant(True),
                       lambda: tf.numpy_function(report, [decoded], tf.bool, stateful=True))

    return (
        tf.data.Dataset.counter()
        .flat_map(one_pass)
        .scan(tf.constant(0, tf.int64), count)
        .filter(keep)
        .map(lambda image, real, decoded: image)
        .batch(batch_size, drop_remainder=True)
        .map(lambda batch: tf.cast(batch, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
