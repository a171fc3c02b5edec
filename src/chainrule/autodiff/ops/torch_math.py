"""PyTorch's further elementwise math: trigonometry, erf, logs in other bases, rounding,
integer division and remainder, and ``logaddexp``.

Rounding ops (sign, floor, ceil, round, trunc, rounded division) are piecewise constant:
their gradient is zero almost everywhere, and zero is what PyTorch gives, so they are ops
with a zero VJP rather than an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..registry import Op, defop, defufunc

# math.erf is exact to double precision; NumPy has no erf and SciPy is not a dependency.
_erf = np.frompyfunc(math.erf, 1, 1)


def erf_float64(a: np.ndarray) -> np.ndarray:
    """erf of each element (by ``math.erf``), as a float64 array."""
    return np.asarray(_erf(np.asarray(a, dtype=np.float64)), dtype=np.float64)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


tan = defufunc("tan", np.tan, lambda g, out, a: g * (1 + out * out), "da = g * (1 + tan²(a))")
asin = defufunc(
    "asin", np.arcsin, lambda g, out, a: g / np.sqrt(1 - a * a), "da = g / sqrt(1 − a²)"
)
acos = defufunc(
    "acos", np.arccos, lambda g, out, a: -g / np.sqrt(1 - a * a), "da = −g / sqrt(1 − a²)"
)
atan = defufunc("atan", np.arctan, lambda g, out, a: g / (1 + a * a), "da = g / (1 + a²)")


@defop("erf", promote="float", formula="da = g * 2/√π exp(−a²)")
def erf(a):
    return erf_float64(a).astype(a.dtype, copy=False)


@erf.defvjp
def _erf_vjp(g, out, a):
    return g * (_TWO_OVER_SQRT_PI * np.exp(-a * a))


def _log_base(base: int, log: Callable[..., np.ndarray]) -> Op:
    """The op ``log<base>`` (``log`` is NumPy's): d/da log_b(a) = 1 / (a ln b)."""
    ln_base = math.log(float(base))

    def forward(a):
        return log(a)

    def vjp(g, out, a):
        return g / (a * ln_base)

    forward.__name__ = forward.__qualname__ = f"log{base}"
    op = defop(f"log{base}", promote="float", formula=f"da = g / (a ln {base})")(forward)
    op.defvjp(vjp)
    return op


log2 = _log_base(2, np.log2)
log10 = _log_base(10, np.log10)


@defop("rsqrt", promote="float", formula="da = −g / (2 a^{3/2})")
def rsqrt(a):
    with np.errstate(divide="ignore"):  # rsqrt(0) = inf, as in PyTorch
        return 1 / np.sqrt(a)


@rsqrt.defvjp
def _rsqrt_vjp(g, out, a):
    return -0.5 * g * out * out * out


@defop("logaddexp", promote="float", formula="da = g * e^(a − out);  db = g * e^(b − out)")
def logaddexp(a, b):
    return np.logaddexp(a, b)


@logaddexp.defvjp
def _logaddexp_vjp(g, out, a, b):
    # e^(a − out) is a's share of the sum: in [0, 1], never overflows.
    return g * np.exp(a - out), g * np.exp(b - out)


def _zero(g, a):
    return np.zeros(np.shape(a), dtype=g.dtype)


def _zero_vjp(g, out, a, **options):
    return _zero(g, a)


def piecewise_constant(name: str) -> Callable[[Callable[..., np.ndarray]], Op]:
    """Register ``forward`` as the op ``name`` whose gradient is zero: a step function
    (sign, floor, ...) has derivative 0 almost everywhere, and PyTorch gives 0."""

    def register(forward: Callable[..., np.ndarray]) -> Op:
        op = defop(name, formula="da = 0 (piecewise constant)")(forward)
        op.defvjp(_zero_vjp)
        return op

    return register


@piecewise_constant("sign")
def sign(a):
    return np.sign(a)


def _keep_integers(fn):
    # Rounding an integer tensor returns it unchanged, in its own dtype (PyTorch).
    def forward(a):
        return a.copy() if a.dtype.kind in "biu" else fn(a)

    forward.__name__ = forward.__qualname__ = fn.__name__
    return forward


floor = piecewise_constant("floor")(_keep_integers(np.floor))
ceil = piecewise_constant("ceil")(_keep_integers(np.ceil))
trunc = piecewise_constant("trunc")(_keep_integers(np.trunc))


@piecewise_constant("round")
def round(a, *, decimals=0):
    # np.round rounds half to even, like torch.round.
    if a.dtype.kind in "biu":
        return a.copy()
    return np.round(a, decimals)


def _trunc_divide(a, b):
    if a.dtype.kind in "biu":
        quotient = np.floor_divide(a, b)
        # floor and trunc differ when the signs differ and the division is inexact.
        inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
        return quotient + inexact.astype(quotient.dtype)
    return np.trunc(np.true_divide(a, b))


@defop("div_rounded", promote="common", formula="da = 0;  db = 0 (piecewise constant)")
def div_rounded(a, b, *, rounding_mode):
    """``a / b`` rounded toward zero (``'trunc'``) or down (``'floor'``, which is ``//``)."""
    if rounding_mode == "floor":
        return np.floor_divide(a, b)
    if rounding_mode == "trunc":
        return _trunc_divide(a, b)
    raise ValueError(f"div expected rounding_mode None, 'trunc' or 'floor', got {rounding_mode!r}")


@div_rounded.defvjp
def _div_rounded_vjp(g, out, a, b, *, rounding_mode):
    return _zero(g, a), _zero(g, b)


@defop("remainder", promote="common", formula="da = g;  db = −g * floor(a / b)")
def remainder(a, b):
    """Python's ``%`` (the result has the divisor's sign), as ``torch.remainder``."""
    return np.remainder(a, b)


@remainder.defvjp
def _remainder_vjp(g, out, a, b):
    return g, -g * np.floor_divide(a, b)
