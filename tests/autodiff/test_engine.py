"""The backward engine: deep and wide graphs, graph order, anomaly mode, backward
events, grad modes, dtypes and unbroadcasting."""

from __future__ import annotations

import gc
import inspect
import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F

THIS_FILE = os.path.basename(__file__)


@pytest.fixture(autouse=True)
def _clean_global_state():
    assert cr.is_grad_enabled()
    yield
    if not cr.is_grad_enabled():
        cr.set_grad_enabled(True)  # as a plain call this sets the mode, as in PyTorch
        pytest.fail("grad mode was left disabled")


def leaf(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def numerical_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function of a float64 array."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (f(xp) - f(xm)) / (2 * h)
    return grad


# -- deep and wide graphs ----------------------------------------------------------------
def test_chain_of_100k_muls_backpropagates_exactly():
    n, factor = 100_000, 1.0000001
    x = leaf(1.0)
    start = time.perf_counter()
    y = x
    for _ in range(n):
        y = y * factor
    y.backward()
    elapsed = time.perf_counter() - start
    # the engine multiplies the incoming gradient by the factor once per node: replay it
    expected = 1.0
    for _ in range(n):
        expected = expected * factor
    assert float(x.grad) == expected
    assert y.item() == expected
    assert elapsed < 15.0, f"100k-node chain took {elapsed:.1f}s"


def test_chain_of_100k_adds_with_vector_leaf():
    x = leaf([1.0, -2.0, 3.0])
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_deep_retained_graph_can_be_freed():
    x = leaf(2.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward(retain_graph=True)
    y.backward()
    assert float(x.grad) == 2.0
    del y
    gc.collect()  # dropping a 100k-deep graph must not overflow the C stack


def test_wide_fan_out_leaf():
    x = leaf(2.0)
    terms = [x * 3.0 for _ in range(10_000)]
    cr.stack(terms).sum().backward()
    assert float(x.grad) == 30_000.0


def test_wide_fan_out_distinct_local_derivatives():
    x = leaf([1.0, 2.0])
    cs = np.arange(10_000, dtype=np.float64)
    terms = [x * c for c in cs]
    cr.stack(terms).sum().backward()
    np.testing.assert_array_equal(x.grad, [cs.sum(), cs.sum()])


def test_wide_fan_out_python_sum_through_intermediate():
    x = leaf(0.5)
    h = x * 2.0  # a non-leaf used 10,000 times: its gradient accumulates in the engine
    total = sum(h * 3.0 for _ in range(10_000))
    total.backward()
    assert float(x.grad) == 60_000.0


# -- graph order ---------------------------------------------------------------------
def test_node_used_directly_and_through_another_node_first_argument():
    """r = y + x where x itself depends on y: y must wait for x's contribution."""
    a = leaf(1.0)
    y = a * 2
    x = y * 3
    r = y + x
    r.backward()
    assert float(a.grad) == 8.0  # dr/da = 2 + 3·2


def test_node_used_directly_and_through_another_node_second_argument():
    a = leaf(1.0)
    y = a * 2
    x = y * 3
    r = x + y
    r.backward()
    assert float(a.grad) == 8.0


@pytest.mark.parametrize(
    "build",
    [
        lambda a: (lambda y: y * (y * y))(a.tanh()),
        lambda a: (lambda y: cr.stack([y, y * 2, (y * 2) * 3]).sum())(a * 1.5),
        lambda a: (lambda y: (y + (y + (y + y.sin()))).sum())(a * 0.5),
        lambda a: (lambda y: (lambda z: y * z + z)(y.exp() * y))(a + 0.1),
    ],
    ids=["y*(y*y)", "stack-depths", "nested-adds", "y*z+z"],
)
def test_diamond_graphs_match_finite_differences(build):
    a0 = np.array([0.3, -0.7])

    def f(values):
        return float(build(cr.tensor(values)).sum().item())

    a = leaf(a0)
    build(a).sum().backward()
    np.testing.assert_allclose(a.grad, numerical_grad(f, a0), rtol=1e-6, atol=1e-8)


_OPS = ["add", "sub", "mul", "tanh_mul", "sin_add"]


def _apply(op: str, u, v):
    if op == "add":
        return u + v
    if op == "sub":
        return u - v
    if op == "mul":
        return u * v
    if op == "tanh_mul":
        return u.tanh() * v
    return u.sin() + v


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_OPS), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=12,
    ),
    st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=2),
)
def test_random_dags_match_finite_differences(steps, start):
    """Each new node combines two earlier nodes picked at random (fan-out everywhere)."""

    def run(values, as_leaf):
        a = leaf(values) if as_leaf else cr.tensor(np.asarray(values))
        nodes = [a, a * 0.5]
        for op, i, j in steps:
            nodes.append(_apply(op, nodes[i % len(nodes)], nodes[j % len(nodes)]))
        return a, sum(n.sum() * (k + 1) * 0.1 for k, n in enumerate(nodes[1:]))

    a0 = np.asarray(start, dtype=np.float64)
    a, out = run(a0, True)
    out.backward()
    expected = numerical_grad(lambda v: float(run(v, False)[1].item()), a0)
    np.testing.assert_allclose(a.grad, expected, rtol=1e-5, atol=1e-6)


