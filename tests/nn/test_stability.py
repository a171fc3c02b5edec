"""Extreme inputs through every activation and loss: finite values and gradients, exact
asymptotes, and closed forms checked by hand with Python's math module.

Everything runs under ``np.errstate(over="raise", divide="raise", invalid="raise")``, so an
intermediate overflow, log(0) or inf - inf fails the test even when the final result
would have been masked back to a finite number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

EXTREMES = [1000.0, -1000.0, 709.8, -709.8, 30.0, -30.0, 0.0, 1e-8, -1e-8]
DTYPES = [np.float64, np.float32]
REDUCTIONS = ("mean", "sum", "none")
EPS = float(np.finfo(np.float64).eps)


def strict():
    return np.errstate(over="raise", divide="raise", invalid="raise")


def _extremes(dtype) -> np.ndarray:
    return np.array(EXTREMES, dtype=dtype)


def run_strict(fn: Callable, *arrays: np.ndarray, diff=(0,)):
    """fn(*tensors) and its backward under strict errstate; returns (out, grads)."""
    with strict():
        tensors = [cr.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
        out = fn(*tensors)
        seed = np.ones(out.shape, dtype=out.dtype)
        out.backward(seed)
    grads = [tensors[i].grad for i in diff]
    return out, grads


def assert_all_finite(out, grads, dtype):
    assert out.dtype == dtype, (out.dtype, dtype)
    assert np.all(np.isfinite(out.data)), out.data
    for g in grads:
        assert g is not None
        assert g.dtype == dtype
        assert np.all(np.isfinite(g)), g


# -- activations: finite everywhere ------------------------------------------------------
ACTIVATIONS = {
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": F.elu,
    "elu_alpha2": lambda x: F.elu(x, alpha=2.0),
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softplus": F.softplus,
    "softplus_beta2_thr1e3": lambda x: F.softplus(x, beta=2.0, threshold=1e4),
    "softplus_no_threshold": lambda x: F.softplus(x, threshold=math.inf),
    "softmax": lambda x: F.softmax(x, dim=0),
    "log_softmax": lambda x: F.log_softmax(x, dim=0),
    "logsumexp": lambda x: cr.logsumexp(x, dim=0),
    "softmax_rows": lambda x: F.softmax(cr.reshape(x, 3, 3), dim=1),
    "log_softmax_cols": lambda x: F.log_softmax(cr.reshape(x, 3, 3), dim=0),
    "logsumexp_rows": lambda x: cr.logsumexp(cr.reshape(x, 3, 3), dim=1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_finite_on_extremes(name, dtype):
    out, grads = run_strict(ACTIVATIONS[name], _extremes(dtype))
    assert_all_finite(out, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_finite_on_all_large_same_sign(name, dtype):
    fn = ACTIVATIONS[name]
    for values in ([1000.0, 999.0, 1000.0], [-1000.0, -709.8, -1000.0], [709.8, 709.8, -709.8]):
        out, grads = run_strict(fn, np.array(values, dtype=dtype))
        assert_all_finite(out, grads, dtype)


# -- exact asymptotes ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_log_softmax_asymptote(dtype):
    x = cr.tensor(np.array([1000.0, 0.0], dtype=dtype), requires_grad=True)
    with strict():
        out = F.log_softmax(x, dim=0)
        out[1].backward()
    assert out[1].item() == -1000
    assert out[0].item() == 0
    np.testing.assert_array_equal(x.grad, [-1.0, 1.0])


def test_log_softmax_asymptote_default_dtype():
    with strict():
        assert F.log_softmax(cr.tensor([1000.0, 0.0]), dim=0)[1].item() == -1000


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_softmax_asymptote_and_zero_gradient(dtype):
    x = cr.tensor(np.array([1000.0, 0.0], dtype=dtype), requires_grad=True)
    with strict():
        s = F.softmax(x, dim=0)
        s[0].backward()
    np.testing.assert_array_equal(s.data, [1.0, 0.0])
    # ds0/dx = s0 (e0 - s) = [1 (1 - 1), -1 * 0] underflows to exactly 0.
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_softplus_asymptotes(dtype):
    x = cr.tensor(np.array([1000.0, -1000.0, 709.8, -709.8], dtype=dtype), requires_grad=True)
    with strict():
        out = F.softplus(x)
        out.sum().backward()
    assert out.data[0] == 1000
    assert out.data[1] == 0
    assert out.data[2] == dtype(709.8)
    assert 0 <= out.data[3] < 1e-300 or (dtype is np.float32 and out.data[3] == 0)
    np.testing.assert_array_equal(x.grad[:3], [1.0, 0.0, 1.0])
    assert 0 <= x.grad[3] < 1e-300 or (dtype is np.float32 and x.grad[3] == 0)
    with strict():
        assert F.softplus(cr.tensor(1000.0)).item() == 1000
        # Without the linear shortcut the stable form must still give 1000 exactly.
        assert F.softplus(cr.tensor(1000.0), threshold=math.inf).item() == 1000


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_sigmoid_asymptotes_and_zero_gradient(dtype):
    x = cr.tensor(np.array([1000.0, -1000.0], dtype=dtype), requires_grad=True)
    with strict():
        out = F.sigmoid(x)
        out.sum().backward()
    assert out.data[0] == 1.0
    assert out.data[1] == 0.0
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    with strict():
        assert F.sigmoid(cr.tensor(1000.0)).item() == 1
        assert F.sigmoid(cr.tensor(-1000.0)).item() == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_tanh_asymptotes_and_zero_gradient(dtype):
    x = cr.tensor(np.array([1000.0, -1000.0], dtype=dtype), requires_grad=True)
    with strict():
        out = F.tanh(x)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [1.0, -1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_asymptotes(dtype, approximate):
    x = cr.tensor(np.array([1000.0, -1000.0], dtype=dtype), requires_grad=True)
    with strict():
        out = F.gelu(x, approximate=approximate)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [1000.0, 0.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_elu_and_leaky_relu_asymptotes(dtype):
    x = cr.tensor(np.array([1000.0, -1000.0], dtype=dtype), requires_grad=True)
    with strict():
        out = F.elu(x, alpha=1.5)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [1000.0, -1.5])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])  # alpha e^x underflows to 0
    x.grad = None
    with strict():
        out = F.leaky_relu(x, 0.25)
        out.sum().backward()
    np.testing.assert_array_equal(out.data, [1000.0, -250.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.25])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_logsumexp_asymptotes(dtype):
    x = cr.tensor(np.array([1000.0, 0.0], dtype=dtype), requires_grad=True)
    with strict():
        out = cr.logsumexp(x, dim=0)
        out.backward()
    assert out.item() == 1000
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    with strict():
        both = cr.logsumexp(cr.tensor(np.array([1000.0, 1000.0], dtype=dtype)), dim=0)
    np.testing.assert_allclose(
        both.item(), 1000 + math.log(2), rtol=1e-7 if dtype is np.float32 else 1e-15
    )


# -- closed forms by hand -----------------------------------------------------------------
def test_softplus_closed_forms():
    x = cr.tensor(np.array([30.0, -30.0, 1e-8, 0.0]), requires_grad=True)
    with strict():
        out = F.softplus(x, threshold=40.0)  # below the threshold: the smooth formula
        out.sum().backward()
    expected = [
        30 + math.log1p(math.exp(-30)),
        math.log1p(math.exp(-30)),
        math.log1p(math.exp(1e-8)),
        math.log(2),
    ]
    np.testing.assert_allclose(out.data, expected, rtol=1e-15)
    assert out.data[0] != 30.0  # 30 + 9.4e-14 is representable in float64
    sig = [
        1 / (1 + math.exp(-30)),
        math.exp(-30) / (1 + math.exp(-30)),
        1 / (1 + math.exp(-1e-8)),
        0.5,
    ]
    np.testing.assert_allclose(x.grad, sig, rtol=1e-15)
    # With the default threshold (20) PyTorch returns the input itself above it.
    assert F.softplus(cr.tensor(np.float64(30.0))).item() == 30.0
    # beta: log(1 + e^(beta x)) / beta.
    val = F.softplus(cr.tensor(np.float64(3.0)), beta=2.0).item()
    assert val == pytest.approx(math.log1p(math.exp(6.0)) / 2, rel=1e-15)


def test_sigmoid_and_tanh_closed_forms():
    x = np.array([-30.0, -709.8, 30.0, 1e-8])
    out, grads = run_strict(F.sigmoid, x)
    exp_ = [
        math.exp(-30) / (1 + math.exp(-30)),
        math.exp(-709.8) / (1 + math.exp(-709.8)),
        1 / (1 + math.exp(-30)),
        1 / (1 + math.exp(-1e-8)),
    ]
    np.testing.assert_allclose(out.data, exp_, rtol=1e-14)
    # σ'(x) = e^-|x| / (1 + e^-|x|)². The op uses σ(1 − σ) from its output (as PyTorch), so
    # at x = +30 the 1 − σ cancellation costs ~1e-4 relative: bound that by one ulp of 1.
    exact = [math.exp(-abs(v)) / (1 + math.exp(-abs(v))) ** 2 for v in x]
    np.testing.assert_allclose(grads[0], exact, rtol=1e-13, atol=EPS)
    np.testing.assert_allclose(grads[0][[0, 1, 3]], np.array(exact)[[0, 1, 3]], rtol=1e-13)
    out, grads = run_strict(F.tanh, np.array([1e-8, -0.5, 3.0]))
    np.testing.assert_allclose(out.data, [math.tanh(v) for v in (1e-8, -0.5, 3.0)], rtol=1e-15)
    np.testing.assert_allclose(
        grads[0], [1 - math.tanh(v) ** 2 for v in (1e-8, -0.5, 3.0)], rtol=1e-14
    )


def test_log_softmax_and_cross_entropy_closed_forms():
    out, _ = run_strict(lambda x: F.log_softmax(x, dim=0), np.array([30.0, 0.0]))
    # x − max − log Σ exp: the log of 1 + 9e-14 is good to one ulp of 1 (as in PyTorch).
    np.testing.assert_allclose(
        out.data,
        [-math.log1p(math.exp(-30)), -30 - math.log1p(math.exp(-30))],
        rtol=1e-15,
        atol=EPS,
    )
    assert out.data[1] == -30 - math.log1p(math.exp(-30))
    loss, grads = run_strict(lambda x: F.cross_entropy(x, np.array([1])), np.array([[709.8, 0.0]]))
    assert loss.item() == pytest.approx(709.8 + math.log1p(math.exp(-709.8)), rel=1e-15)
    p0 = 1 / (1 + math.exp(-709.8))
    np.testing.assert_allclose(grads[0], [[p0, -p0]], rtol=1e-15)


def test_gelu_closed_forms():
    values = [-3.0, -0.5, 1e-8, 0.7, 2.5]
    out, grads = run_strict(F.gelu, np.array(values))
    cdf = [0.5 * (1 + math.erf(v / math.sqrt(2))) for v in values]
    pdf = [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in values]
    gelu = [v * c for v, c in zip(values, cdf, strict=True)]
    slope = [c + v * d for v, c, d in zip(values, cdf, pdf, strict=True)]
    np.testing.assert_allclose(out.data, gelu, rtol=1e-14)
    np.testing.assert_allclose(grads[0], slope, rtol=1e-14)
    out, _ = run_strict(lambda x: F.gelu(x, approximate="tanh"), np.array(values))
    k = math.sqrt(2 / math.pi)
    np.testing.assert_allclose(
        out.data, [0.5 * v * (1 + math.tanh(k * (v + 0.044715 * v**3))) for v in values], rtol=1e-14
    )


def test_elu_closed_form():
    out, grads = run_strict(lambda x: F.elu(x, alpha=0.7), np.array([-30.0, -1e-8, -2.0]))
    np.testing.assert_allclose(
        out.data, [0.7 * math.expm1(v) for v in (-30.0, -1e-8, -2.0)], rtol=1e-15
    )
    # The VJP is out + alpha, which cancels for very negative x; bounded by one ulp of alpha
    # here (PyTorch's alpha·e^x is exact: see test_elu_negative_tail_gradient_relative in
    # test_functional_vs_torch.py).
    np.testing.assert_allclose(
        grads[0], [0.7 * math.exp(v) for v in (-30.0, -1e-8, -2.0)], rtol=1e-14, atol=0.7 * EPS
    )
    np.testing.assert_allclose(grads[0][1:], [0.7 * math.exp(v) for v in (-1e-8, -2.0)], rtol=1e-14)


def test_bce_with_logits_closed_forms():
    loss, grads = run_strict(
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        np.array([-30.0, 30.0, 1e-8]),
        np.array([1.0, 1.0, 0.0]),
        diff=(0,),
    )
    expected = [
        30 + math.log1p(math.exp(-30)),
        math.log1p(math.exp(-30)),
        1e-8 + math.log1p(math.exp(-1e-8)),
    ]
    np.testing.assert_allclose(loss.data, expected, rtol=1e-15)
    np.testing.assert_allclose(
        grads[0],
        [1 / (1 + math.exp(30)) - 1, 1 / (1 + math.exp(-30)) - 1, 1 / (1 + math.exp(-1e-8))],
        rtol=1e-13,
    )


# -- losses: finite everywhere ------------------------------------------------------------
REGRESSION = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss,
    "smooth_l1_beta0": lambda a, b, reduction: F.smooth_l1_loss(a, b, reduction, beta=0.0),
    "huber": F.huber_loss,
    "huber_delta0.1": lambda a, b, reduction: F.huber_loss(a, b, reduction, delta=0.1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REGRESSION))
def test_regression_losses_finite(name, reduction, dtype):
    x = _extremes(dtype)
    y = x[::-1].copy()  # differences up to 2000, and exact zeros in the middle
    out, grads = run_strict(
        lambda a, b: REGRESSION[name](a, b, reduction=reduction), x, y, diff=(0, 1)
    )
    assert_all_finite(out, grads, dtype)


PROBS = [0.0, 1e-8, 0.5, 1 - 1e-8, 1.0]


def _bce_grid(dtype):
    p, y = np.meshgrid(PROBS, [0.0, 0.5, 1.0])
    return p.ravel().astype(dtype), y.ravel().astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_on_probabilities_finite(reduction, dtype, weighted):
    p, y = _bce_grid(dtype)
    w = np.linspace(0.5, 2.0, p.size).astype(dtype) if weighted else None
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction), p, y, diff=(0, 1)
    )
    assert_all_finite(out, grads, dtype)


def test_bce_on_probabilities_clamped_values():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy(a, b, reduction="none"), p, y, diff=(0,)
    )
    np.testing.assert_array_equal(out.data, [100.0, 100.0, 0.0, 0.0])  # log clamped at -100
    np.testing.assert_array_equal(grads[0][2:], [0.0, 0.0])
    assert grads[0][0] < 0 < grads[0][1]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_bce_with_logits_finite(reduction, dtype, pos_weight):
    x = np.tile(_extremes(dtype), 3)
    y = np.repeat(np.array([0.0, 0.5, 1.0], dtype=dtype), len(EXTREMES))
    pw = None if pos_weight is None else np.full(x.shape, pos_weight, dtype=dtype)
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=pw),
        x,
        y,
        diff=(0, 1),
    )
    assert_all_finite(out, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("pos_weight", [None, 2.0])
def test_bce_with_logits_asymptotes(dtype, pos_weight):
    pw = None if pos_weight is None else np.array([pos_weight] * 4, dtype=dtype)
    x = np.array([1000.0, 1000.0, -1000.0, -1000.0], dtype=dtype)
    y = np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none", pos_weight=pw), x, y
    )
    scale = 1.0 if pos_weight is None else pos_weight
    np.testing.assert_array_equal(out.data, [1000.0, 0.0, 0.0, 1000.0 * scale])
    np.testing.assert_array_equal(grads[0], [1.0, 0.0, 0.0, -scale])
    with strict():
        assert F.binary_cross_entropy_with_logits(cr.tensor(1000.0), cr.tensor(0.0)).item() == 1000


def _logit_rows(dtype):
    rows = [
        [1000.0, 0.0, -1000.0],
        [-709.8, 709.8, 0.0],
        [30.0, -30.0, 1e-8],
        [0.0, 0.0, 0.0],
        [-1000.0, -1000.0, -1000.0],
        [1000.0, 1000.0, -1e-8],
    ]
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_finite(reduction, dtype, smoothing, weighted):
    x = _logit_rows(dtype)
    w = np.array([0.5, 1.0, 2.0], dtype=dtype) if weighted else None
    for cls in range(3):
        target = np.full(len(x), cls)
        out, grads = run_strict(
            lambda a, t: F.cross_entropy(
                a, t, weight=w, reduction=reduction, label_smoothing=smoothing
            ),
            x,
            target,
        )
        assert_all_finite(out, grads, dtype)
    probs = np.tile(np.array([0.2, 0.0, 0.8], dtype=dtype), (len(x), 1))
    out, grads = run_strict(
        lambda a, t: F.cross_entropy(
            a, t, weight=w, reduction=reduction, label_smoothing=smoothing
        ),
        x,
        probs,
        diff=(0, 1),
    )
    assert_all_finite(out, grads, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_cross_entropy_asymptotes(dtype):
    x = np.array([[1000.0, 0.0]], dtype=dtype)
    loss, grads = run_strict(lambda a, t: F.cross_entropy(a, t), x, np.array([1]))
    assert loss.item() == 1000
    np.testing.assert_array_equal(grads[0], [[1.0, -1.0]])
    loss, grads = run_strict(lambda a, t: F.cross_entropy(a, t), x, np.array([0]))
    assert loss.item() == 0
    np.testing.assert_array_equal(grads[0], [[0.0, 0.0]])  # p - y underflows to exactly 0
    with strict():
        assert F.cross_entropy(cr.tensor([[1000.0, 0.0]]), cr.tensor([1])).item() == 1000


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_on_log_softmax_finite(reduction, dtype):
    x = _logit_rows(dtype)
    w = np.array([0.5, 1.0, 2.0], dtype=dtype)
    for cls in range(3):
        target = np.full(len(x), cls)
        out, grads = run_strict(
            lambda a, t: F.nll_loss(F.log_softmax(a, dim=1), t, weight=w, reduction=reduction),
            x,
            target,
        )
        assert_all_finite(out, grads, dtype)
    loss, grads = run_strict(
        lambda a, t: F.nll_loss(F.log_softmax(a, dim=1), t),
        np.array([[1000.0, 0.0]], dtype=dtype),
        np.array([1]),
    )
    assert loss.item() == 1000
    np.testing.assert_array_equal(grads[0], [[1.0, -1.0]])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_loss_through_saturated_activation_chain(dtype):
    # A typical graph: linear -> sigmoid -> bce, with a weight that saturates the sigmoid.
    x = np.array([[1.0, -1.0], [0.5, 2.0]], dtype=dtype)
    w = np.array([[1000.0, -1000.0]], dtype=dtype)
    y = np.array([[0.0], [1.0]], dtype=dtype)
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy(F.sigmoid(F.linear(a, b)), cr.tensor(y)),
        x,
        w,
        diff=(0, 1),
    )
    assert out.item() == 100.0  # both samples saturate the wrong way: log clamped at -100
    assert_all_finite(out, grads, dtype)
    out, grads = run_strict(
        lambda a, b: F.binary_cross_entropy_with_logits(F.linear(a, b), cr.tensor(y)),
        x,
        w,
        diff=(0, 1),
    )
    assert_all_finite(out, grads, dtype)
    # logits 2000 (target 0) and -1500 (target 1): losses 2000 and 1500, exactly.
    assert out.item() == 1750.0
    # d/dlogit = σ(z) − y = [1, −1] / 2; dW = Σ_n g_n x_n.
    np.testing.assert_array_equal(grads[1], [[0.5 * 1.0 - 0.5 * 0.5, 0.5 * -1.0 - 0.5 * 2.0]])
