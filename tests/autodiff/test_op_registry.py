"""Every registered op is gradchecked in float64 through the public API.

``CASES`` maps each op name in ``chainrule.autodiff.REGISTRY`` to a list of cases;
an op without a case fails ``test_op_gradient_matches_finite_differences`` (it is
not skipped), so a newly registered op cannot slip in unchecked. Inputs are chosen
away from kinks (relu/abs at 0, ties of max/min, clip bounds, loss breakpoints) so
central differences are valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autodiff import REGISTRY, GradcheckError, Op, Tensor, gradcheck, listen_backward

_rng = np.random.default_rng(20240601)


# -- input makers (float64 leaves that require grad) ------------------------------
def leaf(array) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def rand(*shape, lo: float = -2.0, hi: float = 2.0, grad: bool = True) -> Tensor:
    values = _rng.uniform(lo, hi, size=shape)
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=grad)


def away(*shape, gap: float = 0.2, hi: float = 2.0, center: float = 0.0) -> Tensor:
    """Values at least ``gap`` from ``center`` on either side (no kink within reach)."""
    magnitude = _rng.uniform(gap, hi, size=shape)
    sign = np.where(_rng.random(shape) < 0.5, -1.0, 1.0)
    return leaf(center + sign * magnitude)


def distinct(*shape, spacing: float = 0.1) -> Tensor:
    """Pairwise distinct values (no ties for max/min), shuffled."""
    n = int(np.prod(shape)) if shape else 1
    values = (np.arange(n) - n / 2) * spacing + _rng.uniform(0, spacing / 4, size=n)
    return leaf(_rng.permutation(values).reshape(shape))


def positive(*shape, lo: float = 0.2, hi: float = 3.0) -> Tensor:
    return rand(*shape, lo=lo, hi=hi)


def probs(*shape, lo: float = 0.05, hi: float = 0.95, grad: bool = True) -> Tensor:
    return rand(*shape, lo=lo, hi=hi, grad=grad)


def simplex(*shape, axis: int = 1, grad: bool = True) -> Tensor:
    """Rows of class probabilities (sum to 1 along ``axis``)."""
    e = np.exp(_rng.normal(size=shape))
    return Tensor(e / e.sum(axis=axis, keepdims=True), requires_grad=grad)


def const(array) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64))


def labels(*shape, classes: int) -> np.ndarray:
    return _rng.integers(0, classes, size=shape).astype(np.int64)


@dataclass(frozen=True)
class Case:
    label: str
    fn: Callable
    inputs: tuple


CASES: dict[str, list[Case]] = {}


def case(op: str, label: str, fn: Callable, *inputs) -> None:
    CASES.setdefault(op, []).append(Case(f"{op}[{label}]", fn, inputs))


# -- arithmetic -------------------------------------------------------------------
for op, f in [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
]:
    case(op, "same shape", f, rand(3, 4), rand(3, 4))
    case(op, "(3,1) with (4,)", f, rand(3, 1), rand(4))
    case(op, "(2,3,4) with (4,)", f, rand(2, 3, 4), rand(4))
    case(op, "(3,1) with (1,4)", f, rand(3, 1), rand(1, 4))
    case(op, "scalar tensor with (2,3)", f, rand(), rand(2, 3))
    case(op, "(2,1,4) with (3,1)", f, rand(2, 1, 4), rand(3, 1))
    case(op, "tensor with python float", lambda a, f=f: f(a, 1.7), rand(2, 3))
    case(op, "python float with tensor", lambda a, f=f: f(-0.6, a), rand(2, 3))
    case(op, "ndarray with tensor", lambda a, f=f: f(np.linspace(-1, 1, 4), a), rand(3, 4))
    case(op, "same tensor twice", lambda a, f=f: f(a, a) * a, rand(2, 3))
case("add", "cr.add", cr.add, rand(3, 1), rand(4))
case("sub", "cr.sub", cr.sub, rand(4), rand(3, 4))
case("mul", "cr.mul", cr.mul, rand(2, 3, 4), rand(3, 1))

case("div", "same shape", lambda a, b: a / b, rand(3, 4), away(3, 4, gap=0.5))
case("div", "(3,1) / (1,4)", lambda a, b: a / b, rand(3, 1), away(1, 4, gap=0.5))
case("div", "(2,3,4) / (4,)", lambda a, b: a / b, rand(2, 3, 4), away(4, gap=0.5))
case("div", "(4,) / (3,1)", cr.div, rand(4), away(3, 1, gap=0.5))
case("div", "tensor / python float", lambda a: a / 2.5, rand(2, 3))
case("div", "python float / tensor", lambda a: 1.5 / a, away(2, 3, gap=0.5))
case("div", "scalar / (2,2)", lambda a, b: a / b, rand(), away(2, 2, gap=0.5))
case("div", "x / x", lambda a: a / a + a, away(3, gap=0.5))

case("neg", "(2,3)", lambda a: -a, rand(2, 3))
case("neg", "cr.neg scalar", cr.neg, rand())
case("neg", "(2,3,4) chained", lambda a: -(-a * a), rand(2, 3, 4))

case("pow", "x ** 2", lambda a: a**2, rand(3, 4))
case("pow", "x ** 3 negative base", lambda a: a**3, rand(3, 4, lo=-2, hi=-0.2))
case("pow", "x ** 0.5", lambda a: a**0.5, positive(3, 4))
case("pow", "x ** -1.5", lambda a: a**-1.5, positive(2, 3))
case("pow", "tensor ** tensor (3,1)**(4,)", lambda a, b: a**b, positive(3, 1), rand(4))
case("pow", "tensor ** tensor same shape", lambda a, b: a**b, positive(2, 3), rand(2, 3))
case("pow", "python float ** tensor", lambda b: 2.0**b, rand(2, 3))
case("pow", "x.pow(scalar tensor)", lambda a, b: a.pow(b), positive(4), rand())
case("pow", "cr.pow", lambda a: cr.pow(a, 3), rand(2, 2))

for label, sa, sb in [
    ("2-D @ 2-D", (3, 4), (4, 5)),
    ("1-D @ 1-D", (4,), (4,)),
    ("1-D @ 2-D", (4,), (4, 5)),
    ("2-D @ 1-D", (3, 4), (4,)),
    ("batched @ batched", (2, 3, 4), (2, 4, 5)),
    ("batched @ 2-D", (2, 3, 4), (4, 5)),
    ("2-D @ batched", (3, 4), (2, 4, 5)),
    ("1-D @ batched", (4,), (2, 4, 5)),
    ("batched @ 1-D", (2, 3, 4), (4,)),
    ("broadcast batch dims (2,1)x(5,)", (2, 1, 3, 4), (5, 4, 2)),
    ("broadcast batch dims (1,3)x(2,1)", (1, 3, 2, 4), (2, 1, 4, 3)),
]:
    case("matmul", label, lambda a, b: a @ b, rand(*sa), rand(*sb))
case("matmul", "cr.matmul", cr.matmul, rand(3, 4), rand(4, 2))
case("matmul", "x.matmul with x.T", lambda a: a.matmul(a.T), rand(3, 4))
case("matmul", "ndarray @ tensor", lambda b: np.ones((2, 3)) @ b, rand(3, 4))

# -- elementwise ------------------------------------------------------------------
case("exp", "(3,4)", cr.exp, rand(3, 4))
case("exp", "scalar", lambda a: a.exp(), rand())
case("log", "(3,4)", cr.log, positive(3, 4, lo=0.1))
case("log", "scalar", lambda a: a.log(), positive())
case("log1p", "(3,4)", cr.log1p, rand(3, 4, lo=-0.8, hi=3.0))
case("log1p", "method (2,)", lambda a: a.log1p(), rand(2, lo=-0.5, hi=0.5))
case("sqrt", "(3,4)", cr.sqrt, positive(3, 4, lo=0.1))
case("sqrt", "method scalar", lambda a: a.sqrt(), positive())
case("sqrt", "std", lambda a: cr.std(a, dim=1), rand(3, 4))
case("abs", "(3,4)", cr.abs, away(3, 4))
case("abs", "builtin abs", lambda a: abs(a) * a, away(2, 3))
case("sin", "(3,4)", cr.sin, rand(3, 4, lo=-4, hi=4))
case("sin", "scalar method", lambda a: a.sin(), rand())
case("cos", "(3,4)", cr.cos, rand(3, 4, lo=-4, hi=4))
case("cos", "scalar method", lambda a: a.cos(), rand())
case("sigmoid", "(3,4)", cr.sigmoid, rand(3, 4, lo=-6, hi=6))
case("sigmoid", "F.sigmoid scalar", F.sigmoid, rand())
case("sigmoid", "method (5,)", lambda a: a.sigmoid(), leaf([-30.0, -3.0, 0.0, 2.0, 25.0]))
case("tanh", "(3,4)", cr.tanh, rand(3, 4, lo=-3, hi=3))
case("tanh", "F.tanh (2,3,4)", F.tanh, rand(2, 3, 4))
case("relu", "(3,4)", cr.relu, away(3, 4))
case("relu", "F.relu method", lambda a: F.relu(a) + a.relu(), away(2, 3))

for op, fn, method in [("maximum", cr.maximum, "maximum"), ("minimum", cr.minimum, "minimum")]:
    a = distinct(3, 4)
    case(op, "same shape", fn, a, leaf(a.data + np.where(_rng.random((3, 4)) < 0.5, -0.3, 0.3)))
    case(op, "(3,1) with (4,)", fn, leaf([[-0.55], [0.05], [0.65]]), leaf([-1.0, -0.25, 0.35, 1.0]))
    case(op, "with python float", lambda x, fn=fn: fn(x, 0.15), away(3, 4, center=0.15))
    case(op, "method with ndarray", lambda x, m=method: getattr(x, m)(np.zeros(4)), away(3, 4))
    case(op, "scalar with (2,3)", fn, leaf(0.3), away(2, 3, center=0.3))

case("clip", "both bounds", lambda a: cr.clip(a, -0.5, 0.7), away(3, 4, gap=0.1, center=0.1))
case("clip", "inside both bounds", lambda a: cr.clip(a, -3.0, 3.0), rand(3, 4))
case("clip", "min only (clamp)", lambda a: cr.clamp(a, min=0.3), away(3, 4, center=0.3))
case("clip", "max only method", lambda a: a.clip(max=-0.2), away(2, 5, center=-0.2))
case("clip", "clamp method both", lambda a: a.clamp(-1.0, 1.0), leaf([-1.5, -0.5, 0.4, 1.6]))

case("where", "same shapes", lambda a, b: cr.where(a.data > 0, a, b), away(3, 4), rand(3, 4))
case(
    "where",
    "broadcast mask (3,1), x (4,), y (3,4)",
    lambda a, b: cr.where(np.array([[True], [False], [True]]), a, b),
    rand(4),
    rand(3, 4),
)
case(
    "where",
    "tensor mask, constant y",
    lambda a: cr.where(cr.tensor(np.array([True, False, True, False])), a, 0.5),
    rand(3, 4),
)
case("where", "constant x, scalar y", lambda b: cr.where(np.eye(3, dtype=bool), 2.0, b), rand())

case("cast", "float64 -> float64", lambda a: a.astype(np.float64) * a, rand(3, 4))
case("cast", "float64 -> longdouble", lambda a: cr.astype(a, np.longdouble) ** 2, rand(3, 4))
case("cast", ".to(longdouble).double()", lambda a: a.to(np.longdouble).double().exp(), rand(2, 3))
case("cast", ".clone() stays in the graph", lambda a: a.clone() * a, rand(2, 3))

# -- reductions -------------------------------------------------------------------
for op, fn in [("sum", cr.sum), ("mean", cr.mean)]:
    case(op, "all", fn, rand(3, 4))
    case(op, "all keepdims", lambda a, fn=fn: fn(a, keepdims=True), rand(2, 3, 4))
    case(op, "axis=0", lambda a, fn=fn: fn(a, axis=0), rand(3, 4))
    case(op, "dim=1 keepdims", lambda a, fn=fn: fn(a, dim=1, keepdims=True), rand(3, 4))
    case(op, "dim=-1", lambda a, fn=fn: fn(a, dim=-1), rand(2, 3, 4))
    case(op, "dim=-2 keepdims", lambda a, fn=fn: fn(a, dim=-2, keepdims=True), rand(2, 3, 4))
    case(op, "tuple axis (0,2)", lambda a, fn=fn: fn(a, axis=(0, 2)), rand(2, 3, 4))
    case(
        op,
        "tuple axis (0,-1) keepdims",
        lambda a, fn=fn: fn(a, axis=(0, -1), keepdims=True),
        rand(2, 3, 4),
    )
    case(op, "list dim [1,2]", lambda a, fn=fn: fn(a, dim=[1, 2]), rand(2, 3, 4))
    case(op, "scalar input", fn, rand())
    case(op, "method dim=0", lambda a, op=op: getattr(a, op)(dim=0), rand(3, 4))
    case(op, "torch keepdim=True", lambda a, fn=fn: fn(a, dim=-1, keepdim=True), rand(2, 3, 4))
    case(
        op, "method keepdim=True", lambda a, op=op: getattr(a, op)(dim=0, keepdim=True), rand(3, 4)
    )

for op, fn in [("max", cr.amax), ("min", cr.amin)]:
    case(op, "all", fn, distinct(3, 4))
    case(op, "all keepdims", lambda a, fn=fn: fn(a, keepdims=True), distinct(2, 3, 4))
    case(op, "axis=0", lambda a, fn=fn: fn(a, axis=0), distinct(3, 4))
    case(op, "dim=1 keepdims", lambda a, fn=fn: fn(a, dim=1, keepdims=True), distinct(3, 4))
    case(op, "dim=-1", lambda a, fn=fn: fn(a, dim=-1), distinct(2, 3, 4))
    case(op, "tuple axis (0,2)", lambda a, fn=fn: fn(a, axis=(0, 2)), distinct(2, 3, 4))
    case(
        op,
        "tuple axis (-1,0) keepdims",
        lambda a, fn=fn: fn(a, axis=(-1, 0), keepdims=True),
        distinct(2, 3, 4),
    )
    case(op, "method dim=-2", lambda a, op=op: getattr(a, op)(dim=-2), distinct(2, 3, 4))
    case(op, "amax/amin method", lambda a, op=op: getattr(a, "a" + op)(1), distinct(3, 4))
    case(op, "torch.max with dim", lambda a, op=op: getattr(cr, op)(a, 1).values, distinct(3, 4))
    case(
        op,
        "torch keepdim=True",
        lambda a, fn=fn: fn(a, dim=(0, 1), keepdim=True),
        distinct(2, 3, 4),
    )

case("var", "all (unbiased)", cr.var, rand(3, 4))
case("var", "all biased keepdims", lambda a: cr.var(a, keepdims=True, correction=0), rand(3, 4))
case("var", "dim=0", lambda a: cr.var(a, dim=0), rand(3, 4))
case(
    "var",
    "dim=-1 keepdims unbiased=False",
    lambda a: cr.var(a, dim=-1, keepdims=True, unbiased=False),
    rand(2, 3, 4),
)
case("var", "tuple axis (0,2) ddof=0", lambda a: cr.var(a, axis=(0, 2), ddof=0), rand(2, 3, 4))
case(
    "var",
    "tuple axis (-1,-2) correction=2",
    lambda a: cr.var(a, axis=(-1, -2), correction=2),
    rand(2, 3, 4),
)
case("var", "method", lambda a: a.var(1), rand(3, 4))
case("var", "torch keepdim=True", lambda a: cr.var(a, dim=1, keepdim=True), rand(3, 4))

for op, fn in [("softmax", cr.softmax), ("log_softmax", cr.log_softmax)]:
    case(op, "default dim (last)", fn, rand(3, 4))
    case(op, "dim=0", lambda a, fn=fn: fn(a, dim=0), rand(3, 4))
    case(op, "dim=1 of 3-D", lambda a, fn=fn: fn(a, dim=1), rand(2, 3, 4))
    case(op, "axis=-2 of 3-D", lambda a, fn=fn: fn(a, axis=-2), rand(2, 3, 4))
    case(op, "1-D large values", fn, leaf([800.0, 801.5, 799.0, 802.0]))
    case(op, "method", lambda a, op=op: getattr(a, op)(-1), rand(2, 5))
case("softmax", "F.softmax", lambda a: F.softmax(a, dim=1), rand(3, 4))
case("log_softmax", "F.log_softmax", lambda a: F.log_softmax(a, dim=1), rand(3, 4))

case("logsumexp", "all", cr.logsumexp, rand(3, 4))
case("logsumexp", "dim=1", lambda a: cr.logsumexp(a, dim=1), rand(3, 4))
case("logsumexp", "dim=0 keepdims", lambda a: cr.logsumexp(a, 0, keepdims=True), rand(3, 4))
case("logsumexp", "dim=-1 of 3-D", lambda a: cr.logsumexp(a, dim=-1), rand(2, 3, 4))
case("logsumexp", "tuple axis (0,2)", lambda a: cr.logsumexp(a, axis=(0, 2)), rand(2, 3, 4))
case("logsumexp", "all keepdims", lambda a: cr.logsumexp(a, keepdims=True), rand(2, 3))
case("logsumexp", "torch keepdim=True", lambda a: cr.logsumexp(a, dim=-1, keepdim=True), rand(2, 3))
case(
    "logsumexp",
    "large values method",
    lambda a: a.logsumexp(-1),
    leaf([[1000.0, 1001.0, 999.5], [-1000.0, -1002.0, -999.0]]),
)

# -- shaping ----------------------------------------------------------------------
case("reshape", "varargs with -1", lambda a: cr.reshape(a, 6, -1) * 2, rand(3, 4))
case("reshape", "tuple", lambda a: a.reshape((2, 2, 3)), rand(3, 4))
case("reshape", "view", lambda a: a.view(12), rand(3, 4))
case("reshape", "flatten", lambda a: cr.flatten(a, 1), rand(2, 3, 4))
case("reshape", "scalar to (1,1)", lambda a: a.reshape(1, 1), rand())

case("permute", "3-D", lambda a: cr.permute(a, 2, 0, 1), rand(2, 3, 4))
case("permute", "negative dims", lambda a: a.permute(-1, 0, -2), rand(2, 3, 4))
case("permute", "transpose", lambda a: cr.transpose(a, 0, 2), rand(2, 3, 4))
case("permute", ".T", lambda a: a.T * np.arange(3.0), rand(3, 4))

case("expand", "(3,1) -> (3,4)", lambda a: cr.expand(a, 3, 4), rand(3, 1))
case("expand", "(4,) -> (2,3,4)", lambda a: a.expand(2, 3, 4), rand(4))
case("expand", "-1 keeps a dim", lambda a: a.expand(2, -1, 5), rand(3, 1))
case("expand", "broadcast_to", lambda a: cr.broadcast_to(a, (2, 3)), rand())
case("expand", "expand_as", lambda a, b: a.expand_as(b) * b, rand(1, 4), rand(3, 4))

case("squeeze", "all", cr.squeeze, rand(1, 3, 1, 4))
case("squeeze", "dim=0", lambda a: cr.squeeze(a, dim=0), rand(1, 3, 1))
case("squeeze", "dim=-1", lambda a: a.squeeze(-1), rand(3, 1))
case("squeeze", "tuple dims", lambda a: a.squeeze((0, 2)), rand(1, 3, 1, 2))

case("unsqueeze", "dim=0", lambda a: cr.unsqueeze(a, 0), rand(3, 4))
case("unsqueeze", "dim=-1", lambda a: a.unsqueeze(-1), rand(3, 4))
case("unsqueeze", "dim=1 broadcast", lambda a, b: a.unsqueeze(1) * b, rand(3, 4), rand(2, 4))
case("unsqueeze", "scalar", lambda a: a.unsqueeze(0), rand())

case("getitem", "int", lambda a: a[1], rand(3, 4))
case("getitem", "negative int", lambda a: a[-1, -2], rand(3, 4))
case("getitem", "slices", lambda a: a[1:, ::2], rand(3, 4))
case("getitem", "negative step", lambda a: a[::-1, 1:3], rand(3, 4))
case("getitem", "ellipsis and None", lambda a: a[..., None, 1], rand(2, 3, 4))
case("getitem", "int array with repeats", lambda a: a[np.array([0, 2, 0, 0])], rand(3, 4))
case("getitem", "list with repeats", lambda a: a[[2, 2, 1]] * 3, rand(3, 4))
case(
    "getitem",
    "paired int arrays with repeats",
    lambda a: a[np.array([0, 2, 0, 0]), np.array([1, 1, 1, 3])],
    rand(3, 4),
)
case("getitem", "2-D int array", lambda a: a[np.array([[0, 1], [1, 1]])], rand(3, 4))
case("getitem", "slice and int array", lambda a: a[:, [3, 0, 3]], rand(3, 4))
case("getitem", "tensor index", lambda a: a[cr.tensor(np.array([1, 1, 0]))], rand(3, 4))
case(
    "getitem",
    "boolean mask",
    lambda a: a[
        np.array(
            [[True, False, True, True], [False, False, True, False], [True, True, False, True]]
        )
    ],
    rand(3, 4),
)
case("getitem", "boolean rows", lambda a: a[np.array([True, False, True])], rand(3, 4))
case("getitem", "tensor boolean mask", lambda a: a[a > 0.0], away(3, 4))
case("getitem", "iteration", lambda a: cr.stack([row * i for i, row in enumerate(a)]), rand(3, 2))

case("cat", "dim=0", lambda a, b: cr.cat([a, b]), rand(2, 3), rand(4, 3))
case("cat", "dim=1", lambda a, b, c: cr.cat([a, b, c], dim=1), rand(2, 1), rand(2, 3), rand(2, 2))
case("cat", "dim=-1 3-D", lambda a, b: cr.cat([a, b], dim=-1), rand(2, 3, 1), rand(2, 3, 4))
case("cat", "with constant ndarray", lambda a: cr.cat([a, np.ones((1, 3)), a], axis=0), rand(2, 3))
case("cat", "concatenate 1-D", lambda a, b: cr.concatenate([a, b]), rand(3), rand(2))

case("stack", "dim=0", lambda a, b: cr.stack([a, b]), rand(2, 3), rand(2, 3))
case(
    "stack",
    "dim=-1",
    lambda a, b, c: cr.stack([a, b, c], dim=-1),
    rand(2, 3),
    rand(2, 3),
    rand(2, 3),
)
case("stack", "dim=1 same tensor twice", lambda a: cr.stack([a, a * 2], dim=1), rand(2, 3))
case("stack", "scalars", lambda a, b: cr.stack([a, b]), rand(), rand())
case(
    "stack", "axis=-2 with constant", lambda a: cr.stack([a, np.zeros((4, 3))], axis=-2), rand(4, 3)
)

# -- nn.functional: linear and activations ------------------------------------------
case("linear", "2-D with bias", F.linear, rand(4, 3), rand(5, 3), rand(5))
case("linear", "2-D without bias", F.linear, rand(4, 3), rand(5, 3))
case("linear", "3-D batch", F.linear, rand(2, 4, 3), rand(5, 3), rand(5))
case("linear", "4-D batch no bias", F.linear, rand(2, 1, 2, 3), rand(2, 3))
case("linear", "1-D input", F.linear, rand(3), rand(2, 3), rand(2))
case(
    "linear",
    "constant weight",
    lambda x: F.linear(x, const(np.arange(6.0).reshape(2, 3))),
    rand(4, 3),
)

case("leaky_relu", "default slope", F.leaky_relu, away(3, 4))
case("leaky_relu", "slope 0.2", lambda a: F.leaky_relu(a, 0.2), away(2, 3, 4))
case("leaky_relu", "slope 1.5 scalar", lambda a: F.leaky_relu(a, negative_slope=1.5), leaf(-0.7))
case("elu", "default alpha", F.elu, away(3, 4))
case("elu", "alpha 0.5", lambda a: F.elu(a, alpha=0.5), away(2, 3, 4, hi=5.0))
case("elu", "scalar", F.elu, leaf(-0.4))
case("gelu", "exact (3,4)", F.gelu, rand(3, 4, lo=-4, hi=4))
case("gelu", "tanh (3,4)", lambda a: F.gelu(a, approximate="tanh"), rand(3, 4, lo=-4, hi=4))
case("gelu", "exact 3-D", lambda a: F.gelu(a, approximate="none"), rand(2, 3, 2))
case("gelu", "exact scalar", F.gelu, leaf(0.7))
case("gelu", "tanh scalar", lambda a: F.gelu(a, approximate="tanh"), leaf(-0.3))
case("softplus", "default", F.softplus, rand(3, 4, lo=-5, hi=5))
case("softplus", "beta=2", lambda a: F.softplus(a, beta=2.0), rand(3, 4, lo=-3, hi=3))
case(
    "softplus",
    "beta=0.5 threshold=1 (both sides)",
    lambda a: F.softplus(a, beta=0.5, threshold=1.0),
    leaf([-3.0, -0.5, 1.2, 1.5, 3.0, 6.0]),
)
case(
    "softplus",
    "threshold=0.5 (both sides)",
    lambda a: F.softplus(a, threshold=0.5),
    away(3, 4, gap=0.2, center=0.5),
)
case("softplus", "large inputs", F.softplus, leaf([-40.0, 25.0, 30.0]))

case("dropout", "p=0.3 int seed", lambda a: F.dropout(a, 0.3, generator=7), rand(4, 5))
case(
    "dropout",
    "p=0.5 fresh Generator each call",
    lambda a: F.dropout(a, p=0.5, generator=np.random.default_rng(3)),
    rand(2, 3, 4),
)
case(
    "dropout",
    "p=0.9 training=True",
    lambda a: F.dropout(a, 0.9, True, generator=11) * a,
    rand(6, 4),
)
case("dropout", "p=1 zeroes everything", lambda a: F.dropout(a, 1.0, generator=0) + a, rand(3, 3))

_dropout_mask = REGISTRY["dropout_mask"]
case(
    "dropout_mask",
    "a seeded mask is a constant factor",
    lambda a: _dropout_mask(a, p=0.4, generator=5) * a,
    rand(4, 3),
)


# -- nn.functional: normalization ---------------------------------------------------
def _running(channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Running statistics: a mean near 0 and a variance well away from 0."""
    return _rng.normal(size=channels), _rng.uniform(0.5, 2.0, size=channels)


