"""The affine layer as one op: y = x Wᵀ + b."""

from __future__ import annotations

import numpy as np

from ...autodiff.registry import defop


def _check_shapes(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> None:
    if weight.ndim != 2:
        raise ValueError(f"linear expected weight (out_features, in_features), got {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear expected input (..., {weight.shape[1]}), got shape {x.shape}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear expected bias ({weight.shape[0]},), got shape {bias.shape}")


@defop("linear", formula="dx = g W;  dW = gᵀ x;  db = Σ_batch g")
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Shapes: input (..., in_features), weight (out_features, in_features),
    bias (out_features,) -> (..., out_features).
    """
    # Validation lives in the forward, which already holds the arrays: F.linear is
    # the op itself, with no wrapper call on the hot path of every layer.
    x = input if input.__class__ is np.ndarray else np.asarray(input)
    weight = np.asarray(weight)
    if bias is not None:
        bias = np.asarray(bias)
    if weight.ndim != 2 or x.ndim != 2 or x.shape[1] != weight.shape[1]:
        _check_shapes(x, weight, bias)
        out = x @ weight.T
    else:
        # ndarray.dot has less per-call overhead than @ for 2-D operands (same BLAS call).
        out = x.dot(weight.T)
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            _check_shapes(x, weight, bias)
        out += bias
    return out


_ONES: dict[tuple, np.ndarray] = {}


def _batch_sum(g: np.ndarray) -> np.ndarray:
    """Σ over the rows of a 2-D gradient, as a BLAS matrix-vector product.

    ones @ g runs several times faster than g.sum(0) for the narrow matrices of
    small networks, and the bias gradient of every layer needs it.
    """
    key = (g.shape[0], g.dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = _ONES[key] = np.ones(g.shape[0], dtype=g.dtype)
    return ones.dot(g)


@linear.defvjp
def _linear_vjp(g, out, input, weight, bias=None, *, needs=(0, 1, 2)):
    # A network's first layer needs no input gradient: skipping it saves a matrix product.
    grad_x = grad_w = grad_b = None
    if input.ndim == 2:
        if 0 in needs:
            grad_x = g.dot(weight)
        if 1 in needs:
            grad_w = g.T.dot(input)
        if bias is not None and 2 in needs:
            grad_b = _batch_sum(g)
    else:  # any leading batch shape: fold it into one axis
        g2 = g.reshape(-1, g.shape[-1])
        if 0 in needs:
            grad_x = g @ weight
        if 1 in needs:
            grad_w = g2.T.dot(np.reshape(input, (-1, input.shape[-1])))
        if bias is not None and 2 in needs:
            grad_b = _batch_sum(g2)
    return grad_x, grad_w, grad_b
