"""JAX backend: a stateless step around the shared keras.ops loss.

Keras's JAX trainer jit-compiles ``train_step(state, data)`` with ``state = (trainable,
non_trainable, optimizer, metrics)`` variable *values* and expects ``(logs, new_state)``; the
keras.Variables themselves only get the values back at the end of an epoch (``jax_state_sync``).
So every read and write of a variable here goes through a ``keras.StatelessScope`` mapping the
variables to the values of ``state``, and the new values are read back from the scope: this is
how the seed generator (a non-trainable variable) advances from one step to the next.

The adversarial models' ``discriminator_optimizer`` is not part of the trainer's state; those
models list its variables among their non-trainable variables on JAX (see
``AdversarialTCModel.non_trainable_variables``), so its slots and iterations travel in
``non_trainable`` and are synced back with the rest.
"""

import jax
import keras
from keras import ops

from hwkeras.training import has_discriminator, split_batch, split_trainable_weights, with_discriminator_terms


def _current(scope, variables):
    return [scope.get_current_value(v) for v in variables]


def _forward(model, x, trainable, non_trainable, training):
    """(terms, model-loss extras, new non-trainable values) of one pass at the given values."""
    with keras.StatelessScope(state_mapping=_mapping(model, trainable, non_trainable), collect_losses=True) as scope:
        terms = model.compute_terms(x, training=training)
    extra = ops.sum(ops.stack(scope.losses)) if scope.losses else 0.0
    return terms, extra, _current(scope, model.non_trainable_variables)


def _trackers(model, terms, metric_values):
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metric_values))) as scope:
        logs = model.update_trackers(terms)
    return logs, _current(scope, model.metrics_variables)


def train_step(model, state, data):
    trainable, non_trainable, optimizer_values, metric_values = state
    x, x_discriminator = split_batch(model, model.images_from_batch(data))
    simultaneous = has_discriminator(model) and x_discriminator is None

    def losses(trainable_values):
        terms, extra, new_non_trainable = _forward(model, x, trainable_values, non_trainable, True)
        loss = ops.mean(terms["loss"]) + extra
        discriminator_loss = ops.mean(terms["discriminator_loss"]) if simultaneous else ops.zeros(())
        return (loss, discriminator_loss), (terms, new_non_trainable)

    # vjp rather than value_and_grad: the simultaneous order needs two gradients (the loss over
    # the model's weights, the discriminator loss over D's) from the one forward pass, as TF's
    # persistent tape gives them; each cotangent picks one of the two losses.
    _, pullback, (terms, non_trainable) = jax.vjp(losses, trainable, has_aux=True)
    one, zero = ops.ones(()), ops.zeros(())
    (grads,) = pullback((one, zero))

    weights, discriminator_weights = split_trainable_weights(model)
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    with keras.StatelessScope(state_mapping=_mapping(model, trainable, non_trainable, optimizer_values)) as scope:
        # optimizer.apply on an explicit subset, not stateless_apply (which wants a gradient for
        # every weight it was built on): the model's optimizer must leave D's weights and slots
        # exactly as they are, as on TensorFlow.
        if simultaneous:
            (discriminator_grads,) = pullback((zero, one))
            model.discriminator_optimizer.apply(
                [discriminator_grads[position[id(v)]] for v in discriminator_weights], discriminator_weights)
        model.optimizer.apply([grads[position[id(v)]] for v in weights], weights)
    trainable, non_trainable, optimizer_values = (
        _current(scope, model.trainable_variables), _current(scope, model.non_trainable_variables),
        _current(scope, model.optimizer.variables))
    if x_discriminator is not None:
        trainable, non_trainable, discriminator_terms = _discriminator_step(
            model, x_discriminator, trainable, non_trainable, discriminator_weights)
        terms = with_discriminator_terms(terms, discriminator_terms)
    logs, metric_values = _trackers(model, terms, metric_values)
    return logs, (trainable, non_trainable, optimizer_values, metric_values)


def _mapping(model, trainable, non_trainable, optimizer_values=None):
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    if optimizer_values is not None:
        mapping += list(zip(model.optimizer.variables, optimizer_values))
    return mapping


def _discriminator_step(model, x, trainable, non_trainable, discriminator_weights):
    """The "vae-first" order's second phase: D's step on codes of ``x`` from the updated encoder.

    ``trainable`` holds the values after the VAE step. The codes are data for D, computed once
    outside the gradient; only D's values are differentiated. D's optimizer state travels in
    ``non_trainable`` (see the module docstring).
    """
    with keras.StatelessScope(state_mapping=_mapping(model, trainable, non_trainable)) as scope:
        codes = model.discriminator_codes(x, training=True)
    non_trainable = _current(scope, model.non_trainable_variables)
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    positions = [position[id(v)] for v in discriminator_weights]

    def discriminator_loss(discriminator_values):
        values = list(trainable)
        for i, value in zip(positions, discriminator_values):
            values[i] = value
        with keras.StatelessScope(state_mapping=_mapping(model, values, non_trainable)) as scope:
            terms = model.total_correlation_terms(codes, training=True)
        return ops.mean(terms["discriminator_loss"]), (terms, _current(scope, model.non_trainable_variables))

    (_, (terms, non_trainable)), grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        [trainable[i] for i in positions])
    with keras.StatelessScope(state_mapping=_mapping(model, trainable, non_trainable)) as scope:
        model.discriminator_optimizer.apply(grads, discriminator_weights)
    return _current(scope, model.trainable_variables), _current(scope, model.non_trainable_variables), terms


def test_step(model, state, data):
    trainable, non_trainable, metric_values = state
    terms, _, non_trainable = _forward(model, model.images_from_batch(data), trainable, non_trainable, False)
    logs, metric_values = _trackers(model, terms, metric_values)
    return logs, (trainable, non_trainable, metric_values)
