"""TensorFlow backend: GradientTape around the shared keras.ops loss."""

import tensorflow as tf
from keras import ops


def train_step(model, data):
    x = model.images_from_batch(data)
    with tf.GradientTape() as tape:
        terms = model.compute_terms(x, training=True)
        loss = ops.mean(terms["loss"])
        if model.losses:
            loss = loss + ops.sum(model.losses)
        # MirroredStrategy sums replica gradients: each replica contributes 1/num_replicas.
        scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
    weights = model.trainable_weights
    grads = tape.gradient(scaled, weights)
    model.optimizer.apply(grads, weights)
    return model.update_trackers(terms)