# -- anomaly mode --------------------------------------------------------------------
def test_detect_anomaly_names_op_and_line_method_form():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        y = x.sqrt()
        z = (y * 2).sum()
        with pytest.raises(cr.AnomalyError) as info:
            z.backward()
    message = str(info.value)
    assert "'sqrt'" in message
    assert "inf" in message
    assert f"{THIS_FILE}:{line}" in message


def test_detect_anomaly_names_op_and_line_function_form():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        y = cr.sqrt(x)
        z = (y * 2).sum()
        with pytest.raises(cr.AnomalyError) as info:
            z.backward()
    message = str(info.value)
    assert "'sqrt'" in message
    assert f"{THIS_FILE}:{line}" in message


def test_detect_anomaly_names_line_for_method_built_on_functions():
    """x.std() goes through methods -> functions -> the sqrt op: still the user's line."""
    x = leaf([2.0, 2.0, 2.0])  # zero spread: sqrt'(0) is infinite
    with np.errstate(all="ignore"), cr.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        s = x.std()
        with pytest.raises(cr.AnomalyError) as info:
            s.backward()
    assert "'sqrt'" in str(info.value)
    assert f"{THIS_FILE}:{line}" in str(info.value)


def test_detect_anomaly_names_line_for_operator():
    x = leaf([0.0, 1.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        y = x**0.5
        with pytest.raises(cr.AnomalyError) as info:
            y.sum().backward()
    assert "'pow'" in str(info.value)
    assert f"{THIS_FILE}:{line}" in str(info.value)


def test_detect_anomaly_nan_from_sqrt_of_negative():
    x = leaf([-1.0, 4.0])
    with np.errstate(all="ignore"), cr.detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        y = x.sqrt().sum()
        with pytest.raises(cr.AnomalyError) as info:
            y.backward()
    assert "'sqrt'" in str(info.value) and "NaN" in str(info.value)
    assert f"{THIS_FILE}:{line}" in str(info.value)
    assert issubclass(cr.AnomalyError, FloatingPointError)


def test_without_anomaly_mode_no_error_and_inf_gradient():
    x = leaf([0.0, 4.0])
    with np.errstate(all="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad[0]) and x.grad[1] == 0.25


def test_detect_anomaly_mode_is_restored():
    x = leaf([0.0])
    with pytest.raises(cr.AnomalyError), np.errstate(all="ignore"), cr.detect_anomaly():
        x.sqrt().sum().backward()
    x2 = leaf([0.0])
    with np.errstate(all="ignore"):
        x2.sqrt().sum().backward()  # anomaly mode is off again: no error
    assert np.isinf(x2.grad[0])


def test_detect_anomaly_silent_on_finite_graph():
    x = leaf([1.0, 4.0])
    with cr.detect_anomaly():
        x.sqrt().sum().backward()
    np.testing.assert_allclose(x.grad, [0.5, 0.25])


# -- backward events -----------------------------------------------------------------
def test_listen_backward_one_event_per_node():
    a = leaf(np.arange(3.0).reshape(3, 1))
    b = leaf([1.0, 2.0, 3.0, 4.0])
    w = cr.tensor(np.arange(12.0).reshape(3, 4))
    events, seen_by_second = [], []
    with cr.autodiff.listen_backward(events.append), cr.listen_backward(seen_by_second.append):
        s = a + b
        p = s * w
        loss = p.sum()
        loss.backward()
    names = [e.node.op.name for e in events]
    assert names == ["sum", "mul", "add"]
    assert len(seen_by_second) == 3
    assert all(isinstance(e, cr.BackwardEvent) for e in events)

    sum_ev, mul_ev, add_ev = events
    assert sum_ev.grad_output.shape == () and float(sum_ev.grad_output) == 1.0
    np.testing.assert_array_equal(sum_ev.grad_inputs[0], np.ones((3, 4)))
    np.testing.assert_array_equal(mul_ev.grad_output, np.ones((3, 4)))
    np.testing.assert_array_equal(mul_ev.grad_inputs[0], w.data)
    assert mul_ev.grad_inputs[1] is None  # w does not require grad
    np.testing.assert_array_equal(add_ev.grad_output, w.data)
    # grad_inputs arrive unbroadcast, i.e. equal to what the leaves receive
    assert add_ev.grad_inputs[0].shape == (3, 1) and add_ev.grad_inputs[1].shape == (4,)
    np.testing.assert_array_equal(add_ev.grad_inputs[0], a.grad)
    np.testing.assert_array_equal(add_ev.grad_inputs[1], b.grad)
    np.testing.assert_array_equal(a.grad, w.data.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(b.grad, w.data.sum(axis=0))
    assert mul_ev.node.op.formula  # what explain shows

    # after the block no more events arrive
    (leaf([1.0]) * 2).sum().backward()
    assert len(events) == 3


def test_listen_backward_events_match_vjp_chain():
    x = leaf([0.3, -0.2])
    events = []
    with cr.listen_backward(events.append):
        y = F.sigmoid(x)
        loss = (y * y).sum()
        loss.backward()
    sig = 1 / (1 + np.exp(-x.data))
    by_name = {e.node.op.name: e for e in events}
    assert set(by_name) == {"sum", "mul", "sigmoid"}
    np.testing.assert_allclose(by_name["sigmoid"].grad_output, 2 * sig, rtol=1e-14)
    np.testing.assert_allclose(by_name["sigmoid"].grad_inputs[0], x.grad, rtol=0)
    np.testing.assert_allclose(x.grad, 2 * sig * sig * (1 - sig), rtol=1e-14)


# -- grad modes ----------------------------------------------------------------------
def test_set_grad_enabled_context_restores_previous_mode():
    try:
        with cr.set_grad_enabled(False):
            assert not cr.is_grad_enabled()
            y = leaf([1.0]) * 2
        assert not y.requires_grad
        assert cr.is_grad_enabled(), "grad mode stayed off after `with set_grad_enabled(False)`"
    finally:
        cr.set_grad_enabled(True)


def test_set_grad_enabled_true_inside_no_grad():
    with cr.no_grad():
        with cr.set_grad_enabled(True):
            y = leaf([1.0]) * 2
        assert not cr.is_grad_enabled()
    assert y.requires_grad
    assert cr.is_grad_enabled()


def test_set_grad_enabled_as_decorator():
    try:

        @cr.set_grad_enabled(False)
        def f(t):
            return t * 2

        cr.set_grad_enabled(True)  # PyTorch's decorator does not leave the mode changed
        y = f(leaf([1.0]))
        assert not y.requires_grad
        assert cr.is_grad_enabled()
    finally:
        cr.set_grad_enabled(True)


def test_set_grad_enabled_plain_call():
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
        assert not (leaf([1.0]) * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()


# -- dtypes --------------------------------------------------------------------------
def test_int_tensors_in_graph():
    k = cr.tensor([1, 2, 3])
    x = cr.tensor([0.5, 1.5, -2.0], requires_grad=True)  # float32
    y = (x * k + k).sum()
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])
    assert k.grad is None and not k.requires_grad
    z = k * 2 + k
    assert z.dtype == np.int64 and not z.requires_grad
    x2 = leaf([2.0, 3.0, 4.0])
    (x2**k).sum().backward()
    np.testing.assert_allclose(x2.grad, k.data * x2.data ** (k.data - 1))


def test_float32_graph_gives_float32_everywhere():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    W = cr.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    b = cr.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    t = cr.tensor(rng.standard_normal((4, 5)).astype(np.float32))
    h = F.linear(x, W, b)
    intermediates = [h]
    a = F.sigmoid(h) + F.tanh(h) * 0.5 + F.relu(h)
    intermediates.append(a)
    a = a / (1.0 + a.abs()) + (a * a + 1.0).sqrt() + (a * a + 1.0).log() + a.exp() * 0.1
    intermediates.append(a)
    a = F.softmax(a, dim=-1) + F.log_softmax(a, dim=1) * 0.1 + a**2 * 0.01
    intermediates.append(a)
    a = a - a.mean(dim=0, keepdims=True) + a.var(dim=1, keepdims=True) + a.max(dim=1, keepdims=True)
    intermediates.append(a)
    a = cr.cat([a[:, :2], a[:, 2:]], dim=1) @ cr.tensor(np.eye(5, dtype=np.float32))
    intermediates.append(a)
    loss = F.mse_loss(a, t) + F.binary_cross_entropy_with_logits(a, (t > 0).astype(np.float32))
    intermediates.append(loss)
    for k, v in enumerate(intermediates):
        assert v.dtype == np.float32, f"intermediate {k} became {v.dtype}"
        v.retain_grad()
    loss.backward()
    for name, p in {"x": x, "W": W, "b": b}.items():
        assert p.grad.dtype == np.float32, name
        assert np.all(np.isfinite(p.grad)), name
    for k, v in enumerate(intermediates):
        assert v.grad.dtype == np.float32, f"intermediate {k} grad is {v.grad.dtype}"


def test_gradient_dtype_matches_leaf_with_float64_scalar_array():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)  # float32
    y = x * np.array(2.0)  # a 0-d float64 array does not widen a float32 tensor (PyTorch)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])

    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = cr.tensor(np.float64(1.5), requires_grad=True)
    (x * s).sum().backward()
    assert x.grad.dtype == np.float32 and s.grad.dtype == np.float64
    assert s.grad.shape == ()
    np.testing.assert_array_equal(x.grad, [1.5, 1.5, 1.5])
    assert float(s.grad) == 6.0


def test_backward_seed_is_cast_to_output_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(gradient=np.array([1.0, 1.0], dtype=np.float64))
    assert x.grad.dtype == np.float32


# -- unbroadcast ---------------------------------------------------------------------
def test_unbroadcast_leaf_grads_have_their_own_shapes():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones(4))
    (a + b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))


