"""tf.data pipelines that stream batches of images to ``model.fit``."""

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
