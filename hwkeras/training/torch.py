"""PyTorch backend: autograd around the shared keras.ops loss, updates under no_grad."""

import torch
from keras import ops

from hwkeras.training import (
    build_optimizers,
    has_discriminator,
    split_batch,
    split_trainable_weights,
    with_discriminator_terms,
)


def _grads(loss, variables, retain_graph=False):
    # autograd.grad, not loss.backward(): backward would accumulate both losses' gradients in
    # every weight's .grad (the discriminator loss reaches the encoder through the real codes),
    # whereas each optimizer must see only its own loss, as from TF's tape.gradient.
    grads = torch.autograd.grad(loss, [v.value for v in variables], retain_graph=retain_graph,
                                allow_unused=True)
    return list(grads)


def train_step(model, data):
    x, x_discriminator = split_batch(model, model.images_from_batch(data))
    simultaneous = has_discriminator(model) and x_discriminator is None
    terms = model.compute_terms(x, training=True)
    loss = ops.mean(terms["loss"])
    if model.losses:
        loss = loss + ops.sum(model.losses)
    weights, discriminator_weights = split_trainable_weights(model)
    build_optimizers(model)
    grads = _grads(loss, weights, retain_graph=simultaneous)
    if simultaneous:
        discriminator_grads = _grads(ops.mean(terms["discriminator_loss"]), discriminator_weights)
    with torch.no_grad():
        if simultaneous:
            model.discriminator_optimizer.apply(discriminator_grads, discriminator_weights)
        model.optimizer.apply(grads, weights)
        if x_discriminator is not None:
            # The updated encoder's codes: data for D, so no graph is recorded through the encoder.
            codes = model.discriminator_codes(x_discriminator, training=True)
    if x_discriminator is not None:
        discriminator_terms = model.total_correlation_terms(codes, training=True)
        discriminator_grads = _grads(ops.mean(discriminator_terms["discriminator_loss"]), discriminator_weights)
        with torch.no_grad():
            model.discriminator_optimizer.apply(discriminator_grads, discriminator_weights)
        terms = with_discriminator_terms(terms, discriminator_terms)
    with torch.no_grad():
        return model.update_trackers(terms)