def _bn(training: bool, stats: tuple | None = None, **options):
    def fn(x, *affine):
        mean, var = (None, None) if stats is None else (stats[0].copy(), stats[1].copy())
        return F.batch_norm(x, mean, var, *affine, training=training, **options)

    return fn


case("batch_norm", "train 2-D affine", _bn(True), rand(6, 3), rand(3), rand(3))
case("batch_norm", "train 2-D no affine", _bn(True), rand(5, 4))
case(
    "batch_norm",
    "train 2-D weight only, running stats",
    _bn(True, _running(3)),
    rand(4, 3),
    rand(3),
)
case("batch_norm", "train 3-D affine", _bn(True, eps=1e-3), rand(3, 2, 4), rand(2), rand(2))
case("batch_norm", "train 3-D no affine, running stats", _bn(True, _running(3)), rand(2, 3, 5))
case(
    "batch_norm",
    "train 2-D bias only, two outputs",
    lambda x, b: (F.batch_norm(x, None, None, None, b, training=True), x * 2),
    rand(4, 3),
    rand(3),
)
case("batch_norm", "eval 2-D affine", _bn(False, _running(3)), rand(4, 3), rand(3), rand(3))
case("batch_norm", "eval 2-D no affine", _bn(False, _running(4)), rand(3, 4))
case("batch_norm", "eval 3-D affine", _bn(False, _running(2)), rand(3, 2, 4), rand(2), rand(2))
case("batch_norm", "eval 3-D no affine", _bn(False, _running(3), eps=0.1), rand(2, 3, 2))
case(
    "running_stats_copy",
    "a copy passes the gradient through",
    lambda a: REGISTRY["running_stats_copy"](a) * a,
    rand(3, 2),
)


