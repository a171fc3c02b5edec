"""More activations (SiLU, Mish, SELU, CELU, hard ones, log-sigmoid, PReLU), each an op
with a closed-form VJP; PyTorch's names, arguments and results."""

from __future__ import annotations

import numpy as np

from ...autodiff import Tensor
from ...autodiff.functions import softmax
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of
from .activations import softplus_values, stable_sigmoid
from .normalization import _per_channel

# SELU's constants as PyTorch has them (Klambauer et al., 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@defop("silu", formula="da = g · σ(a)(1 + a(1 − σ(a)))")
def _silu(a):
    return a * stable_sigmoid(a)


@_silu.defvjp
def _silu_vjp(g, out, a):
    s = stable_sigmoid(a)
    return g * s * (1 + a * (1 - s))


@defop("mish", formula="da = g · (tanh(sp) + a σ(a)(1 − tanh²(sp))),  sp = softplus(a)")
def _mish(a):
    return a * np.tanh(softplus_values(a))


@_mish.defvjp
def _mish_vjp(g, out, a):
    t = np.tanh(softplus_values(a))
    return g * (t + a * stable_sigmoid(a) * (1 - t * t))


@defop("celu", formula="da = scale·g if a > 0 else scale·g·alpha·rate·exp(rate·a)")
def _celu(a, *, alpha, scale, rate):
    # scale·(a, or alpha·(e^(rate·a) − 1)): CELU has rate 1/alpha, SELU rate 1 and its scale.
    # expm1 only sees the non-positive part: no overflow for large inputs.
    return scale * np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0) * rate))


@_celu.defvjp
def _celu_vjp(g, out, a, *, alpha, scale, rate):
    return scale * np.where(a > 0, g, g * (alpha * rate) * np.exp(np.minimum(a, 0) * rate))


@defop("hardtanh", formula="da = g if min_val < a < max_val else 0")
def _hardtanh(a, *, min_val, max_val):
    return np.clip(a, min_val, max_val)


@_hardtanh.defvjp
def _hardtanh_vjp(g, out, a, *, min_val, max_val):
    return np.where((a > min_val) & (a < max_val), g, 0)


@defop("hardsigmoid", formula="da = g/6 if −3 < a < 3 else 0")
def _hardsigmoid(a):
    return np.clip(a / 6 + 0.5, 0, 1)


@_hardsigmoid.defvjp
def _hardsigmoid_vjp(g, out, a):
    return np.where((a > -3) & (a < 3), g / 6, 0)


@defop("hardswish", formula="da = g · (2a + 3)/6 on (−3, 3), g above 3, 0 below −3")
def _hardswish(a):
    return a * np.clip(a + 3, 0, 6) / 6


@_hardswish.defvjp
def _hardswish_vjp(g, out, a):
    # PyTorch's convention at the kinks: slope 0 at −3, 1 at +3 (its backward formula).
    inner = g * (2 * a + 3) / 6
    return np.where(a < -3, 0, np.where(a <= 3, inner, g))


@defop("logsigmoid", formula="da = g · σ(−a)")
def _logsigmoid(a):
    return -softplus_values(-a)


@_logsigmoid.defvjp
def _logsigmoid_vjp(g, out, a):
    return g * stable_sigmoid(-a)


def _slopes(weight: np.ndarray, ndim: int) -> np.ndarray:
    """PReLU's weight shaped to broadcast over an input (N, C, *) of ``ndim`` dimensions:
    one slope, or one per channel (``prelu`` checked there are C, so ``ndim >= 2``)."""
    return weight.reshape(()) if weight.size == 1 else _per_channel(weight, ndim)


@defop("prelu", formula="da = g if a > 0 else g·w;  dw = Σ g·a over a ≤ 0")
def _prelu(a, weight):
    return np.where(a > 0, a, a * _slopes(weight, a.ndim))


@_prelu.defvjp
def _prelu_vjp(g, out, a, weight):
    grad_a = np.where(a > 0, g, g * _slopes(weight, a.ndim))
    negative = np.where(a > 0, 0, g * a)
    if weight.size == 1:
        grad_w = negative.sum().reshape(weight.shape)
    else:
        axes = (0, *range(2, a.ndim))
        grad_w = negative.sum(axis=axes).reshape(weight.shape)
    return grad_a, grad_w


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x · σ(x) (also called swish)."""
    return _silu(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · tanh(softplus(x))."""
    return _mish(input)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale · (x for x > 0, alpha · (eˣ − 1) otherwise), PyTorch's fixed constants."""
    return _celu(input, alpha=SELU_ALPHA, scale=SELU_SCALE, rate=1.0)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha · (e^(x/alpha) − 1) otherwise."""
    if alpha == 0:
        raise ValueError("celu expected alpha != 0, got 0")
    return _celu(input, alpha=float(alpha), scale=1.0, rate=1.0 / float(alpha))


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clipped to [min_val, max_val]."""
    if min_val > max_val:
        raise ValueError(f"hardtanh expected min_val <= max_val, got {min_val} > {max_val}")
    return _hardtanh(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6)."""
    return _hardtanh(input, min_val=0.0, max_val=6.0)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """clip(x/6 + 1/2, 0, 1)."""
    return _hardsigmoid(input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x · clip(x + 3, 0, 6) / 6."""
    return _hardswish(input)


def logsigmoid(input: Tensor) -> Tensor:
    """log σ(x) = −softplus(−x), stable for any x."""
    return _logsigmoid(input)


def softmin(input: Tensor, dim: int | None = None) -> Tensor:
    """softmax(−x) along ``dim`` (None: the last dimension)."""
    return softmax(-input, dim=-1 if dim is None else dim)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """max(0, x) + weight · min(0, x); weight (1,) or (C,) for input (N, C, *)."""
    shape, w_shape = shape_of(input), shape_of(weight)
    size = int(np.prod(w_shape))
    channels = shape[1] if len(shape) >= 2 else 1
    if size != 1 and size != channels:
        raise ValueError(
            f"prelu expected weight of 1 or {channels} elements for input {tuple(shape)}, "
            f"got shape {tuple(w_shape)}"
        )
    return _prelu(input, weight)
