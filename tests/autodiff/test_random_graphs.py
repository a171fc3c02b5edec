"""Random computation graphs, with broadcasting and fan-out, pass gradcheck.

A graph is drawn as a *recipe* (leaf shapes, a seed, a list of steps naming ops and
earlier nodes by number), then resolved once against the leaves' starting values into
a *plan* that no longer looks at the data, so every finite-difference evaluation
replays exactly the same ops. Shapes stay broadcast-compatible with (3, 4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autodiff import Tensor, gradcheck

SHAPES = [(3, 4), (4,), (3, 1), (1, 4), ()]
UNARY = [
    "exp_tanh",
    "tanh",
    "sigmoid",
    "sin",
    "cos",
    "scale",
    "log_sq1",
    "softplus",
    "sqrt_sq1",
    "neg",
    "mean_last",
    "sum_first",
    "softmax",
    "expand",
    "gather_rows",
    "gather_cols",
    "square",
]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "matmul", "rsub_const"]
BOUND_LIMIT = 30.0  # beyond this a product is squashed by tanh, so values stay moderate


# -- recipes -------------------------------------------------------------------------------
def _step():
    unary = st.tuples(
        st.just("unary"),
        st.sampled_from(UNARY),
        st.integers(0, 10**6),
        st.just(0),
        st.floats(-1.5, 1.5, allow_nan=False),
    )
    binary = st.tuples(
        st.just("binary"),
        st.sampled_from(BINARY),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.floats(-1.5, 1.5, allow_nan=False),
    )
    return st.one_of(unary, binary)


@st.composite
def recipes(draw):
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=2, max_size=3))
    seed = draw(st.integers(0, 2**32 - 1))
    steps = draw(st.lists(_step(), min_size=3, max_size=8))
    sinks = draw(st.lists(st.integers(0, 10**6), min_size=0, max_size=2))
    weighted = draw(st.booleans())
    return shapes, seed, steps, sinks, weighted


# -- unary and binary steps ----------------------------------------------------------------
def _unary(name: str, x: Tensor, c: float) -> Tensor:
    if name == "exp_tanh":
        return cr.exp(cr.tanh(x))
    if name == "tanh":
        return x.tanh()
    if name == "sigmoid":
        return cr.sigmoid(x)
    if name == "sin":
        return cr.sin(x)
    if name == "cos":
        return x.cos()
    if name == "scale":
        return x * c
    if name == "log_sq1":
        return cr.log(x * x + 1.0)
    if name == "softplus":
        return F.softplus(x)
    if name == "sqrt_sq1":
        return cr.sqrt(x * x + 0.5)
    if name == "neg":
        return -x
    if name == "square":
        return x**2
    if name == "mean_last":  # (3,4)->(3,1), (4,)->(1,), (1,4)->(1,1)
        return x.mean(axis=-1, keepdims=True) if x.ndim else x * 1.0
    if name == "sum_first":  # (3,4)->(1,4), (3,1)->(1,1)
        return cr.sum(x, dim=0, keepdims=True) / 3.0 if x.ndim == 2 else x * 1.0
    if name == "softmax":
        return cr.softmax(x, dim=-1) if x.ndim else cr.sigmoid(x)
    if name == "expand":
        return x.expand(3, 4) * 0.5
    if name == "gather_rows":  # integer-array indexing with repeats
        return x[np.array([2, 0, 0])] if x.ndim == 2 and x.shape[0] == 3 else x * 1.0
    if name == "gather_cols":
        return x[..., np.array([1, 1, 3, 0])] if x.ndim and x.shape[-1] == 4 else x * 1.0
    raise AssertionError(name)


def _unary_bound(name: str, b: float, c: float) -> float:
    return {
        "exp_tanh": math.e,
        "tanh": 1.0,
        "sigmoid": 1.0,
        "sin": 1.0,
        "cos": 1.0,
        "scale": abs(c) * b,
        "log_sq1": math.log(b * b + 1),
        "softplus": b + 1.0,
        "sqrt_sq1": math.sqrt(b * b + 0.5),
        "softmax": 1.0,
        "expand": 0.5 * b,
        "square": b * b,
    }.get(name, b)


def _fit_shape(t: Tensor) -> Tensor:
    """Bring a matmul result back into the family broadcastable to (3, 4)."""
    if t.shape == (3,):
        return t.reshape(3, 1)
    if t.shape == (1, 3):
        return t.T
    if t.shape == (3, 3):
        return t.mean(axis=-1, keepdims=True)
    return t


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    right = b if b.ndim == 1 else b.T
    return _fit_shape(a @ right)


def _can_matmul(sa: tuple, sb: tuple) -> bool:
    return len(sa) >= 1 and len(sb) >= 1 and sa[-1] == 4 and sb[-1] == 4


def _binary(name: str, a: Tensor, b: Tensor, c: float) -> Tensor:
    if name == "add":
        return a + b
    if name == "sub":
        return a - b
    if name == "mul":
        return a * b
    if name == "div":
        return a / (b * b + 1.0)
    if name == "maximum":
        return cr.maximum(a, b + 0.05)
    if name == "minimum":
        return a.minimum(b - 0.05)
    if name == "matmul":
        return _matmul(a, b)
    if name == "rsub_const":
        return c - a * b
    raise AssertionError(name)


def _binary_bound(name: str, ba: float, bb: float, c: float) -> float:
    return {
        "add": ba + bb,
        "sub": ba + bb,
        "mul": ba * bb,
        "div": ba,
        "maximum": max(ba, bb + 0.05),
        "minimum": max(ba, bb + 0.05),
        "matmul": 4 * ba * bb,
        "rsub_const": abs(c) + ba * bb,
    }[name]


# -- plan: resolve a recipe once against the starting values --------------------------------
def make_plan(recipe):
    shapes, seed, steps, sinks, weighted = recipe
    rng = np.random.default_rng(seed)
    leaves = [rng.uniform(-1.5, 1.5, size=s) for s in shapes]
    values = [Tensor(v) for v in leaves]
    bounds = [1.5] * len(leaves)
    plan = []
    for kind, name, i, j, c in steps:
        i %= len(values)
        if kind == "unary":
            out, bound, entry = (
                _unary(name, values[i], c),
                _unary_bound(name, bounds[i], c),
                ("unary", name, i, None, c),
            )
        else:
            j %= len(values)
            a, b = values[i], values[j]
            if name == "matmul" and not _can_matmul(a.shape, b.shape):
                name = "mul"
            if name in ("maximum", "minimum"):
                shifted = b.data + (0.05 if name == "maximum" else -0.05)
                if np.min(np.abs(a.data - shifted)) < 1e-3:  # too close to a kink
                    name = "add"
            out = _binary(name, a, b, c)
            bound = _binary_bound(name, bounds[i], bounds[j], c)
            entry = ("binary", name, i, j, c)
        squash = bound > BOUND_LIMIT
        if squash:
            out, bound = out.tanh(), 1.0
        plan.append((*entry, squash))
        values.append(out)
        bounds.append(bound)
    outputs = [len(values) - 1] + [k % len(values) for k in sinks]
    weights = [rng.standard_normal(values[k].shape) if weighted else None for k in outputs]
    return leaves, plan, outputs, weights


def run_plan(plan, outputs, weights, *leaves):
    values = list(leaves)
    for kind, name, i, j, c, squash in plan:
        if kind == "unary":
            out = _unary(name, values[i], c)
        else:
            out = _binary(name, values[i], values[j], c)
        values.append(out.tanh() if squash else out)
    total = None
    for k, w in zip(outputs, weights, strict=True):
        term = (values[k] * Tensor(w)).sum() if w is not None else values[k].sum()
        total = term if total is None else total + term
    return total


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recipes())
def test_random_graph_passes_gradcheck(recipe):
    leaves, plan, outputs, weights = make_plan(recipe)
    inputs = [Tensor(v.copy(), requires_grad=True) for v in leaves]
    result = run_plan(plan, outputs, weights, *inputs)
    assert result.shape == ()
    assert np.isfinite(result.data)
    assert gradcheck(lambda *xs: run_plan(plan, outputs, weights, *xs), inputs) is True


def test_plans_exercise_fan_out_broadcasting_and_matmul():
    # The strategy must actually produce the structures it exists to test.
    reused = broadcast = matmuls = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        steps = []
        for _ in range(8):
            kind = "binary" if rng.random() < 0.5 else "unary"
            name = str(rng.choice(BINARY if kind == "binary" else UNARY))
            steps.append((kind, name, int(rng.integers(10**6)), int(rng.integers(10**6)), 0.7))
        shapes = [SHAPES[int(s)] for s in rng.integers(len(SHAPES), size=3)]
        _, plan, _, _ = make_plan((shapes, seed, steps, [], True))
        used = [i for _, _, i, _, _, _ in plan] + [j for k, _, _, j, _, _ in plan if k == "binary"]
        reused += len(used) != len(set(used))
        broadcast += len(set(shapes)) > 1
        matmuls += any(name == "matmul" for _, name, *_ in plan)
    assert reused > 10 and broadcast > 10 and matmuls > 0


# -- fan-out: gradients from several paths add up -------------------------------------------
def test_node_used_by_several_paths_accumulates_hand_computed_gradient():
    x0 = np.array([-1.2, 0.3, 0.8])
    x = Tensor(x0.copy(), requires_grad=True)
    y = x * x  # used by three paths below, and x itself by a fourth
    z = cr.sin(y) + y * x + cr.exp(y)
    z.sum().backward()
    expected = np.cos(x0**2) * 2 * x0 + 3 * x0**2 + np.exp(x0**2) * 2 * x0
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_diamond_through_a_shared_intermediate():
    x0 = np.array([[0.4, -0.9], [1.3, 0.1]])
    x = Tensor(x0.copy(), requires_grad=True)
    u = x.tanh()
    loss = (u * 2.0 + u * u - u.exp()).sum()
    loss.backward()
    t = np.tanh(x0)
    np.testing.assert_allclose(x.grad, (2 + 2 * t - np.exp(t)) * (1 - t * t), rtol=1e-12)


def test_fan_out_with_broadcasting_sums_over_expanded_axes():
    a0, b0 = np.array([[0.5], [-1.0], [2.0]]), np.array([0.3, -0.7, 1.1, 0.2])
    a = Tensor(a0.copy(), requires_grad=True)
    b = Tensor(b0.copy(), requires_grad=True)
    c = a * b  # (3, 4)
    loss = (c + c * a).sum()
    loss.backward()
    # d/da_i = Σ_j b_j (1 + 2 a_i);  d/db_j = Σ_i (a_i + a_i²)
    np.testing.assert_allclose(a.grad, (b0.sum() * (1 + 2 * a0)), rtol=1e-12)
    np.testing.assert_allclose(b.grad, np.full(4, np.sum(a0 + a0**2)), rtol=1e-12)
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)


def test_many_paths_to_one_leaf():
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    total = x
    for k in range(1, 10):
        total = total + x * float(k)
    total.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(2, 1.0 + sum(range(1, 10))))


def test_same_random_graph_gives_same_gradient_on_rebuild_and_accumulates():
    recipe = (
        [(3, 4), (4,), (3, 1)],
        123,
        [
            ("binary", "mul", 0, 1, 0.0),
            ("unary", "exp_tanh", 3, 0, 0.0),
            ("binary", "add", 4, 3, 0.0),
            ("binary", "matmul", 5, 1, 0.0),
            ("binary", "div", 6, 5, 0.0),
            ("unary", "gather_rows", 7, 0, 0.0),
        ],
        [2, 3],
        True,
    )
    leaves, plan, outputs, weights = make_plan(recipe)
    inputs = [Tensor(v.copy(), requires_grad=True) for v in leaves]
    run_plan(plan, outputs, weights, *inputs).backward()
    first = [t.grad.copy() for t in inputs]
    run_plan(plan, outputs, weights, *inputs).backward()  # a second graph: .grad adds up
    for g, t in zip(first, inputs, strict=True):
        np.testing.assert_allclose(t.grad, 2 * g, rtol=1e-13)
    assert gradcheck(lambda *xs: run_plan(plan, outputs, weights, *xs), inputs) is True


@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4,)), ((1, 4), (3, 4)), ((4,), (1, 4))])
def test_matmul_steps_keep_shapes_in_the_family(shape_a, shape_b):
    a = Tensor(np.ones(shape_a), requires_grad=True)
    b = Tensor(np.ones(shape_b), requires_grad=True)
    out = _matmul(a, b)
    np.broadcast_shapes(out.shape, (3, 4))  # raises if the family were broken