# -- nn.functional: losses ----------------------------------------------------------
REDUCTIONS = ("mean", "sum", "none")

for r in REDUCTIONS:
    case(
        "mse_loss",
        f"{r} target grad",
        lambda x, y, r=r: F.mse_loss(x, y, reduction=r),
        rand(3, 4),
        rand(3, 4),
    )
    case(
        "mse_loss",
        f"{r} constant target 3-D",
        lambda x, r=r: F.mse_loss(x, const(np.ones((2, 3, 2))), reduction=r),
        rand(2, 3, 2),
    )
    case(
        "l1_loss",
        f"{r} target grad",
        lambda x, y, r=r: F.l1_loss(x, y, reduction=r),
        *(lambda y: (leaf(y.data + away(3, 4).data), y))(rand(3, 4)),
    )
    for beta in (1.0, 0.5, 0.0):
        y = rand(3, 4)
        d = np.concatenate([_rng.uniform(0.05, 0.85, 6), _rng.uniform(1.2, 2.0, 6)])
        d = _rng.permutation(d * np.where(_rng.random(12) < 0.5, -1, 1)).reshape(3, 4)
        case(
            "smooth_l1_loss",
            f"{r} beta={beta}",
            lambda x, t, r=r, beta=beta: F.smooth_l1_loss(x, t, reduction=r, beta=beta),
            leaf(y.data + d * max(beta, 0.3)),
            y,
        )
    for delta in (1.0, 2.5):
        y = rand(3, 4)
        d = np.concatenate([_rng.uniform(0.05, 0.85, 6), _rng.uniform(1.2, 2.0, 6)])
        d = _rng.permutation(d * np.where(_rng.random(12) < 0.5, -1, 1)).reshape(3, 4)
        case(
            "huber_loss",
            f"{r} delta={delta}",
            lambda x, t, r=r, delta=delta: F.huber_loss(x, t, reduction=r, delta=delta),
            leaf(y.data + d * delta),
            y,
        )
