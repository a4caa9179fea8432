"""hwkeras.runs.checkpoints.non_finite_weights: a single NaN or inf element anywhere in a trainable
weight is found (by the weight's path), and RunGuard.save then writes no checkpoint."""

import os

import keras
import numpy as np
import pytest

from hwkeras.runs import checkpoints, layout
from hwkeras.runs.guard import NonFiniteWeights, RunGuard


def tiny_model():
    """Two Dense layers (kernels 3 x 4 and 4 x 2, biases), built: a few finite weights."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="first"),
                              keras.layers.Dense(2, name="second")], name="tiny")
    for i, weight in enumerate(model.trainable_variables):
        weight.assign(np.linspace(-1.0, 1.0, int(np.prod(weight.shape)), dtype="float32")
                      .reshape(weight.shape) + i)
    return model


def set_element(weight, index, value):
    values = keras.ops.convert_to_numpy(weight).copy()
    values[index] = value
    weight.assign(values)


def test_all_finite_weights_give_no_paths():
    assert checkpoints.non_finite_weights(tiny_model()) == []


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_non_finite_element_of_one_kernel_is_reported_by_path(value):
    model = tiny_model()
    kernel = model.get_layer("second").kernel
    set_element(kernel, (2, 1), value)  # 1 of the 8 elements; the other 7 and all other weights finite
    assert int(np.sum(~np.isfinite(keras.ops.convert_to_numpy(kernel)))) == 1
    assert checkpoints.non_finite_weights(model) == [kernel.path]
    # Two weights with one bad element each: both paths, in the model's order.
    bias = model.get_layer("first").bias
    set_element(bias, 0, value)
    assert checkpoints.non_finite_weights(model) == [bias.path, kernel.path]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_run_guard_writes_no_checkpoint_with_one_non_finite_weight(tmp_path, value):
    model = tiny_model()
    guard = RunGuard(str(tmp_path), every_n_steps=1, initial_step=4)
    guard.set_model(model)
    kernel = model.get_layer("first").kernel
    set_element(kernel, (0, 3), value)
    with pytest.raises(NonFiniteWeights, match=f"the weights are NaN or inf after step 4 \\(e.g. {kernel.path}\\)"):
        guard.save()
    assert guard.last_saved == 4  # the initial step: nothing new saved
    directory = tmp_path / layout.CHECKPOINTS
    assert not directory.exists() or os.listdir(directory) == []
