"""TensorFlow backend: GradientTape around the shared keras.ops loss."""

import tensorflow as tf
from keras import ops

from hwkeras.training import (
    build_optimizers,
    has_discriminator,
    split_batch,
    split_trainable_weights,
    with_discriminator_terms,
)


def train_step(model, data):
    x, x_discriminator = split_batch(model, model.images_from_batch(data))
    # In the "vae-first" order the VAE pass only trains the model; D gets its own pass below.
    simultaneous = has_discriminator(model) and x_discriminator is None
    # MirroredStrategy sums replica gradients: each replica contributes 1/num_replicas.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    # Persistent: the simultaneous order takes two gradients from the one forward pass.
    with tf.GradientTape(persistent=simultaneous) as tape:
        terms = model.compute_terms(x, training=True)
        loss = ops.mean(terms["loss"])
        if model.losses:
            loss = loss + ops.sum(model.losses)
        scaled = loss / replicas
        if simultaneous:
            discriminator_loss = ops.mean(terms["discriminator_loss"]) / replicas
    weights, discriminator_weights = split_trainable_weights(model)
    build_optimizers(model)
    grads = tape.gradient(scaled, weights)
    if simultaneous:
        discriminator_grads = tape.gradient(discriminator_loss, discriminator_weights)
        del tape
        model.discriminator_optimizer.apply(discriminator_grads, discriminator_weights)
    model.optimizer.apply(grads, weights)
    if x_discriminator is not None:
        # tf.function orders the reads of the encoder's variables after the assignments above.
        codes = model.discriminator_codes(x_discriminator, training=True)
        with tf.GradientTape() as tape:
            discriminator_terms = model.total_correlation_terms(codes, training=True)
            discriminator_loss = ops.mean(discriminator_terms["discriminator_loss"]) / replicas
        model.discriminator_optimizer.apply(tape.gradient(discriminator_loss, discriminator_weights),
                                            discriminator_weights)
        terms = with_discriminator_terms(terms, discriminator_terms)
    return model.update_trackers(terms)