case("mse_loss", "scalar", F.mse_loss, rand(), rand())
case("l1_loss", "scalar", F.l1_loss, leaf(0.4), leaf(-0.3))

for r in REDUCTIONS:
    case(
        "binary_cross_entropy",
        f"{r} soft target grad",
        lambda p, y, r=r: F.binary_cross_entropy(p, y, reduction=r),
        probs(3, 4),
        probs(3, 4),
    )
    case(
        "binary_cross_entropy",
        f"{r} hard target, weight (4,)",
        lambda p, r=r: F.binary_cross_entropy(
            p, const(_HARD), weight=const([0.5, 1.0, 2.0, 0.1]), reduction=r
        ),
        probs(3, 4),
    )
    case(
        "binary_cross_entropy",
        f"{r} full weight ndarray, target grad",
        lambda p, y, r=r: F.binary_cross_entropy(p, y, weight=np.linspace(0.1, 2, 6), reduction=r),
        probs(6),
        probs(6, lo=0.0, hi=1.0),
    )
    case(
        "binary_cross_entropy_with_logits",
        f"{r} target grad",
        lambda x, y, r=r: F.binary_cross_entropy_with_logits(x, y, reduction=r),
        rand(3, 4, lo=-4, hi=4),
        probs(3, 4, lo=0.0, hi=1.0),
    )
    case(
        "binary_cross_entropy_with_logits",
        f"{r} weight and pos_weight, target grad",
        lambda x, y, r=r: F.binary_cross_entropy_with_logits(
            x,
            y,
            weight=const([[1.0], [0.5], [2.0]]),
            pos_weight=const([0.3, 1.0, 3.0, 7.0]),
            reduction=r,
        ),
        rand(3, 4, lo=-4, hi=4),
        probs(3, 4, lo=0.0, hi=1.0),
    )
    case(
        "binary_cross_entropy_with_logits",
        f"{r} pos_weight ndarray, hard target",
        lambda x, r=r: F.binary_cross_entropy_with_logits(
            x, const(_HARD), pos_weight=np.array([2.0, 0.5, 1.0, 4.0]), reduction=r
        ),
        rand(3, 4, lo=-30, hi=30),
    )