def test_unbroadcast_weighted_and_higher_rank():
    rng = np.random.default_rng(1)
    a = leaf(rng.standard_normal((3, 1)))
    b = leaf(rng.standard_normal((2, 1, 4)))
    c = leaf(rng.standard_normal((1,)))
    s = leaf(1.5)
    W = rng.standard_normal((2, 3, 4))
    ((a * b + c) * s * W).sum().backward()
    np.testing.assert_allclose(a.grad, (W * s.data * b.data).sum(axis=(0, 2))[:, None])
    np.testing.assert_allclose(b.grad, (W * s.data * a.data).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(c.grad, [(W * s.data).sum()])
    assert float(s.grad) == pytest.approx(((a.data * b.data + c.data) * W).sum(), rel=1e-12)


def test_unbroadcast_function():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(cr.unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(cr.unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(cr.unbroadcast(g, (1, 3, 1)), g.sum(axis=(0, 2), keepdims=True))
    assert cr.unbroadcast(g, ()).shape == () and cr.unbroadcast(g, ()) == g.sum()
    assert cr.unbroadcast(g, g.shape) is g
    np.testing.assert_array_equal(cr.unbroadcast(np.float64(2.0), (2, 2)), np.full((2, 2), 2.0))


# -- stored gradients are safe to update in place ----------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda x, w: x.sum() + w.sum(),
        lambda x, w: (x + w).sum(),
        lambda x, w: x.mean() + (w * 1.0).mean(),
        lambda x, w: x.reshape(3, 1).expand(3, 2).sum() + w.sum(),
        lambda x, w: cr.cat([x, w]).sum(),
        lambda x, w: cr.stack([x, w]).sum(),
        lambda x, w: x[0:3].sum() + w[:].sum(),
    ],
    ids=["sum", "add", "mean", "expand", "cat", "stack", "slice"],
)
def test_leaf_grads_are_writable_and_unaliased(build):
    x, w = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    build(x, w).backward()
    before_w = w.grad.copy()
    assert x.grad.flags.writeable and w.grad.flags.writeable
    x.grad *= 0.0  # what an optimizer's zero_grad / in-place step does
    np.testing.assert_array_equal(w.grad, before_w)
    assert not np.shares_memory(x.grad, w.grad)


def test_vjp_declaring_needs_is_told_which_arguments_want_a_gradient():
    from chainrule.autodiff.registry import defop

    seen = []

    @defop("_test_needs_probe")
    def probe(a, b):
        return a * b

    @probe.defvjp
    def _probe_vjp(g, out, a, b, *, needs=(0, 1)):
        seen.append(needs)
        return (g * b if 0 in needs else None), (g * a if 1 in needs else None)

    try:
        a = cr.tensor([1.0, 2.0], requires_grad=True)
        b = cr.tensor([3.0, 4.0])
        probe(a, b).sum().backward()
        assert seen == [(0,)]
        np.testing.assert_array_equal(a.grad, [3.0, 4.0])
        assert b.grad is None
    finally:
        from chainrule.autodiff.registry import REGISTRY

        REGISTRY.pop("_test_needs_probe", None)


def test_first_linear_layer_gets_weight_gradient_without_input_gradient():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.normal(size=(5, 3)))
    w = cr.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    b = cr.tensor(rng.normal(size=4), requires_grad=True)
    F.linear(x, w, b).sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((5, 4)).T @ x.data)
    np.testing.assert_allclose(b.grad, np.full(4, 5.0))
    assert x.grad is None


