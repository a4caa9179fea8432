"""TensorFlow backend: GradientTape around the shared keras.ops loss."""

import tensorflow as tf
from keras import ops

from hwkeras.training import build_optimizers, has_discriminator, split_trainable_weights


def train_step(model, data):
    x = model.images_from_batch(data)
    adversarial = has_discriminator(model)
    # MirroredStrategy sums replica gradients: each replica contributes 1/num_replicas.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    # Persistent: the adversarial models take two gradients from the one forward pass.
    with tf.GradientTape(persistent=adversarial) as tape:
        terms = model.compute_terms(x, training=True)
        loss = ops.mean(terms["loss"])
        if model.losses:
            loss = loss + ops.sum(model.losses)
        scaled = loss / replicas
        if adversarial:
            discriminator_loss = ops.mean(terms["discriminator_loss"]) / replicas
    weights, discriminator_weights = split_trainable_weights(model)
    build_optimizers(model)
    grads = tape.gradient(scaled, weights)
    if adversarial:
        discriminator_grads = tape.gradient(discriminator_loss, discriminator_weights)
        del tape
        model.discriminator_optimizer.apply(discriminator_grads, discriminator_weights)
    model.optimizer.apply(grads, weights)
    return model.update_trackers(terms)