_HARD = (np.arange(12).reshape(3, 4) % 3 == 0).astype(np.float64)
case("binary_cross_entropy", "scalar", F.binary_cross_entropy, probs(), probs())
case(
    "binary_cross_entropy_with_logits",
    "scalar",
    F.binary_cross_entropy_with_logits,
    rand(),
    probs(),
)

_IDX = labels(5, classes=4)
_IDX_IGNORED = np.array([0, -100, 3, 1, -100])
_IDX_3D = labels(2, 3, classes=4)
_W4 = const([0.2, 1.0, 2.5, 0.7])
ce = F.cross_entropy
for r in REDUCTIONS:
    case("cross_entropy", f"{r} class indices", lambda x, r=r: ce(x, _IDX, reduction=r), rand(5, 4))
    case(
        "cross_entropy",
        f"{r} weight",
        lambda x, r=r: ce(x, _IDX, weight=_W4, reduction=r),
        rand(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} default ignore_index -100",
        lambda x, r=r: ce(x, _IDX_IGNORED, reduction=r),
        rand(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} ignore_index=1 with weight",
        lambda x, r=r: ce(x, _IDX, weight=_W4, ignore_index=1, reduction=r),
        rand(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} label_smoothing=0.1",
        lambda x, r=r: ce(x, _IDX, label_smoothing=0.1, reduction=r),
        rand(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} label_smoothing, weight, ignore_index",
        lambda x, r=r: ce(x, _IDX_IGNORED, weight=_W4, label_smoothing=0.2, reduction=r),
        rand(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} probability target grad",
        lambda x, y, r=r: ce(x, y, reduction=r),
        rand(5, 4),
        simplex(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} probability target, weight, smoothing",
        lambda x, y, r=r: ce(x, y, weight=_W4, label_smoothing=0.3, reduction=r),
        rand(5, 4),
        simplex(5, 4),
    )
    case(
        "cross_entropy",
        f"{r} (N,C,d) class indices",
        lambda x, r=r: ce(x, _IDX_3D, weight=_W4, reduction=r),
        rand(2, 4, 3),
    )
    case(
        "cross_entropy",
        f"{r} (N,C,d) probability target grad, smoothing",
        lambda x, y, r=r: ce(x, y, label_smoothing=0.1, reduction=r),
        rand(2, 4, 3),
        simplex(2, 4, 3),
    )
    case(
        "cross_entropy",
        f"{r} (N,C,d1,d2) class indices",
        lambda x, r=r: ce(x, np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]]), reduction=r),
        rand(2, 3, 2, 2),
    )
    case(
        "cross_entropy",
        f"{r} single sample (C,)",
        lambda x, r=r: ce(x, np.array(2), reduction=r),
        rand(4),
    )
    case(
        "cross_entropy",
        f"{r} single sample (C,) probability target grad",
        lambda x, y, r=r: ce(x, y, label_smoothing=0.05, reduction=r),
        rand(4),
        simplex(4, axis=0),
    )

    case(
        "nll_loss",
        f"{r} raw log-probs",
        lambda x, r=r: F.nll_loss(x, _IDX, reduction=r),
        rand(5, 4),
    )
    case(
        "nll_loss",
        f"{r} after log_softmax, weight",
        lambda x, r=r: F.nll_loss(F.log_softmax(x, dim=1), _IDX, weight=_W4, reduction=r),
        rand(5, 4),
    )
    case(
        "nll_loss",
        f"{r} ignore_index default and custom",
        lambda x, r=r: (
            F.nll_loss(x, _IDX_IGNORED, reduction=r)
            + F.nll_loss(x, _IDX, ignore_index=2, weight=_W4, reduction=r)
        ),
        rand(5, 4),
    )
    case(
        "nll_loss",
        f"{r} (N,C,d)",
        lambda x, r=r: F.nll_loss(x, _IDX_3D, reduction=r),
        rand(2, 4, 3),
    )
    case(
        "nll_loss",
        f"{r} single sample (C,)",
        lambda x, r=r: F.nll_loss(x, np.array(1), reduction=r),
        rand(3),
    )

