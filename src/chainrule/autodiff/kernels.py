"""Per-op kernels for ``cr.compile``: an op's forward and VJP written out as code.

The generic replay calls an op's forward and VJP functions; for the everyday ops the
generated step instead writes their NumPy expressions out inline (``v3 = v1 + v2``,
``G4 = G5 * v5 * (1.0 - v5)``), which saves a Python call, the tuple a VJP returns
and the gradients nothing needs. Each kernel repeats its op's arithmetic operation
for operation, in the same order, so the values are the same bits; the compiler
checks that on the traced call and falls back to the generic call on any mismatch.

Kernels compute on :class:`Val` objects: the expression text of a value together
with the value it has on the traced call. A value that depends only on Python
numbers and the loss's seed is a constant: it is computed once, at trace time (the
same operations on the same operands give the same bits), and the replay reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .ops.elementwise import relu_grad
from .ops.reductions import _count, _spread

__all__ = ["FORWARD", "VJP", "Val", "Values", "same_bits"]

_NAME = re.compile(r"[A-Za-z_]\w*\Z")

# The NumPy functions kernels call, under the names the generated code uses.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_exp": np.exp,
    "_neg": np.negative,
    "_logaddexp": np.logaddexp,
    "_tanh": np.tanh,
    "_maximum": np.maximum,
    "_relu_grad": relu_grad,
    "_mean": np.mean,
    "_spread": _spread,
    "_expand_dims": np.expand_dims,
    "_asarray": np.asarray,
    "_log": np.log,
    "_multiply": np.multiply,
    "_matmul": np.matmul,
}


class Values:
    """Makes :class:`Val` objects and keeps the constants they fold into."""

    def __init__(self, const: Callable[[Any, str], str], emit: Callable[[str], None]) -> None:
        self._const = const  # registers a value in the generated code's namespace
        self._emit = emit
        self._temps = 0
        self._held: list[str] | None = None
        self.record = -1  # the index of the record a kernel is written for
        self.saved: dict[int, dict[str, Val]] = {}  # a forward's values its VJP reuses

    def hold(self) -> None:
        """Keep the statements kernels emit until :meth:`release` (or :meth:`drop`)."""
        self._held = []

    def release(self) -> None:
        held, self._held = self._held or [], None
        for line in held:
            self._emit(line)

    def drop(self) -> None:
        self._held = None

    def emit(self, line: str) -> None:
        if self._held is None:
            self._emit(line)
        else:
            self._held.append(line)

    def temp(self) -> str:
        self._temps += 1
        return f"t{self._temps}"

    def constant(self, value: Any, prefix: str = "K") -> Val:
        """A value made at trace time that nothing writes into (``arange``, ones)."""
        return Val(self, self._const(value, prefix), value, True)

    def of(self, expr: str, value: Any, const: bool = False) -> Val:
        return Val(self, expr, value, const)

    def number(self, value: int | float) -> Val:
        return Val(self, repr(value), value, True)

    def make(self, expr: str, value: Any, const: bool, out: str | None) -> Val:
        if const:  # computed now, read by the replay
            return Val(self, self._const(value, "K"), value, True)
        return Val(self, expr, value, False, out)

    def call(self, name: str, *args: Any, out_ok: bool = False, **kwargs: Any) -> Val:
        """``name(*args, **kwargs)`` for a function of :data:`FUNCTIONS`."""
        fn = FUNCTIONS[name]
        texts = [_text(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        value = fn(*(_value(a) for a in args), **kwargs)
        const = all(_const(a) for a in args)
        expr = f"{name}({', '.join(texts)})"
        return self.make(expr, value, const, expr[:-1] if out_ok else None)

    def bind(self, val: Val, name: str | None = None) -> Val:
        """Give a computed expression a name, so that using it twice computes it once."""
        if val.const or _NAME.match(val.expr):
            return val
        if name is None:
            name = self.temp()
        self.emit(f"{name} = {val.expr}")
        return Val(self, name, val.value, False)


def _text(x: Any) -> str:
    return x.expr if isinstance(x, Val) else repr(x)


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Val) else x


def _const(x: Any) -> bool:
    return x.const if isinstance(x, Val) else True


class Val:
    """An expression of the generated code and its value on the traced call.

    ``out``, where the last operation is a ufunc or product that takes ``out=``, is
    its call without the closing parenthesis: :meth:`into` writes it into a buffer.
    """

    __slots__ = ("const", "expr", "out", "value", "values")

    def __init__(self, values, expr, value, const=False, out=None) -> None:
        self.values, self.expr, self.value, self.const, self.out = values, expr, value, const, out

    def _binary(self, other: Any, symbol: str, fn: Callable, swap: bool = False) -> Val:
        a, b = (other, self) if swap else (self, other)
        value = fn(_value(a), _value(b))
        expr = f"({_text(a)} {symbol} {_text(b)})"
        ufunc = _UFUNCS.get(symbol)
        out = None
        if ufunc is not None:
            out = f"{ufunc}({_text(a)}, {_text(b)}"
        return self.values.make(expr, value, _const(a) and _const(b), out)

    def into(self, name: str) -> str:
        """The statement that computes this value straight into the array ``name``."""
        return f"{self.out}, out={name})"

    def __add__(self, o):
        return self._binary(o, "+", lambda a, b: a + b)

    def __radd__(self, o):
        return self._binary(o, "+", lambda a, b: a + b, True)

    def __sub__(self, o):
        return self._binary(o, "-", lambda a, b: a - b)

    def __rsub__(self, o):
        return self._binary(o, "-", lambda a, b: a - b, True)

    def __mul__(self, o):
        return self._binary(o, "*", lambda a, b: a * b)

    def __rmul__(self, o):
        return self._binary(o, "*", lambda a, b: a * b, True)

    def __truediv__(self, o):
        return self._binary(o, "/", lambda a, b: a / b)

    def __pow__(self, o):
        return self._binary(o, "**", lambda a, b: a**b)

    def __matmul__(self, o):
        return self._binary(o, "@", lambda a, b: a @ b)

    def __le__(self, o):
        return self._binary(o, "<=", lambda a, b: a <= b)

    def __neg__(self):
        return self.values.make(f"(-{self.expr})", -self.value, self.const, None)

    def __getitem__(self, key: tuple) -> Val:
        """Basic indexing by a tuple of full slices, None and integers."""
        text = ", ".join(":" if k == slice(None) else repr(k) for k in key)
        return self.values.make(f"{self.expr}[{text}]", self.value[key], self.const, None)

    @property
    def T(self) -> Val:  # numpy's name
        return self.values.make(f"{self.expr}.T", self.value.T, self.const, None)

    def method(self, name: str, *args: Any, out_ok: bool = False, **kwargs: Any) -> Val:
        texts = [_text(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        value = getattr(self.value, name)(*(_value(a) for a in args), **kwargs)
        expr = f"{self.expr}.{name}({', '.join(texts)})"
        const = self.const and all(_const(a) for a in args)
        return self.values.make(expr, value, const, expr[:-1] if out_ok and texts else None)


_UFUNCS = {"+": "_add", "-": "_subtract", "*": "_multiply", "/": "_divide", "@": "_matmul"}
FUNCTIONS.update({"_add": np.add, "_subtract": np.subtract, "_divide": np.divide})


def same_bits(a: Any, b: Any) -> bool:
    """Whether two results are the same array: class, dtype, shape and every bit."""
    if a is None or b is None:
        return a is b
    if a.__class__ is not b.__class__:
        return False
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.tobytes() == b.tobytes()


def _plain_power(b: Any, least: int) -> bool:
    cls = b.__class__
    return (cls is int or (cls is float and b.is_integer())) and b >= least


# -- forwards: the op's own NumPy calls --------------------------------------------------
def _f_matmul(V, a, b, **kw):
    return None if kw or np.ndim(a.value) == 0 or np.ndim(b.value) == 0 else a @ b


def _f_pow(V, a, b, **kw):
    if kw or not (b.const and _plain_power(b.value, 0)):
        return None
    return a**b


def _f_sum(V, a, axis=None, keepdims=False):
    if a.value.__class__ is not np.ndarray:
        return None
    if axis is None and not keepdims:  # the defaults: no keywords to parse per call
        return a.method("sum")
    return a.method("sum", axis=axis, keepdims=keepdims)


def _f_mean(V, a, axis=None, keepdims=False):
    if _count(a.value.shape, axis) == 0:
        return None
    return V.call("_mean", a, axis=axis, keepdims=keepdims)


def _f_sigmoid(V, a):
    # ops/elementwise.py's sigmoid: exp(-logaddexp(0, -a))
    return V.call("_exp", V.call("_neg", V.call("_logaddexp", 0.0, V.call("_neg", a))), out_ok=True)


def _plain_cross_entropy(x, weight, kw) -> bool:
    return (
        kw.get("plain") is True
        and kw.get("reduction") in ("mean", "sum")
        and weight.value is None
        and np.ndim(x.value) == 2
    )


def _f_cross_entropy(V, x, target, weight, **kw):
    """losses.py's plain cross-entropy, keeping exp(shifted) and its row sums for the VJP."""
    if not _plain_cross_entropy(x, weight, kw):
        return None
    n = len(x.value)
    rows = V.constant(np.arange(n), "rows")
    shifted = V.bind(x - x.method("max", axis=1, keepdims=True))
    exps = V.bind(V.call("_exp", shifted))
    sums = V.bind(exps.method("sum", axis=1))
    picked = V.of(
        f"{shifted.expr}[{rows.expr}, {target.expr}]", shifted.value[rows.value, target.value]
    )
    losses = V.bind(V.call("_log", sums) - picked)
    total = losses.method("sum")
    V.saved[V.record] = {"exps": exps, "sums": sums, "rows": rows}
    return total if kw["reduction"] == "sum" else total / V.number(n)


