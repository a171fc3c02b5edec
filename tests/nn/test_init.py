"""nn.init: gains, fans, and the distributions' bounds and spreads against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn import init
from chainrule.nn.init import _calculate_fan_in_and_fan_out

SHAPE = (300, 500)  # fan_out 300, fan_in 500: 150,000 samples
FAN_IN, FAN_OUT = 500, 300


def weight(shape=SHAPE, dtype=np.float64) -> cr.Tensor:
    return nn.Parameter(np.full(shape, np.nan, dtype=dtype))


def check_uniform(values: np.ndarray, bound: float) -> None:
    assert np.all(np.abs(values) <= bound)
    assert np.abs(values).max() > 0.999 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(values.mean()) < 0.01 * bound


def check_normal(values: np.ndarray, std: float, mean: float = 0.0) -> None:
    assert abs(values.std() - std) < 0.01 * std
    assert abs(values.mean() - mean) < 0.01 * std + 1e-12
    # Normal, not uniform: about 4.55% of samples lie beyond two standard deviations.
    assert abs(np.mean(np.abs(values - mean) > 2 * std) - 0.0455) < 0.003


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans_follow_pytorch():
    assert _calculate_fan_in_and_fan_out(np.zeros((3, 5))) == (5, 3)
    assert _calculate_fan_in_and_fan_out(cr.zeros(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(cr.zeros(5))


def test_xavier_uniform_bound():
    w = weight()
    assert init.xavier_uniform_(w, gain=2.0, generator=0) is w
    check_uniform(w.data, 2.0 * math.sqrt(6.0 / (FAN_IN + FAN_OUT)))


def test_xavier_normal_std():
    w = init.xavier_normal_(weight(), generator=1)
    check_normal(w.data, math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


@pytest.mark.parametrize(
    ("a", "mode", "nonlinearity", "fan"),
    [
        (0, "fan_in", "leaky_relu", FAN_IN),
        (0, "fan_out", "relu", FAN_OUT),
        (math.sqrt(5), "fan_in", "leaky_relu", FAN_IN),
        (0, "fan_in", "tanh", FAN_IN),
    ],
)
def test_kaiming_uniform_bound(a, mode, nonlinearity, fan):
    w = init.kaiming_uniform_(weight(), a=a, mode=mode, nonlinearity=nonlinearity, generator=2)
    gain = init.calculate_gain(nonlinearity, a)
    check_uniform(w.data, gain * math.sqrt(3.0 / fan))


@pytest.mark.parametrize(("mode", "fan"), [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming_normal_std(mode, fan):
    w = init.kaiming_normal_(weight(), mode=mode, nonlinearity="relu", generator=3)
    check_normal(w.data, math.sqrt(2.0 / fan))
    with pytest.raises(ValueError, match="'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal_(weight(), mode="fan_avg")


def test_uniform_and_normal_and_constants():
    w = init.uniform_(weight(), -0.5, 2.0, generator=4)
    assert w.data.min() >= -0.5 and w.data.max() < 2.0
    assert abs(w.data.mean() - 0.75) < 0.01
    check_normal(init.normal_(weight(), mean=3.0, std=0.5, generator=5).data, 0.5, mean=3.0)
    assert np.all(init.zeros_(weight()).data == 0)
    assert np.all(init.ones_(weight()).data == 1)
    assert np.all(init.constant_(weight((2, 3)), 0.25).data == 0.25)
    counts = cr.Tensor(np.ones(3, dtype=np.int64))
    assert np.all(init.zeros_(counts).data == 0)  # constants work on any dtype


def test_init_is_in_place_reproducible_and_keeps_dtype():
    w = weight((4, 6), dtype=np.float32)
    array = w.data
    init.kaiming_uniform_(w, generator=9)
    assert w.data is array and w.dtype == np.float32
    again = init.kaiming_uniform_(weight((4, 6), dtype=np.float32), generator=9)
    np.testing.assert_array_equal(again.data, array)
    rng = np.random.default_rng(9)
    same = init.kaiming_uniform_(weight((4, 6), dtype=np.float32), generator=rng)
    np.testing.assert_array_equal(same.data, array)
    plain = np.zeros((2, 3))
    assert init.normal_(plain, generator=0) is plain and plain.std() > 0


def test_random_init_rejects_integer_tensors_and_bad_generators():
    with pytest.raises(TypeError, match="floating-point tensor, got dtype int64"):
        init.normal_(cr.Tensor(np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(TypeError, match="generator expected"):
        init.uniform_(weight((2, 2)), generator="seed")


def test_zero_sized_kaiming_is_a_no_op():
    w = weight((0, 3))
    assert init.kaiming_uniform_(w) is w