# -- layers: convolution, pooling, normalization, embedding, activations (issue 13) --
case(
    "conv2d",
    "stride 2 pad 1",
    lambda x, w, b: F.conv2d(x, w, b, 2, 1),
    rand(2, 2, 5, 4),
    rand(3, 2, 3, 2),
    rand(3),
)
case(
    "conv2d",
    "groups 2 dilation 2 'same'",
    lambda x, w: F.conv2d(x, w, padding="same", dilation=2, groups=2),
    rand(1, 4, 5, 5),
    rand(2, 2, 2, 3),
)
case(
    "conv2d",
    "conv1d stride 2",
    lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
    rand(2, 3, 7),
    rand(2, 3, 3),
    rand(2),
)
case(
    "im2col",
    "stride 2 pad 1 (the input gradient of conv2d)",
    lambda x, w: F.conv2d(x, w, None, 2, 1),
    rand(2, 2, 5, 4),
    rand(3, 2, 3, 2),
)
case(
    "im2col",
    "groups 2 dilation 2 'same', stride (1, 2) pad (2, 0)",
    lambda x, w: (
        F.conv2d(x, w, padding="same", dilation=2, groups=2)
        + F.conv2d(x, w, None, (1, 2), (2, 0), 1, 2).sum()
    ),
    rand(1, 4, 5, 5),
    rand(2, 2, 2, 3),
)
case("max_pool2d", "3x3 stride 2 pad 1", lambda x: F.max_pool2d(x, 3, 2, 1), distinct(2, 2, 5, 5))
case("max_pool2d", "2x2 dilation 2", lambda x: F.max_pool2d(x, 2, 1, 0, 2), distinct(1, 2, 5, 4))
case("max_pool2d", "max_pool1d", lambda x: F.max_pool1d(x, 2), distinct(2, 2, 6))
case(
    "max_pool2d",
    "3x3 stride 2 pad 1 ceil_mode",
    lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    distinct(1, 2, 6, 5),
)
case("max_pool2d", "tiled 2x3, cropped", lambda x: F.max_pool2d(x, (2, 3)), distinct(2, 2, 5, 7))
case(
    "max_unpool2d",
    "after max_pool2d 2",
    lambda x: F.max_unpool2d(x, np.array([[[[0, 3], [9, 14]]]]), 2),
    rand(1, 1, 2, 2),
)
case(
    "max_unpool2d",
    "max_unpool1d with output_size",
    lambda x: F.max_unpool1d(x, np.array([[1, 2, 5]]).reshape(1, 1, 3), 2, output_size=(7,)),
    rand(1, 1, 3),
)
case(
    "avg_pool2d",
    "ceil_mode no pad count",
    lambda x: F.avg_pool2d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False),
    rand(1, 2, 5, 4),
)
case(
    "pad_index",
    "reflect, replicate, circular",
    lambda x: (
        F.pad(x, (2, 1, 1, 2), mode="reflect").sum((2, 3))
        + F.pad(x, (3, 0), mode="replicate").sum((2, 3))
        + F.pad(x, (1, 3, 3, 0), mode="circular").sum((2, 3))
    ),
    rand(1, 2, 3, 4),
)
case("avg_pool2d", "3x3 stride 2 pad 1", lambda x: F.avg_pool2d(x, 3, 2, 1), rand(2, 2, 5, 5))
case(
    "avg_pool2d",
    "no pad count",
    lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    rand(1, 2, 5, 4),
)
case("avg_pool2d", "avg_pool1d", lambda x: F.avg_pool1d(x, 3, 1, 1), rand(2, 2, 6))
case(
    "adaptive_avg_pool2d",
    "5x4 -> 3x2",
    lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
    rand(2, 2, 5, 4),
)
case(
    "layer_norm",
    "(3,4) affine",
    lambda x, w, b: F.layer_norm(x, (4,), w, b),
    rand(3, 4),
    rand(4),
    rand(4),
)
case("layer_norm", "last two dims, no affine", lambda x: F.layer_norm(x, (3, 4)), rand(2, 3, 4))
case(
    "group_norm",
    "2 groups affine",
    lambda x, w, b: F.group_norm(x, 2, w, b),
    rand(2, 4, 3),
    rand(4),
    rand(4),
)
case("group_norm", "1 group 4-D", lambda x: F.group_norm(x, 1), rand(2, 2, 2, 3))
case(
    "embedding",
    "padding_idx",
    lambda w: F.embedding(np.array([[0, 2], [2, 3]]), w, padding_idx=1),
    rand(4, 3),
)
case("pad", "last two dims", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), rand(2, 3, 4))
case("normalize", "p=2 dim 1", F.normalize, rand(3, 4))
case("normalize", "p=3 dim 0", lambda x: F.normalize(x, p=3, dim=0), away(3, 4))
case(
    "kl_div",
    "batchmean, target grad",
    lambda i, t: F.kl_div(i, t, reduction="batchmean"),
    rand(3, 4),
    probs(3, 4),
)
case(
    "kl_div",
    "log_target, none",
    lambda i, t: F.kl_div(i, t, reduction="none", log_target=True),
    rand(3, 4),
    rand(3, 4),
)
case("silu", "(3,4)", F.silu, rand(3, 4, lo=-5, hi=5))
case("mish", "(3,4)", F.mish, rand(3, 4, lo=-5, hi=5))
case("celu", "alpha 0.5", lambda a: F.celu(a, 0.5), away(3, 4, gap=0.1))
case("celu", "selu", F.selu, away(3, 4, gap=0.1))
case("hardtanh", "default", F.hardtanh, away(3, 4, gap=0.2, hi=0.8, center=1.0))
case("hardtanh", "relu6", F.relu6, away(3, 4, gap=0.1, hi=3.0, center=3.0))
case("hardsigmoid", "(3,4)", F.hardsigmoid, away(3, 4, gap=0.1, hi=2.5, center=3.0))
case("hardswish", "(3,4)", F.hardswish, away(3, 4, gap=0.1, hi=2.5, center=3.0))
case("logsigmoid", "(3,4)", F.logsigmoid, rand(3, 4, lo=-10, hi=10))
case("prelu", "per channel", F.prelu, away(2, 3, 4), rand(3))
case("prelu", "one slope", F.prelu, away(2, 3), rand(1))

