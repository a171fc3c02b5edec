"""Regression tests for edge cases where the engine followed NumPy instead of PyTorch.

Found by running tinygrad's and micrograd's test suites through a renaming shim; each
expected value is what PyTorch returns for the same call.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

nan, inf = float("nan"), float("inf")


@pytest.fixture
def float64_default():
    cr.set_default_dtype(np.float64)
    yield
    cr.set_default_dtype(np.float32)


def _grads(out, *leaves):
    out.sum().backward()
    return [leaf.grad for leaf in leaves]


# -- pow at zero ----------------------------------------------------------------------
def test_pow_zero_exponent_has_zero_gradient_at_zero():
    x = cr.tensor([0.0, 2.0, -3.0], requires_grad=True)
    y = x**0
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])
    (grad,) = _grads(y, x)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])  # was NaN at 0 (0 * 0 ** -1)


def test_pow_tensor_exponent_gradients_at_zero_base():
    x = cr.tensor([0.0, 0.0, 0.0, 2.0, -2.0], dtype=np.float64, requires_grad=True)
    y = cr.tensor([-1.0, 0.0, 2.0, 3.0, 2.0], dtype=np.float64, requires_grad=True)
    out = x**y
    np.testing.assert_array_equal(out.data, [inf, 1.0, 0.0, 8.0, 4.0])
    gx, gy = _grads(out, x, y)
    # d/dx = y x^(y-1), 0 where y == 0;  d/dy = x^y ln x, 0 where x == 0 and y >= 0.
    np.testing.assert_array_equal(gx, [-inf, 0.0, 0.0, 12.0, -4.0])
    np.testing.assert_allclose(gy, [-inf, 0.0, 0.0, 8.0 * np.log(2.0), nan], rtol=1e-15)


def test_python_zero_base_to_a_tensor_exponent():
    y = cr.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    out = 0.0**y
    np.testing.assert_array_equal(out.data, [inf, 1.0, 0.0])
    (gy,) = _grads(out, y)
    np.testing.assert_array_equal(gy, [-inf, 0.0, 0.0])  # was NaN at -1


def test_pow_gradcheck_still_passes_away_from_the_edges():
    x = cr.tensor([[0.5, 1.5], [2.0, 3.0]], dtype=np.float64, requires_grad=True)
    y = cr.tensor([[-1.5, 0.0], [2.0, 0.5]], dtype=np.float64, requires_grad=True)
    assert cr.gradcheck(lambda a, b: (a**b).sum(), (x, y))
    assert cr.gradcheck(lambda a: (a**0).sum() + (a**-2).sum(), (x,))


def test_integer_to_negative_integer_power_names_the_problem():
    with pytest.raises(ValueError, match="integers to negative integer powers are not allowed"):
        cr.tensor([-2, 0, 2]) ** -2
    with pytest.raises(ValueError, match="negative integer powers"):
        cr.tensor([2, 3]) ** cr.tensor([1, -1])
    np.testing.assert_array_equal((cr.tensor([-2, 1, 2]) ** 2).data, [4, 1, 4])


def test_pow_broadcast_error_is_still_a_broadcast_error():
    with pytest.raises(ValueError, match="cannot broadcast shapes"):
        cr.ones(2, 3) ** cr.ones(4)


# -- 0-d tensors and dim 0 / -1 ---------------------------------------------------------
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_reductions_of_a_0d_tensor_accept_dim_0_and_minus_1(name, dim):
    x = cr.tensor(3.0, requires_grad=True)
    out = getattr(x, name)(dim)
    assert out.shape == ()
    assert out.item() == 3.0
    out.backward()
    assert x.grad.shape == () and x.grad.item() == 1.0


def test_0d_softmax_squeeze_unsqueeze():
    x = cr.tensor(3.0, requires_grad=True)
    assert x.softmax(0).item() == 1.0
    assert x.log_softmax(-1).item() == 0.0
    assert cr.tensor(3.0).squeeze(0).shape == ()
    assert cr.tensor(3.0).squeeze(-1).item() == 3.0
    assert x.unsqueeze(0).shape == (1,) and x.unsqueeze(-1).shape == (1,)
    assert x.sum(0, keepdim=True).shape == ()
    assert x.argmax(0).item() == 0
    with pytest.raises(IndexError, match=r"expected to be in range of \[-1, 0\], but got 1"):
        x.sum(1)


# -- empty tensors -----------------------------------------------------------------------
def test_mean_over_an_empty_dim_is_nan_and_backward_works():
    x = cr.zeros(2, 0, 3, requires_grad=True)
    m = x.mean(1)
    assert m.shape == (2, 3) and m.dtype == np.float32
    assert np.isnan(m.data).all()
    m.sum().backward()
    assert x.grad.shape == (2, 0, 3) and x.grad.dtype == np.float32


def test_max_of_an_empty_dim_raises_like_torch_amax():
    with pytest.raises(IndexError, match="Expected reduction dim 1 to have non-zero size"):
        cr.zeros(2, 0).max(1)
    assert cr.zeros(2, 0).max(0).shape == (0,)


# -- indexing: integers are applied before index arrays --------------------------------------
def test_int_and_index_array_follow_pytorch():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x[0, :, [0, 1]]
    assert y.shape == (3, 2)  # NumPy's rule would give (2, 3)
    np.testing.assert_array_equal(y.data, [[0.0, 1.0], [4.0, 5.0], [8.0, 9.0]])
    (y * cr.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[0, :, :2] = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(x.grad, expected)


def test_int_index_with_repeated_array_entries_adds_up():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x[1, ..., [3, 3]]
    assert y.shape == (3, 2)
    y.sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[1, :, 3] = 2.0
    np.testing.assert_array_equal(x.grad, expected)


# -- type promotion ----------------------------------------------------------------------
def test_float_tensor_times_int_tensor_keeps_the_float_dtype():
    out = cr.ones(2) * cr.tensor([1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [1.0, 2.0])


def test_int_tensor_with_python_float_takes_the_default_dtype(float64_default):
    assert (cr.tensor([1, 2]) + 0.5).dtype == np.float64
    cr.set_default_dtype(np.float32)
    out = cr.tensor([1, 2]) + 0.5
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [1.5, 2.5])


def test_unary_float_functions_of_int_tensors_take_the_default_dtype():
    for name in ["exp", "log", "sqrt", "sin", "cos", "sigmoid", "tanh"]:
        assert getattr(cr.tensor([1, 2]), name)().dtype == np.float32, name
    np.testing.assert_array_equal((cr.tensor([1, 4]) / cr.tensor([2, 2])).data, [0.5, 2.0])
    assert (cr.tensor([1, 4]) / cr.tensor([2, 2])).dtype == np.float32


def test_full_takes_the_fill_values_dtype():
    assert cr.full((2,), 4).dtype == np.int64
    assert cr.full((2,), 4.0).dtype == np.float32
    assert cr.full((2,), True).dtype == np.bool_
    assert cr.full((2,), 4, dtype=np.float64).dtype == np.float64


def test_python_scalars_do_not_upcast_a_float32_tensor():
    x = cr.ones(2)
    assert (x * 2.5).dtype == np.float32
    assert (x * np.float64(2.5)).dtype == np.float32  # NumPy scalars count as Python numbers
    assert (x + cr.tensor(np.float64(1.0))).dtype == np.float32  # so do 0-d tensors


def test_mixed_float_gradients_come_back_in_each_leafs_dtype():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], dtype=np.float64, requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    ga, gb = _grads(out, a, b)
    assert ga.dtype == np.float32 and gb.dtype == np.float64
    np.testing.assert_array_equal(ga, [3.0, 4.0])
    np.testing.assert_array_equal(gb, [1.0, 2.0])


# -- dims out of range ---------------------------------------------------------------------
def test_stack_names_the_dim_range():
    with pytest.raises(
        IndexError,
        match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 77\)",
    ):
        cr.stack([cr.ones(3)], dim=77)
