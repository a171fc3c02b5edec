"""Arithmetic ops: + - * / ** unary minus, and matrix products."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..registry import defop


def _broadcast_error(name: str, a: ArrayLike, b: ArrayLike) -> ValueError:
    return ValueError(
        f"{name}: cannot broadcast shapes {np.shape(a)} and {np.shape(b)} "
        "(trailing dimensions must be equal or 1)"
    )


@defop("add", promote="common", formula="da = g;  db = g")
def add(a, b):
    try:
        return a + b
    except ValueError:
        raise _broadcast_error("add", a, b) from None


@add.defvjp
def _add_vjp(g, out, a, b):
    return g, g


@defop("sub", promote="common", formula="da = g;  db = -g")
def sub(a, b):
    try:
        return a - b
    except ValueError:
        raise _broadcast_error("sub", a, b) from None


@sub.defvjp
def _sub_vjp(g, out, a, b):
    return g, -g


@defop("mul", promote="common", formula="da = g * b;  db = g * a")
def mul(a, b):
    try:
        return a * b
    except ValueError:
        raise _broadcast_error("mul", a, b) from None


@mul.defvjp
def _mul_vjp(g, out, a, b, *, needs=(0, 1)):
    return (g * b if 0 in needs else None), (g * a if 1 in needs else None)


@defop("div", promote="float", formula="da = g / b;  db = -g * a / b²")
def div(a, b):
    try:
        return a / b
    except ValueError:
        raise _broadcast_error("div", a, b) from None


@div.defvjp
def _div_vjp(g, out, a, b):
    ga = g / b
    return ga, -ga * out


@defop("neg", formula="da = -g")
def neg(a):
    return -a


@neg.defvjp
def _neg_vjp(g, out, a):
    return -g


@defop(
    "pow", promote="common", formula="da = g * b * a^(b-1) (0 where b = 0);  db = g * a^b * ln(a)"
)
def pow(a, b):
    try:
        if _plain_power(b, 0):  # nothing to silence: skip the cost of errstate
            return a**b
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 is inf, as in PyTorch
            return a**b
    except ValueError:
        if np.result_type(a).kind in "biu" and np.any(np.asarray(b) < 0):
            raise ValueError(
                f"pow: integers to negative integer powers are not allowed (base dtype "
                f"{np.result_type(a)}, exponent {_describe(b)}); make the base a float "
                "tensor first, e.g. x.float() ** -2"
            ) from None
        raise _broadcast_error("pow", a, b) from None


def _describe(value) -> str:
    if np.ndim(value) == 0:
        return repr(value.item() if hasattr(value, "item") else value)
    return f"an array of shape {np.shape(value)}"


def _plain_power(b, least) -> bool:
    """Whether ``b`` is a Python integer power ≥ ``least``: x ** b then never divides by
    zero nor takes a root of a negative number, so NumPy has no warning to give."""
    cls = b.__class__
    return (cls is int or (cls is float and b.is_integer())) and b >= least


@pow.defvjp
def _pow_vjp(g, out, a, b, *, needs=(0, 1)):
    if b.__class__ is int and b == 2:  # x ** 2, the square of every loss: no call first
        return (g + g) * a, None
    if _plain_power(b, 1):
        # The common x ** 2: a constant integer power (a number, so no gradient of its
        # own), b ≠ 0 so no mask, b − 1 ≥ 0 so nothing for errstate to silence.
        if b == 2:  # g + g is g * 2 exactly (doubling only moves the exponent)
            return (g + g) * a, None
        return g * b * a ** (b - 1), None
    # The masked terms below may divide by zero or take log of 0; their values are unused.
    with np.errstate(divide="ignore", invalid="ignore"):
        ga = gb = None
        if 0 in needs:
            # b * a^(b-1) is 0 * inf = NaN at a = 0, b = 0; PyTorch defines it as 0
            # (x ** 0 is constant), and so do we.
            ga = np.where(b == 0, 0.0, g * b * a ** (b - 1)).astype(g.dtype, copy=False)
        if 1 in needs and isinstance(b, np.ndarray):
            # d(a^b)/db = a^b ln a; PyTorch sets it to 0 where a == 0 and b >= 0 (the
            # limit from above), and leaves a^b ln a elsewhere: -inf at a = 0, b < 0,
            # NaN for a < 0.
            gb = np.where((a == 0) & (b >= 0), 0.0, g * out * np.log(a)).astype(g.dtype, copy=False)
        return ga, gb


@defop("matmul", promote="common", formula="dA = g @ Bᵀ;  dB = Aᵀ @ g")
def matmul(a, b):
    try:
        return a @ b
    except ValueError:
        if np.ndim(a) == 0 or np.ndim(b) == 0:  # checked only on failure: NumPy refuses too
            raise ValueError(
                f"matmul expected operands with at least 1 dimension, got shapes "
                f"{np.shape(a)} and {np.shape(b)}; use * for scalars"
            ) from None
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] == inner_b:  # the matrices fit: the batch dimensions do not
            raise ValueError(
                f"matmul: cannot broadcast the batch dimensions {a.shape[:-2]} and "
                f"{b.shape[:-2]}, got shapes {a.shape} and {b.shape}"
            ) from None
        raise ValueError(
            f"matmul expected the last dimension of the first operand ({a.shape[-1]}) to "
            f"equal the {'first' if b.ndim == 1 else 'second-to-last'} dimension of the second "
            f"({inner_b}), got shapes {a.shape} and {b.shape}"
        ) from None


def _matmul_direct(a, b):
    """``np.matmul(a, b)``, as ``ndarray.dot`` for two matrices: the same BLAS call
    (the same bits, checked for every shape up to 128 in both float dtypes) at a
    fraction of the fixed cost, which is most of a small model's product."""
    if a.ndim == 2 and b.ndim == 2:
        return a.dot(b)
    return np.matmul(a, b)


@matmul.defvjp
def _matmul_vjp(g, out, a, b, *, needs=(0, 1)):
    if a.ndim == 2 and b.ndim == 2:  # ndarray.dot: see _matmul_direct
        return (g.dot(b.T) if 0 in needs else None), (a.T.dot(g) if 1 in needs else None)
    if a.ndim == 1 and b.ndim == 1:  # inner product
        return g * b, g * a
    if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n): treat a as a row vector
        da = (g[..., None, :] @ np.swapaxes(b, -1, -2))[..., 0, :]
        db = a[:, None] * g[..., None, :]
        return da, db
    if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m): treat b as a column vector
        da = g[..., :, None] * b
        db = (np.swapaxes(a, -1, -2) @ g[..., :, None])[..., 0]
        return da, db
    # Batched: the engine sums over broadcast batch dimensions.
    return g @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ g


# Each forward above is one NumPy function with an error message added on failure:
# ``Op.__call__`` calls the function itself (``a + b`` is ``np.add(a, b)``, also with a
# Python number on either side) and the forward only for its message.
add.direct = np.add
sub.direct = np.subtract
mul.direct = np.multiply
div.direct = np.true_divide
matmul.direct = _matmul_direct  # a NumPy method call, see there