# Losses whose target is differentiable: some case must check the target's gradient.
TARGET_GRAD_OPS = (
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
)


# -- PyTorch-parity ops (ops/torch_math.py, ops/torch_arrays.py) ----------------------
case("tan", "(3,4)", cr.tan, rand(3, 4, lo=-1.2, hi=1.2))
case("tan", "method", lambda a: a.tan(), rand(2, lo=-1, hi=1))
case("asin", "(3,4)", cr.asin, rand(3, 4, lo=-0.9, hi=0.9))
case("acos", "(3,4)", cr.acos, rand(3, 4, lo=-0.9, hi=0.9))
case("acos", "method", lambda a: a.acos(), rand(2, lo=-0.5, hi=0.5))
case("atan", "(3,4)", cr.atan, rand(3, 4, lo=-4, hi=4))
case("erf", "(3,4)", cr.erf, rand(3, 4, lo=-3, hi=3))
case("erf", "method", lambda a: a.erf(), rand(5))
case("log2", "(3,4)", cr.log2, positive(3, 4))
case("log10", "(3,4)", lambda a: a.log10(), positive(3, 4))
case("rsqrt", "(3,4)", cr.rsqrt, positive(3, 4))
case("logaddexp", "same shape", cr.logaddexp, rand(3, 4), rand(3, 4))
case("logaddexp", "(3,1) with (4,) large", lambda a, b: a.logaddexp(b * 300), rand(3, 1), rand(4))
for op in ("sign", "floor", "ceil", "trunc"):
    # Piecewise constant: zero gradient away from the jumps (PyTorch's value).
    case(op, "(3,4)", lambda a, op=op: getattr(cr, op)(a) * a, away(3, 4, gap=0.1) + 0.5)