# -- leaf gradients accumulate in place (PyTorch semantics) ---------------------------------
def test_second_backward_adds_into_the_same_grad_array():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    first = x.grad
    (x * x).sum().backward()
    assert x.grad is first  # accumulated in place, not rebound
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_zeroed_grad_array_is_reused_by_the_next_backward():
    w = leaf([[1.0, 2.0]])
    opt = cr.optim.SGD([w], lr=0.1)
    (w * 2.0).sum().backward()
    kept = w.grad
    opt.zero_grad(set_to_none=False)
    (w * 5.0).sum().backward()
    assert w.grad is kept
    np.testing.assert_array_equal(w.grad, [[5.0, 5.0]])


def test_read_only_or_foreign_grad_is_replaced_not_written():
    x = leaf([1.0, 2.0])
    frozen = np.array([10.0, 20.0])
    frozen.flags.writeable = False
    x.grad = frozen
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [12.0, 22.0])
    np.testing.assert_array_equal(frozen, [10.0, 20.0])
    x.grad = np.array([1, 1])  # an integer array cannot take float gradients in place
    (x * 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.5, 1.5])


@pytest.fixture
def duplicate_op():
    """An op whose VJP returns one fresh array for both arguments (the contract allows it)."""
    from chainrule.autodiff.registry import REGISTRY, defop

    @defop("_test_same_array_twice")
    def twice(a, b):
        return a + b

    @twice.defvjp
    def _twice_vjp(g, out, a, b):
        fresh = g * 1.0
        return fresh, fresh

    yield twice
    REGISTRY.pop("_test_same_array_twice", None)