FORWARD: dict[str, Callable[..., Val | None]] = {
    "add": lambda V, a, b, **kw: None if kw else a + b,
    "sub": lambda V, a, b, **kw: None if kw else a - b,
    "mul": lambda V, a, b, **kw: None if kw else a * b,
    "div": lambda V, a, b, **kw: None if kw else a / b,
    "neg": lambda V, a, **kw: None if kw else -a,
    "pow": _f_pow,
    "matmul": _f_matmul,
    "sum": _f_sum,
    "mean": _f_mean,
    "sigmoid": _f_sigmoid,
    "tanh": lambda V, a: V.call("_tanh", a, out_ok=True),
    "relu": lambda V, a: V.call("_maximum", a, 0, out_ok=True),
    "cross_entropy": _f_cross_entropy,
}


# -- VJPs: {position: gradient} for the positions in ``needs`` ----------------------------
def _v_mul(V, g, out, a, b, needs):
    return {0: g * b if 0 in needs else None, 1: g * a if 1 in needs else None}


def _v_div(V, g, out, a, b, needs):
    ga = V.bind(g / b)
    return {0: ga, 1: (-ga) * out if 1 in needs else None}


def _v_pow(V, g, out, a, b, needs):
    if not (b.const and _plain_power(b.value, 1)) or 1 in needs:
        return None
    return {0: g * b * (a if b.value == 2 else a ** V.number(b.value - 1))}


