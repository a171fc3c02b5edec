"""Activation ops beyond the autodiff core's sigmoid/tanh/relu, each with a closed-form VJP."""

from __future__ import annotations

import math

import numpy as np

from ...autodiff import Tensor
from ...autodiff.ops.torch_math import erf_float64
from ...autodiff.registry import defop

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def _normal_cdf(a: np.ndarray) -> np.ndarray:
    """Φ(a) = ½(1 + erf(a/√2)) in a's floating dtype (0-d inputs included)."""
    dtype = np.result_type(a, np.float32)
    erf = erf_float64(np.asarray(a, dtype=np.float64) / math.sqrt(2.0))
    return (0.5 * (1.0 + erf)).astype(dtype, copy=False)


def stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) on arrays, never overflowing (e^−|z| ≤ 1): the one used by nn's own ops
    (softplus', silu, mish, logsigmoid', BCE with logits)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def softplus_values(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) on arrays as max(z, 0) + log1p(e^−|z|), never overflowing (mish,
    logsigmoid, BCE with logits and pos_weight)."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


@defop("leaky_relu", formula="da = g if a > 0 else g * negative_slope")
def _leaky_relu(a, *, negative_slope):
    return np.where(a > 0, a, a * negative_slope)


@_leaky_relu.defvjp
def _leaky_relu_vjp(g, out, a, *, negative_slope):
    return np.where(a > 0, g, g * negative_slope)


@defop("elu", formula="da = g if a > 0 else g * alpha * exp(a)")
def _elu(a, *, alpha):
    # expm1 only sees the non-positive part, so large inputs cannot overflow.
    return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))


@_elu.defvjp
def _elu_vjp(g, out, a, *, alpha):
    # alpha·eᵃ directly: out + alpha would cancel to zero deep in the negative tail.
    return np.where(a > 0, g, g * alpha * np.exp(np.minimum(a, 0)))


@defop("gelu", formula="da = g * (Φ(a) + a φ(a))   (tanh form: its exact derivative)")
def _gelu(a, *, approximate):
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (a + _GELU_CUBIC * a**3)
        return 0.5 * a * (1 + np.tanh(inner))
    return a * _normal_cdf(a)


@_gelu.defvjp
def _gelu_vjp(g, out, a, *, approximate):
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (a + _GELU_CUBIC * a**3))
        slope = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * a * a)
        return g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * slope)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * a * a)
    return g * (_normal_cdf(a) + a * pdf)


@defop("softplus", formula="da = g * σ(beta·a)  (g above the threshold)")
def _softplus(a, *, beta, threshold):
    z = beta * a
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow. Above the threshold
    # PyTorch returns the input itself; so do we, to match it bit for bit.
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, a, smooth)


@_softplus.defvjp
def _softplus_vjp(g, out, a, *, beta, threshold):
    z = beta * a
    return np.where(z > threshold, g, g * stable_sigmoid(z))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """max(0, x) + negative_slope · min(0, x)."""
    return _leaky_relu(input, negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha · (eˣ − 1) otherwise."""
    return _elu(input, alpha=alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """x · Φ(x) (``approximate='tanh'`` for the tanh approximation)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu expected approximate='none' or 'tanh', got {approximate!r}")
    return _gelu(input, approximate=approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e^(beta·x)) / beta, linear above ``threshold`` (as PyTorch)."""
    return _softplus(input, beta=beta, threshold=threshold)
