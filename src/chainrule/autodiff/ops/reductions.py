"""Reductions (sum, mean, max, min, var) and the axis-wise softmax family."""

from __future__ import annotations

import math

import numpy as np

from ..registry import defop

_add_reduce = np.add.reduce


def _count(shape: tuple, axis) -> int:
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[i] for i in axes)


def _expand(g: np.ndarray, a: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back the reduced axes as size-1 dims."""
    if keepdims or axis is None:
        return g if keepdims else g.reshape((1,) * a.ndim)
    return np.expand_dims(g, axis)


# Up to this many elements a broadcast gradient is written out in full: cheaper than
# np.broadcast_to's fixed cost (several µs); above it the read-only view saves memory.
SPREAD_COPY_MAX = 4096


def _spread(g: np.ndarray, shape: tuple) -> np.ndarray:
    """``g`` (already of ``shape``'s rank, size-1 where reduced) broadcast to ``shape``."""
    if math.prod(shape) <= SPREAD_COPY_MAX:
        full = np.empty(shape, g.dtype)
        full[...] = g
        return full
    return np.broadcast_to(g, shape)


@defop("sum", formula="da = g broadcast over the summed axes")
def sum(a, *, axis=None, keepdims=False):
    if a.__class__ is np.ndarray:  # ndarray.sum's own reduction, without its Python layers
        return _add_reduce(a, axis, None, None, keepdims)
    return np.sum(a, axis=axis, keepdims=keepdims)


@sum.defvjp
def _sum_vjp(g, out, a, *, axis=None, keepdims=False):
    if axis is None and not keepdims and a.size <= SPREAD_COPY_MAX:
        # A loss's sum: its one value everywhere, without reshaping it first.
        full = np.empty(a.shape, g.dtype)
        full.fill(g)
        return full
    return _spread(_expand(g, a, axis, keepdims), a.shape)


@defop("mean", promote="float", formula="da = g / n broadcast over the averaged axes")
def mean(a, *, axis=None, keepdims=False):
    if _count(a.shape, axis) == 0:  # PyTorch: the mean of nothing is NaN, without a warning
        with np.errstate(invalid="ignore"):
            return np.sum(a, axis=axis, keepdims=keepdims) / a.dtype.type(0)
    return np.mean(a, axis=axis, keepdims=keepdims)


@mean.defvjp
def _mean_vjp(g, out, a, *, axis=None, keepdims=False):
    count = _count(a.shape, axis)
    # An empty slice has no elements to send a gradient to; any scale will do.
    scale = 1.0 / count if count else 0.0
    return _spread(_expand(g, a, axis, keepdims) * scale, a.shape)


def _extreme_vjp(g, out, a, *, axis=None, keepdims=False):
    # The VJP of max and of min: ties share the gradient equally (torch.amax's subgradient).
    hit = a == _expand(out, a, axis, keepdims)
    share = _expand(g, a, axis, keepdims) / np.sum(hit, axis=axis, keepdims=True)
    return share * hit


@defop("max", formula="da = g at the maximum (shared among ties), 0 elsewhere")
def max(a, *, axis=None, keepdims=False):
    return np.max(a, axis=axis, keepdims=keepdims)


max.defvjp(_extreme_vjp)


@defop("min", formula="da = g at the minimum (shared among ties), 0 elsewhere")
def min(a, *, axis=None, keepdims=False):
    return np.min(a, axis=axis, keepdims=keepdims)


min.defvjp(_extreme_vjp)


@defop("var", promote="float", formula="da = g * 2 (a − mean) / (n − correction)")
def var(a, *, axis=None, correction=1, keepdims=False):
    return np.var(a, axis=axis, ddof=correction, keepdims=keepdims)


@var.defvjp
def _var_vjp(g, out, a, *, axis=None, correction=1, keepdims=False):
    centered = a - np.mean(a, axis=axis, keepdims=True)
    dof = _count(a.shape, axis) - correction
    scale = 2.0 / dof if dof > 0 else np.nan  # as the forward: no degrees of freedom, NaN
    return _expand(g, a, axis, keepdims) * centered * scale


@defop("softmax", promote="float", formula="da = s * (g − Σ g·s)")
def softmax(a, *, axis=-1):
    # Subtracting the max leaves softmax unchanged and keeps exp() from overflowing;
    # initial=-inf lets an empty tensor through (its softmax is empty, as in PyTorch).
    e = np.exp(a - np.max(a, axis=axis, keepdims=True, initial=-np.inf))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


@softmax.defvjp
def _softmax_vjp(g, out, a, *, axis=-1):
    return out * (g - np.sum(g * out, axis=axis, keepdims=True))


@defop("log_softmax", promote="float", formula="da = g − softmax(a) · Σ g")
def log_softmax(a, *, axis=-1):
    shifted = a - np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@log_softmax.defvjp
def _log_softmax_vjp(g, out, a, *, axis=-1):
    return g - np.exp(out) * np.sum(g, axis=axis, keepdims=True)


@defop("logsumexp", promote="float", formula="da = g * softmax(a)")
def logsumexp(a, *, axis=None, keepdims=False):
    peak = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    peak = np.where(np.isfinite(peak), peak, 0)  # an all -inf slice stays -inf, not NaN
    with np.errstate(divide="ignore"):  # log 0 = -inf: an empty or all -inf slice
        out = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


@logsumexp.defvjp
def _logsumexp_vjp(g, out, a, *, axis=None, keepdims=False):
    return _expand(g, a, axis, keepdims) * np.exp(a - _expand(out, a, axis, keepdims))
