"""nn.utils: gradient clipping, parameters <-> vector, the L1 penalty."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    l1_penalty,
    parameters_to_vector,
    vector_to_parameters,
)


def params_with_grads(*grads) -> list[nn.Parameter]:
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g)))
        p.grad = np.array(g, dtype=np.float64)
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_together():
    params = params_with_grads([3.0, 4.0], [[12.0]])  # joint 2-norm 13
    arrays = [p.grad for p in params]
    total = clip_grad_norm_(params, max_norm=6.5)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.item() == 13.0
    coef = 6.5 / (13.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad, [3.0 * coef, 4.0 * coef], rtol=1e-15)
    np.testing.assert_allclose(params[1].grad, [[12.0 * coef]], rtol=1e-15)
    assert all(p.grad is a for p, a in zip(params, arrays, strict=True))  # in place


def test_clip_grad_norm_below_the_limit_changes_nothing():
    params = params_with_grads([0.3, -0.4])
    assert clip_grad_norm_(params, 1.0).item() == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(params[0].grad, [0.3, -0.4])


@pytest.mark.parametrize(
    ("norm_type", "expected"), [(1, 19.0), (1.0, 19.0), (math.inf, 12.0), ("inf", 12.0)]
)
def test_clip_grad_norm_other_norms(norm_type, expected):
    params = params_with_grads([3.0, -4.0], [[-12.0]])
    total = clip_grad_norm_(params, 2.0, norm_type=norm_type)
    assert total.item() == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(params[1].grad, [[-12.0 * 2.0 / (expected + 1e-6)]], rtol=1e-15)


def test_clip_grad_norm_skips_missing_gradients_and_takes_one_tensor():
    with_grad = params_with_grads([6.0, 8.0])[0]
    without = nn.Parameter(np.ones(3))
    assert clip_grad_norm_([without, with_grad], 5.0).item() == pytest.approx(10.0)
    assert without.grad is None
    np.testing.assert_allclose(with_grad.grad, [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm_(with_grad, 100.0).item() == pytest.approx(5.0, rel=1e-6)
    assert clip_grad_norm_([without], 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite():
    params = params_with_grads([1.0, 2.0], [np.nan, 1.0, np.inf])
    with pytest.raises(RuntimeError) as info:
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    message = str(info.value)
    assert "non-finite" in message and "parameter 1 (shape (3,))" in message
    assert "1 NaN and 1 inf" in message
    np.testing.assert_array_equal(params[0].grad, [1.0, 2.0])  # nothing was clipped
    total = clip_grad_norm_(params, 1.0)  # as PyTorch: the NaN spreads
    assert math.isnan(total.item()) and np.isnan(params[0].grad).all()


def test_clip_grad_value():
    params = params_with_grads([-3.0, 0.5, 2.0])
    array = params[0].grad
    assert clip_grad_value_(params, 1.0) is None
    np.testing.assert_array_equal(params[0].grad, [-1.0, 0.5, 1.0])
    assert params[0].grad is array
    with pytest.raises(ValueError, match="clip_value >= 0"):
        clip_grad_value_(params, -1.0)


def test_parameters_to_vector_and_back():
    model = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.Linear(2, 1, dtype=np.float64))
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (6 + 2 + 2 + 1,)
    np.testing.assert_array_equal(vec.data[:6], model[0].weight.data.ravel())
    np.testing.assert_array_equal(vec.data[-1:], model[1].bias.data)
    arrays = [p.data for p in model.parameters()]
    vector_to_parameters(cr.Tensor(np.arange(11.0)), model.parameters())
    assert all(p.data is a for p, a in zip(model.parameters(), arrays, strict=True))
    np.testing.assert_array_equal(model[0].weight.data, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(model[1].bias.data, [10])
    np.testing.assert_array_equal(parameters_to_vector(model.parameters()).data, np.arange(11.0))


def test_parameters_to_vector_is_differentiable():
    a = nn.Parameter(np.array([[1.0, -2.0]]))
    b = nn.Parameter(np.array([3.0]))
    (parameters_to_vector([a, b]) * cr.tensor([1.0, 2.0, 3.0], dtype=np.float64)).sum().backward()
    np.testing.assert_array_equal(a.grad, [[1.0, 2.0]])
    np.testing.assert_array_equal(b.grad, [3.0])


def test_vector_to_parameters_errors():
    params = [nn.Parameter(np.zeros((2, 2)))]
    with pytest.raises(ValueError, match="vector of 4 elements for 1 parameters, got 5"):
        vector_to_parameters(cr.zeros(5), params)
    with pytest.raises(ValueError, match="1-D vector"):
        vector_to_parameters(cr.zeros(2, 2), params)
    with pytest.raises(TypeError, match="expected a Tensor"):
        vector_to_parameters(np.zeros(4), params)
    with pytest.raises(ValueError, match="at least one parameter"):
        parameters_to_vector([])


def test_l1_penalty_value_and_gradient():
    w = nn.Parameter(np.array([[1.5, -2.0], [0.0, 0.25]]))
    b = nn.Parameter(np.array([-0.5]))
    penalty = l1_penalty([w, b])
    assert penalty.item() == pytest.approx(4.25, rel=1e-15)
    penalty.backward()
    np.testing.assert_array_equal(w.grad, [[1.0, -1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(b.grad, [-1.0])
    model = nn.Linear(2, 2)
    weights_only = l1_penalty(p for n, p in model.named_parameters() if n.endswith("weight"))
    assert weights_only.item() == pytest.approx(np.abs(model.weight.data).sum(), rel=1e-6)
    assert l1_penalty([]).item() == 0.0
