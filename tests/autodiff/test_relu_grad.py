"""ReLU's VJP: the branch-free form for large arrays gives np.where's bits exactly."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff.ops.elementwise import relu_grad


def _reference(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.where(a <= 0, 0, g)


def _same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3,), (64, 64), (256, 1024), (8, 3, 20, 20)])
def test_relu_grad_is_np_where_bit_for_bit(dtype, shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    if a.size >= 6:
        # A NaN input passes its gradient on; inf/NaN gradients are dropped where a <= 0;
        # a negative gradient dropped must leave +0.0, not -0.0.
        a.reshape(-1)[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0]
        g.reshape(-1)[:6] = [1.5, np.inf, np.nan, -2.0, -np.inf, -0.0]
    assert _same_bits(relu_grad(g, a), _reference(g, a))


def test_relu_grad_on_strided_and_broadcast_gradients():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((128, 256))
    g_strided = rng.standard_normal((256, 128)).T  # not C-contiguous
    g_broadcast = np.broadcast_to(rng.standard_normal(256), (128, 256))  # stride 0
    for g in (g_strided, g_broadcast):
        assert _same_bits(relu_grad(g, a), _reference(g, a))


def test_relu_backward_through_the_engine_uses_it():
    rng = np.random.default_rng(2)
    a = cr.tensor(rng.standard_normal((100, 100)), requires_grad=True)
    upstream = rng.standard_normal((100, 100))
    (cr.relu(a) * cr.tensor(upstream)).sum().backward()
    assert _same_bits(a.grad, _reference(upstream, a.data))
    assert 0 < np.count_nonzero(a.grad) < a.grad.size
