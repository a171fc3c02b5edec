"""The affine layer as one op: y = x Wᵀ + b."""

from __future__ import annotations

from ...autodiff import Tensor
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of


@defop("linear", formula="dx = g W;  dW = gᵀ x;  db = Σ_batch g")
def _linear(x, weight, bias):
    # ndarray.dot has less per-call overhead than @ for 2-D operands (same BLAS call).
    out = x.dot(weight.T) if x.ndim == 2 else x @ weight.T
    if bias is not None:
        out += bias
    return out


@_linear.defvjp
def _linear_vjp(g, out, x, weight, bias):
    if x.ndim == 2:
        grad_x = g.dot(weight)
        grad_w = g.T.dot(x)
        grad_b = None if bias is None else g.sum(0)
    else:  # any leading batch shape: fold it into one axis
        grad_x = g @ weight
        g2 = g.reshape(-1, g.shape[-1])
        grad_w = g2.T.dot(x.reshape(-1, x.shape[-1]))
        grad_b = None if bias is None else g2.sum(0)
    return grad_x, grad_w, grad_b


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``.

    Shapes: input (..., in_features), weight (out_features, in_features),
    bias (out_features,) -> (..., out_features).
    """
    w_shape = shape_of(weight)
    x_shape = shape_of(input)
    if len(w_shape) != 2:
        raise ValueError(f"linear expected weight (out_features, in_features), got shape {w_shape}")
    if not x_shape or x_shape[-1] != w_shape[1]:
        raise ValueError(f"linear expected input (..., {w_shape[1]}), got shape {x_shape}")
    if bias is not None and shape_of(bias) != (w_shape[0],):
        raise ValueError(f"linear expected bias ({w_shape[0]},), got shape {shape_of(bias)}")
    return _linear(input, weight, bias)