_COL = (slice(None), None)  # [:, None]
_FIRST = (slice(None), 0)  # [:, 0]


def _v_matmul(V, g, out, a, b, needs):
    na, nb = np.ndim(a.value), np.ndim(b.value)
    if na == 2 and nb == 2:
        return {
            0: V.call("_matmul", g, b.T, out_ok=True) if 0 in needs else None,
            1: V.call("_matmul", a.T, g, out_ok=True) if 1 in needs else None,
        }
    if na == 2 and nb == 1 and np.ndim(g.value) == 1:  # (m, k) @ (k,): the engine's forms
        column = V.bind(g[_COL]) if len(needs) == 2 else g[_COL]  # one view for both
        return {
            0: V.call("_multiply", column, b, out_ok=True) if 0 in needs else None,
            1: V.call("_matmul", a.T, column)[_FIRST] if 1 in needs else None,
        }
    return None


def _expand_val(g, a, axis, keepdims):
    """reductions._expand, written out: the reduced axes back as size-1 dims."""
    if keepdims:
        return g
    if axis is None:
        return g.method("reshape", (1,) * np.ndim(a.value))
    return g.values.call("_expand_dims", g, axis)


def _v_sum(V, g, out, a, *, needs, axis=None, keepdims=False):
    return {0: V.call("_spread", _expand_val(g, a, axis, keepdims), a.value.shape)}


def _v_mean(V, g, out, a, *, needs, axis=None, keepdims=False):
    count = _count(a.value.shape, axis)
    scale = 1.0 / count if count else 0.0
    expanded = _expand_val(g, a, axis, keepdims) * V.number(scale)
    return {0: V.call("_spread", expanded, a.value.shape)}


def _v_cross_entropy(V, g, out, x, target, weight, *, needs, **kw):
    """p − onehot(t), scaled, reusing the forward's exp(shifted) in place (it is unused
    after the loss): exp(x − max) is the bits the VJP's own recomputation gives."""
    saved = V.saved.get(V.record)
    if saved is None or needs != (0,) or not _plain_cross_entropy(x, weight, kw):
        return None
    exps, sums, rows = saved["exps"], saved["sums"], saved["rows"]
    scale = g / V.number(len(x.value)) if kw["reduction"] == "mean" else g
    p = exps.value.copy()
    p /= sums.value[:, None]
    p[rows.value, target.value] -= 1
    p *= scale.value
    V.emit(f"{exps.expr} /= {sums.expr}[:, None]")
    V.emit(f"{exps.expr}[{rows.expr}, {target.expr}] -= 1")
    V.emit(f"{exps.expr} *= {scale.expr}")
    return {0: V.of(exps.expr, p)}


VJP: dict[str, Callable[..., dict[int, Val | None] | None]] = {
    "add": lambda V, g, out, a, b, needs: {0: g, 1: g},
    "sub": lambda V, g, out, a, b, needs: {0: g, 1: -g if 1 in needs else None},
    "mul": _v_mul,
    "div": _v_div,
    "neg": lambda V, g, out, a, needs: {0: -g},
    "pow": _v_pow,
    "matmul": _v_matmul,
    "sum": _v_sum,
    "mean": _v_mean,
    "sigmoid": lambda V, g, out, a, needs: {0: g * out * (V.number(1.0) - out)},
    "tanh": lambda V, g, out, a, needs: {0: g * (V.number(1.0) - out * out)},
    "relu": lambda V, g, out, a, needs: {0: V.call("_relu_grad", g, a)},
    "cross_entropy": _v_cross_entropy,
}