case("round", "(3,4)", lambda a: cr.round(a) * a, leaf(np.array([0.2, 1.3, -2.2, 3.9])))
case("round", "decimals", lambda a: a.round(decimals=1) + a, leaf(np.array([0.123, -1.26])))
case(
    "div_rounded",
    "floor //",
    lambda a, b: (a // b) * a + b,
    rand(3, 4),
    leaf([0.7, -1.3, 1.1, 2.9]),
)
case(
    "div_rounded",
    "trunc",
    lambda a, b: cr.div(a, b, rounding_mode="trunc") * b,
    rand(2, 3),
    leaf([0.7, -1.3, 1.9]),
)
case("remainder", "tensor % tensor", lambda a, b: a % b, rand(3, 4), leaf([0.7, -1.3, 1.1, 2.9]))
case("remainder", "tensor % float", lambda a: cr.remainder(a, 0.9), rand(2, 3))
case("prod", "all", cr.prod, rand(3, 4, lo=0.5, hi=1.5))
case("prod", "dim=1", lambda a: a.prod(1), rand(3, 4))
case(
    "prod",
    "dim=0 keepdim with a zero",
    lambda a: a.prod(0, keepdim=True),
    leaf([[0.0, 2.0], [3.0, -1.0], [0.0, 4.0]]),
)
case("prod", "one zero in all", cr.prod, leaf([[1.5, 0.0], [2.0, -0.5]]))
case("cumsum", "dim=1", lambda a: cr.cumsum(a, dim=1), rand(3, 4))
case("cumsum", "dim=0 method", lambda a: a.cumsum(0), rand(4, 2))
case("cumprod", "dim=1", lambda a: cr.cumprod(a, dim=1), away(3, 4, gap=0.3))
case("cumprod", "with zeros", lambda a: a.cumprod(0), leaf([[1.5, 0.0], [0.0, 2.0], [-0.5, 3.0]]))
_GATHER_IDX = np.array([[0, 0, 2], [1, 3, 3]])
case("gather", "dim=1 with repeats", lambda a: cr.gather(a, 1, _GATHER_IDX), rand(2, 4))
case("gather", "dim=0 smaller index", lambda a: a.gather(0, np.array([[2, 0], [1, 1]])), rand(3, 3))
case("gather", "via sort values", lambda a: cr.sort(a, dim=1).values * 1.0, distinct(3, 4))
case("gather", "via topk values", lambda a: a.topk(2, dim=0).values, distinct(3, 4))
_SCAT_IDX = np.array([[0, 2], [1, 0]])
case("scatter", "src tensor", lambda a, s: cr.scatter(a, 1, _SCAT_IDX, s), rand(2, 3), rand(2, 2))
case("scatter", "value", lambda a: a.scatter(0, np.array([[1, 0, 1]]), value=2.5), rand(2, 3))
case(
    "scatter_add",
    "repeats add up",
    lambda a, s: cr.scatter_add(a, 1, np.array([[0, 0, 2], [1, 1, 1]]), s),
    rand(2, 3),
    rand(2, 3),
)
case(
    "scatter_add",
    "dim 0 method",
    lambda a, s: a.scatter_add(0, np.array([[1, 0]]), s),
    rand(2, 2),
    rand(1, 2),
)
case(
    "masked_fill",
    "(2,3)",
    lambda a: cr.masked_fill(a, np.array([[True, False, True], [False, False, True]]), -1.0),
    rand(2, 3),
)
case(
    "masked_fill",
    "broadcast mask",
    lambda a: a.masked_fill(cr.tensor([True, False, False]), 0.0),
    rand(2, 3),
)
case(
    "masked_fill",
    "tensor value gets Σ g where mask",
    lambda a, v: cr.masked_fill(a, np.array([[True, False, True], [False, False, True]]), v),
    rand(2, 3),
    rand(),
)
case("flip", "dims (0, 1)", lambda a: cr.flip(a, (0, 1)), rand(2, 3))
case("flip", "dim -1", lambda a: a.flip(-1), rand(2, 3, 2))
case("roll", "flat", lambda a: cr.roll(a, 2), rand(2, 3))
case("roll", "two dims", lambda a: a.roll((1, -1), (0, 1)), rand(2, 3))
case("repeat", "(2,3) x (2,1)", lambda a: a.repeat(2, 1), rand(2, 3))
case("repeat", "new leading dim", lambda a: a.repeat(3, 1, 2), rand(2, 3))
case("repeat", "tile pads", lambda a: cr.tile(a, (2,)), rand(2, 3))
case("tril", "square", cr.tril, rand(3, 3))
case("tril", "batched diagonal=-1", lambda a: a.tril(-1), rand(2, 3, 4))
case("triu", "square", cr.triu, rand(3, 3))
case("triu", "wide diagonal=1", lambda a: a.triu(1), rand(3, 5))
case("einsum", "diagonal 'ii->i'", lambda a: cr.einsum("ii->i", a), rand(3, 3))
case("einsum", "trace 'ii->'", lambda a: cr.einsum("ii", a), rand(3, 3))
case(
    "einsum",
    "batched diagonal with a second operand 'bii,bj->bij'",
    lambda a, b: cr.einsum("bii,bj->bij", a, b),
    rand(2, 3, 3),
    rand(2, 4),
)
case("einsum", "repeated and summed alone 'iij->'", lambda a: cr.einsum("iij->", a), rand(2, 2, 3))
case("einsum", "matmul", lambda a, b: cr.einsum("ij,jk->ik", a, b), rand(2, 3), rand(3, 4))
case(
    "einsum",
    "batched ellipsis",
    lambda a, b: cr.einsum("...ij,...jk", a, b),
    rand(2, 2, 3),
    rand(2, 3, 2),
)
case(
    "einsum",
    "outer and summed-alone letter",
    lambda a, b: cr.einsum("ij,k->ik", a, b),
    rand(2, 3),
    rand(4),
)
case(
    "einsum",
    "trace-free bilinear",
    lambda a, w, b: cr.einsum("bi,ij,bj->b", a, w, b),
    rand(3, 2),
    rand(2, 2),
    rand(3, 2),
)
case(
    "einsum",
    "broadcast batch",
    lambda a, b: cr.einsum("...ij,...jk->...ik", a, b),
    rand(1, 2, 3),
    rand(4, 3, 2),
)


# -- the tests ----------------------------------------------------------------------
def _fresh(inputs: tuple) -> list:
    return [
        Tensor(v.data.copy(), requires_grad=v.requires_grad) if isinstance(v, Tensor) else v
        for v in inputs
    ]


def _ops_on_backward_path(c: Case) -> tuple[set[str], list]:
    """Run the case once with backward; return the op names backward visited and inputs."""
    inputs = _fresh(c.inputs)
    result = c.fn(*inputs)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    seen: set[str] = set()
    total = None
    for o in outputs:
        if o.requires_grad:
            term = (o * Tensor(np.linspace(0.5, 1.5, o.data.size).reshape(o.shape))).sum()
            total = term if total is None else total + term
    if total is not None:
        with listen_backward(lambda event: seen.add(event.node.op.name)):
            total.backward()
    return seen, inputs


ALL_OPS = sorted(REGISTRY)


def test_registry_holds_the_documented_ops():
    expected = {
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "pow",
        "matmul",
        "exp",
        "log",
        "log1p",
        "sqrt",
        "abs",
        "sin",
        "cos",
        "sigmoid",
        "tanh",
        "relu",
        "maximum",
        "minimum",
        "clip",
        "where",
        "cast",
        "sum",
        "mean",
        "max",
        "min",
        "var",
        "softmax",
        "log_softmax",
        "logsumexp",
        "reshape",
        "permute",
        "expand",
        "squeeze",
        "unsqueeze",
        "getitem",
        "cat",
        "stack",
        "linear",
        "leaky_relu",
        "elu",
        "gelu",
        "softplus",
        "dropout",
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "nll_loss",
        "batch_norm",
    }
    assert expected <= set(REGISTRY), sorted(expected - set(REGISTRY))


def test_every_case_names_a_registered_op():
    stale = sorted(set(CASES) - set(REGISTRY))
    assert not stale, f"CASES has entries for unregistered ops: {stale}"


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_is_registered_with_formula_and_vjp(name):
    op = REGISTRY[name]
    assert isinstance(op, Op)
    assert op.name == name
    assert isinstance(op.formula, str) and op.formula.strip(), f"op '{name}' has no formula"
    assert op.vjp is not None and callable(op.vjp), f"op '{name}' has no VJP"


@pytest.mark.parametrize("name", ALL_OPS)
def test_op_gradient_matches_finite_differences(name):
    cases = CASES.get(name)
    assert cases, (
        f"op '{name}' is registered but has no gradcheck case: add one to CASES in "
        "tests/autodiff/test_op_registry.py"
    )
    failures = []
    for c in cases:
        for value in c.inputs:
            if isinstance(value, Tensor) and value.requires_grad:
                assert value.dtype == np.float64, c.label
        try:
            seen, inputs = _ops_on_backward_path(c)
            if name not in seen:
                failures.append(f"{c.label}: backward never reached op '{name}' (saw {seen})")
            for i, value in enumerate(inputs):
                if isinstance(value, Tensor) and value.requires_grad:
                    if value.grad is None or value.grad.shape != value.shape:
                        failures.append(
                            f"{c.label}: input {i} of shape {value.shape} got gradient "
                            f"{None if value.grad is None else value.grad.shape}"
                        )
            assert gradcheck(c.fn, c.inputs) is True
        except GradcheckError as error:
            failures.append(f"{c.label}: {error}")
        except Exception as error:  # a crash is a failure of this case, reported with the rest
            failures.append(f"{c.label}: raised {type(error).__name__}: {error}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", TARGET_GRAD_OPS)
def test_losses_check_the_targets_gradient(name):
    with_target = [
        c
        for c in CASES[name]
        if sum(isinstance(v, Tensor) and v.requires_grad for v in c.inputs) >= 2
    ]
    assert with_target, f"no case of '{name}' checks the gradient with respect to the target"
    for c in with_target:
        _, inputs = _ops_on_backward_path(c)
        target = inputs[1]
        assert target.grad is not None and np.any(target.grad != 0), c.label


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss])
def test_pointwise_loss_target_gradient_is_minus_input_gradient(loss):
    # ℓ depends on x − y only, so dℓ/dy = −dℓ/dx exactly.
    x, y = rand(3, 4), rand(3, 4)
    loss(x, y, reduction="sum").backward()
    np.testing.assert_array_equal(y.grad, -x.grad)
    assert np.any(x.grad != 0)


def test_cross_entropy_probability_target_gradient_is_minus_log_softmax():
    x, y = rand(4, 3), simplex(4, 3)
    F.cross_entropy(x, y, reduction="sum").backward()
    np.testing.assert_allclose(y.grad, -F.log_softmax(x.detach(), dim=1).data, rtol=1e-12)
    np.testing.assert_allclose(
        x.grad, F.softmax(x.detach(), dim=1).data - y.data, rtol=1e-10, atol=1e-12
    )
