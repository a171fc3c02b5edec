"""Elementwise math: exp, log, trigonometry, the classic activations, and selection.

Activations are single ops with closed-form VJPs written in terms of their own
output (σ' = σ(1−σ), tanh' = 1 − tanh²): faster than chains of exp/add/div, and
what ``explain`` shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import Op, defop, defufunc

# Ops whose forward is one NumPy ufunc and whose VJP is one expression.
exp = defufunc("exp", np.exp, lambda g, out, a: g * out, "da = g * exp(a)")
log = defufunc("log", np.log, lambda g, out, a: g / a, "da = g / a")
log1p = defufunc("log1p", np.log1p, lambda g, out, a: g / (1 + a), "da = g / (1 + a)")
sqrt = defufunc("sqrt", np.sqrt, lambda g, out, a: g / (2 * out), "da = g / (2 sqrt(a))")
abs = defufunc("abs", np.abs, lambda g, out, a: g * np.sign(a), "da = g * sign(a)", promote=None)
sin = defufunc("sin", np.sin, lambda g, out, a: g * np.cos(a), "da = g * cos(a)")
cos = defufunc("cos", np.cos, lambda g, out, a: -g * np.sin(a), "da = -g * sin(a)")


@defop("sigmoid", promote="float", formula="da = g * σ(a)(1 − σ(a))")
def sigmoid(a):
    # σ(a) = exp(−log(1 + e^−a)) and logaddexp(0, −a) = log(1 + e^−a) never
    # overflows: no branches, exact limits 0 and 1, four ufunc calls, one array.
    t = np.negative(a)
    if t.__class__ is not np.ndarray:  # a 0-d input gives a NumPy scalar: no out=
        return np.exp(np.negative(np.logaddexp(0.0, t)))
    np.logaddexp(0.0, t, out=t)
    np.negative(t, out=t)
    return np.exp(t, out=t)


@sigmoid.defvjp
def _sigmoid_vjp(g, out, a):
    t = g * out
    t *= 1.0 - out  # (g·σ)·(1−σ), the same rounding as g * out * (1.0 - out)
    return t


@defop("tanh", promote="float", formula="da = g * (1 − tanh²(a))")
def tanh(a):
    return np.tanh(a)


@tanh.defvjp
def _tanh_vjp(g, out, a):
    t = 1.0 - out * out
    t *= g  # g·(1 − tanh²): a product rounds the same in either order
    return t


@defop("relu", formula="da = g * [a > 0]")
def relu(a):
    return np.maximum(a, 0)


# Below this many elements np.where is as fast. Above it, np.where on a mask that follows
# the data mispredicts a branch per element (≈ 1 ms for 256×1024 here), while clearing
# the dropped elements' bits with one AND is branch-free (≈ 0.12 ms): same bits.
_BITMASK_MIN_SIZE = 4096
_SAME_WIDTH_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def relu_grad(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """ReLU's VJP, bit for bit ``np.where(a <= 0, 0, g)``: ``g`` where ``a > 0`` or ``a``
    is NaN (PyTorch's threshold_backward passes it on), ``+0.0`` elsewhere, even where
    ``g`` is inf or NaN. ``g`` and ``a`` have one shape (N, ...)."""
    dropped = a <= 0
    as_int = _SAME_WIDTH_INT.get(g.dtype.itemsize) if isinstance(g, np.ndarray) else None
    if as_int is None or g.dtype.kind != "f" or g.size < _BITMASK_MIN_SIZE:
        return np.where(dropped, 0, g)
    if g.shape != dropped.shape:
        return np.where(dropped, 0, g)
    bits = dropped.view(np.uint8).astype(as_int)  # 1 where dropped, 0 where kept
    bits -= 1  # 0 where dropped, all bits set where kept
    return np.bitwise_and(g.view(as_int), bits).view(g.dtype)


@relu.defvjp
def _relu_vjp(g, out, a):
    return relu_grad(g, a)


def _extremum(name: str, ufunc: Any, wins: Any, formula: str) -> Op:
    """``maximum`` or ``minimum``: ``wins(a, b)`` (``>=`` or ``<=``) says where ``a``'s
    value is taken."""

    def vjp(g, out, a, b):
        share = np.where(a == b, 0.5, 1.0)  # ties share the gradient equally, as PyTorch does
        return g * share * wins(a, b), g * share * wins(b, a)

    return defufunc(name, ufunc, vjp, formula, promote="common")


maximum = _extremum(
    "maximum", np.maximum, np.greater_equal, "da = g * [a > b] (half at ties);  db = g * [b > a]"
)
minimum = _extremum(
    "minimum", np.minimum, np.less_equal, "da = g * [a < b] (half at ties);  db = g * [b < a]"
)


@defop("clip", formula="da = g * [min <= a <= max]")
def clip(a, *, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip/clamp expected at least one of min or max, got neither")
    return np.clip(a, min, max)


@clip.defvjp
def _clip_vjp(g, out, a, *, min=None, max=None):
    inside = np.ones(a.shape, dtype=bool)
    if min is not None:
        inside &= a >= min
    if max is not None:
        inside &= a <= max
    return g * inside


@defop("where", promote="common", promote_from=1, formula="da = g * [cond];  db = g * [not cond]")
def where(condition, a, b):
    return np.where(condition, a, b)


@where.defvjp
def _where_vjp(g, out, condition, a, b):
    zero = np.zeros((), dtype=g.dtype)
    return None, np.where(condition, g, zero), np.where(condition, zero, g)


@defop("cast", formula="da = g (cast back to a's dtype)")
def cast(a, *, dtype):
    return np.asarray(a).astype(dtype)


@cast.defvjp
def _cast_vjp(g, out, a, *, dtype):
    return g