def test_array_sent_to_a_leaf_and_a_node_is_not_shared(duplicate_op):
    """The leaf's later in-place addition must not reach the gradient still pending for y."""
    x, w = leaf([1.0, 2.0]), leaf([1.0, 1.0])
    y = w * 3.0
    u = x * 5.0  # made before the op below, so it adds into x.grad after the op's VJP
    (duplicate_op(x, y) + u).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])


def test_array_sent_twice_to_one_leaf_is_counted_twice(duplicate_op):
    x = leaf([1.0, 2.0])
    (duplicate_op(x, x) + x * 4.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


# -- cheap paths give the general path's values ------------------------------------------
@pytest.mark.parametrize("power", [1, 2, 3, 2.0, 5.0])
def test_integer_powers_skip_errstate_and_match_the_formula(power):
    x = leaf([0.0, -1.5, 2.0])
    with np.errstate(all="raise"):  # nothing may warn: x ** n at 0 is exact
        (x**power).sum().backward()
    np.testing.assert_array_equal(x.grad, power * x.data ** (power - 1))


def test_zero_and_fractional_powers_keep_the_masked_path():
    x = leaf([0.0, 4.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    x.grad = None
    (x**0.5).sum().backward()
    assert np.isinf(x.grad[0]) and x.grad[1] == 0.25


@pytest.mark.parametrize("size", [3, 5000])  # a filled array, then a broadcast view
def test_sum_and_mean_gradients_either_side_of_the_copy_threshold(size):
    x = leaf(np.arange(size, dtype=np.float64))
    (x.sum() * 2.0 + x.mean()).backward()
    np.testing.assert_allclose(x.grad, np.full(size, 2.0 + 1.0 / size), rtol=1e-15)
    assert x.grad.flags.writeable


def test_one_pass_unbroadcast_sums_leading_and_stretched_axes():
    a, b = leaf(np.ones((1, 3))), leaf(np.ones((2, 1, 1)))
    (a * b * np.arange(6.0).reshape(2, 1, 3)).sum().backward()
    np.testing.assert_array_equal(a.grad, [[3.0, 5.0, 7.0]])
    np.testing.assert_array_equal(b.grad, [[[3.0]], [[12.0]]])
