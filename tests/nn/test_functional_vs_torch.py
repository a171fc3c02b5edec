"""chainrule.nn.functional and the core tensor ops, number for number against PyTorch.

Everything runs in float64: forward values and the gradient of every differentiable
input are compared with PyTorch's to ~1e-12 relative. The upstream gradient fed to
``backward`` is random (not ones), so the reductions' scaling is exercised too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RTOL = 1e-12
ATOL = 1e-13
REDUCTIONS = ("mean", "sum", "none")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def compare(
    cr_fn: Callable,
    torch_fn: Callable,
    arrays: Sequence[np.ndarray],
    diff: Sequence[int] = (0,),
    *,
    seed: int = 1234,
    rtol: float = RTOL,
    atol: float = ATOL,
    skip_grad: Sequence[int] = (),
) -> tuple[list, list]:
    """Run both libraries on the same arrays and compare values and gradients.

    ``diff`` lists the positions of ``arrays`` that require grad (float arrays only);
    the others are passed as constants. Returns (chainrule grads, torch grads).
    """
    cr_args = [cr.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    t_args = [
        torch.tensor(a, requires_grad=i in diff) if isinstance(a, np.ndarray) else a
        for i, a in enumerate(arrays)
    ]
    out = cr_fn(*cr_args)
    t_out = torch_fn(*t_args)
    assert out.shape == tuple(t_out.shape), (out.shape, tuple(t_out.shape))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=rtol, atol=atol)

    upstream = _rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    t_out.backward(torch.tensor(upstream))
    grads, t_grads = [], []
    for i in diff:
        g, tg = cr_args[i].grad, t_args[i].grad
        assert g is not None, f"no gradient for argument {i}"
        assert tg is not None
        grads.append(g)
        t_grads.append(tg.numpy())
        if i in skip_grad:
            continue
        assert g.shape == arrays[i].shape
        assert g.dtype == np.float64
        np.testing.assert_allclose(
            g, tg.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of argument {i}"
        )
    return grads, t_grads


# -- linear -------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape", [(7,), (5, 4), (2, 3, 4)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
def test_linear(x_shape, with_bias):
    rng = _rng(0)
    n_in = x_shape[-1]
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((3, n_in))
    if with_bias:
        b = rng.standard_normal(3)
        compare(F.linear, TF.linear, [x, w, b], diff=(0, 1, 2))
    else:
        compare(F.linear, TF.linear, [x, w], diff=(0, 1))


def test_linear_bias_none_keyword():
    rng = _rng(1)
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    compare(
        lambda a, b: F.linear(a, b, bias=None),
        lambda a, b: TF.linear(a, b, bias=None),
        [x, w],
        diff=(0, 1),
    )


# -- activations --------------------------------------------------------------------------
def _activation_input(seed: int, scale: float = 3.0) -> np.ndarray:
    rng = _rng(seed)
    x = rng.standard_normal((6, 5)) * scale
    x[0, :] = [0.0, -50.0, 50.0, 1e-8, -1e-8]  # exact zero, large magnitudes, tiny
    return x


ACTIVATIONS = {
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "relu": (F.relu, TF.relu),
    "leaky_relu_default": (F.leaky_relu, TF.leaky_relu),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "leaky_relu_kw": (
        lambda x: F.leaky_relu(x, negative_slope=1.7),
        lambda x: TF.leaky_relu(x, negative_slope=1.7),
    ),
    "elu_default": (F.elu, TF.elu),
    "elu_0.5": (lambda x: F.elu(x, alpha=0.5), lambda x: TF.elu(x, alpha=0.5)),
    "elu_2": (lambda x: F.elu(x, 2.0), lambda x: TF.elu(x, 2.0)),
    "gelu_none": (F.gelu, TF.gelu),
    "gelu_none_kw": (
        lambda x: F.gelu(x, approximate="none"),
        lambda x: TF.gelu(x, approximate="none"),
    ),
    "gelu_tanh": (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: TF.gelu(x, approximate="tanh"),
    ),
    "softplus_default": (F.softplus, TF.softplus),
    "softplus_beta2": (lambda x: F.softplus(x, beta=2.0), lambda x: TF.softplus(x, beta=2.0)),
    "softplus_beta0.5_thr5": (
        lambda x: F.softplus(x, beta=0.5, threshold=5.0),
        lambda x: TF.softplus(x, beta=0.5, threshold=5.0),
    ),
    "softplus_thr1": (lambda x: F.softplus(x, 1.0, 1.0), lambda x: TF.softplus(x, 1.0, 1.0)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("scale", [1.0, 3.0, 50.0])
def test_activation(name, scale):
    cr_fn, t_fn = ACTIVATIONS[name]
    compare(cr_fn, t_fn, [_activation_input(11, scale)])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_3d(name):
    cr_fn, t_fn = ACTIVATIONS[name]
    compare(cr_fn, t_fn, [_rng(5).standard_normal((2, 3, 4)) * 2])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("value", [0.7, -2.5])
def test_activation_0d(name, value):
    cr_fn, t_fn = ACTIVATIONS[name]
    compare(cr_fn, t_fn, [np.array(value)])


@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_elu_negative_tail_gradient_relative(alpha):
    # PyTorch differentiates elu as alpha·e^x for x <= 0, exact to the last bit even where
    # it is tiny; the absolute tolerance used elsewhere would hide a relative error here.
    x = np.array([-5.0, -20.0, -30.0, -50.0])
    compare(
        lambda a: F.elu(a, alpha=alpha), lambda a: TF.elu(a, alpha=alpha), [x], rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("fn_name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_softmax_family(fn_name, dim, scale):
    x = _rng(3).standard_normal((4, 5)) * scale
    compare(
        lambda a: getattr(F, fn_name)(a, dim=dim), lambda a: getattr(TF, fn_name)(a, dim=dim), [x]
    )


@pytest.mark.parametrize("fn_name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_family_3d(fn_name, dim):
    x = _rng(4).standard_normal((2, 3, 4)) * 5
    compare(lambda a: getattr(F, fn_name)(a, dim), lambda a: getattr(TF, fn_name)(a, dim), [x])


@pytest.mark.parametrize("fn_name", ["softmax", "log_softmax"])
def test_softmax_family_default_dim_is_last(fn_name):
    x = _rng(6).standard_normal((3, 4))
    compare(lambda a: getattr(F, fn_name)(a), lambda a: getattr(TF, fn_name)(a, dim=-1), [x])


# -- dropout ------------------------------------------------------------------------------
@pytest.mark.parametrize("p, training", [(0.0, True), (0.0, False), (0.3, False), (1.0, False)])
def test_dropout_identity(p, training):
    x = _rng(7).standard_normal((5, 6))
    compare(
        lambda a: F.dropout(a, p=p, training=training) * 1.0,
        lambda a: TF.dropout(a, p=p, training=training) * 1.0,
        [x],
    )


def test_dropout_mask_scaling_and_grad():
    p = 0.3
    x_np = _rng(8).uniform(0.5, 2.0, size=(40, 50))  # no zeros: output zeros mark dropped
    x = cr.tensor(x_np, requires_grad=True)
    out = F.dropout(x, p=p, training=True, generator=123)
    assert out.shape == x_np.shape and out.dtype == np.float64
    mask = (out.data != 0).astype(np.float64)
    kept = mask.mean()
    assert 0.6 < kept < 0.8  # ~ 1 - p over 2000 draws
    np.testing.assert_allclose(out.data, x_np * mask / (1 - p), rtol=1e-15, atol=0)
    upstream = _rng(9).standard_normal(x_np.shape)
    out.backward(upstream)
    np.testing.assert_allclose(x.grad, upstream * mask / (1 - p), rtol=1e-15, atol=0)


def test_dropout_p_one_zeroes_everything():
    x = cr.tensor(_rng(10).standard_normal((3, 4)), requires_grad=True)
    out = F.dropout(x, p=1.0, training=True, generator=0)
    np.testing.assert_array_equal(out.data, np.zeros((3, 4)))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))


# -- regression losses --------------------------------------------------------------------
def _pair(seed: int, shape=(4, 5), scale=2.0):
    rng = _rng(seed)
    return rng.standard_normal(shape) * scale, rng.standard_normal(shape) * scale


REGRESSION = {
    "mse": (
        lambda r: lambda a, b: F.mse_loss(a, b, reduction=r),
        lambda r: lambda a, b: TF.mse_loss(a, b, reduction=r),
    ),
    "l1": (
        lambda r: lambda a, b: F.l1_loss(a, b, reduction=r),
        lambda r: lambda a, b: TF.l1_loss(a, b, reduction=r),
    ),
    "smooth_l1_default": (
        lambda r: lambda a, b: F.smooth_l1_loss(a, b, reduction=r),
        lambda r: lambda a, b: TF.smooth_l1_loss(a, b, reduction=r),
    ),
    "smooth_l1_beta0.5": (
        lambda r: lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.5),
        lambda r: lambda a, b: TF.smooth_l1_loss(a, b, reduction=r, beta=0.5),
    ),
    "smooth_l1_beta2": (
        lambda r: lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=2.0),
        lambda r: lambda a, b: TF.smooth_l1_loss(a, b, reduction=r, beta=2.0),
    ),
    "smooth_l1_beta0": (
        lambda r: lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.0),
        lambda r: lambda a, b: TF.smooth_l1_loss(a, b, reduction=r, beta=0.0),
    ),
    "huber_default": (
        lambda r: lambda a, b: F.huber_loss(a, b, reduction=r),
        lambda r: lambda a, b: TF.huber_loss(a, b, reduction=r),
    ),
    "huber_delta0.5": (
        lambda r: lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.5),
        lambda r: lambda a, b: TF.huber_loss(a, b, reduction=r, delta=0.5),
    ),
    "huber_delta3": (
        lambda r: lambda a, b: F.huber_loss(a, b, reduction=r, delta=3.0),
        lambda r: lambda a, b: TF.huber_loss(a, b, reduction=r, delta=3.0),
    ),
}


@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 5), (7,), (2, 3, 2)], ids=["2d", "1d", "3d"])
def test_regression_loss(name, reduction, shape):
    make_cr, make_t = REGRESSION[name]
    x, y = _pair(20, shape)
    compare(make_cr(reduction), make_t(reduction), [x, y], diff=(0, 1))


@pytest.mark.parametrize(
    "name",
    ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy_with_logits"],
)
def test_loss_defaults_match_torch(name):
    # Default reduction ('mean'), beta and delta (1.0).
    x, y = _pair(21)
    if name == "binary_cross_entropy_with_logits":
        y = _rng(22).uniform(size=y.shape)
    compare(getattr(F, name), getattr(TF, name), [x, y], diff=(0, 1))


# -- binary cross-entropy -----------------------------------------------------------------
def _probabilities(seed: int, shape=(4, 5)):
    rng = _rng(seed)
    p = rng.uniform(0.01, 0.99, size=shape)
    y = rng.uniform(0.0, 1.0, size=shape)
    return p, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_binary_cross_entropy(reduction, weighted):
    p, y = _probabilities(30)
    if weighted:
        w = _rng(31).uniform(0.1, 2.0, size=(5,))  # broadcast over the batch, as torch allows
        compare(
            lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
            lambda a, b: TF.binary_cross_entropy(a, b, weight=torch.tensor(w), reduction=reduction),
            [p, y],
            diff=(0, 1),
        )
    else:
        compare(
            lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
            lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
            [p, y],
            diff=(0, 1),
        )


_EDGE_P = np.array([0.0, 1.0, 0.0, 1.0, 0.25, 0.9, 1e-8, 1 - 1e-8])
_EDGE_Y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_exact_zero_and_one(reduction):
    # Inputs at exactly 0 and 1 (PyTorch clamps log at -100), hard 0/1 targets.
    p, y = _EDGE_P, _EDGE_Y
    grads, t_grads = compare(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
        [p, y],
        diff=(0, 1),
        skip_grad=(0, 1),
    )
    interior = (p > 0) & (p < 1)
    upstream = _rng(1234).standard_normal(() if reduction != "none" else p.shape)
    scale = np.broadcast_to(upstream / p.size if reduction == "mean" else upstream, p.shape)

    # Input gradient: PyTorch's everywhere. Where p(1-p) = 0 it is (p - y) / EPSILON with
    # PyTorch's floor EPSILON = float32(1e-12) (see
    # test_binary_cross_entropy_gradient_floor_matches_torch), and exactly 0 where p == y.
    g_input, t_input = grads[0], t_grads[0]
    np.testing.assert_allclose(g_input, t_input, rtol=RTOL, atol=ATOL)
    floor = float(np.float32(1e-12))
    np.testing.assert_allclose(g_input[~interior], (scale * (p - y) / floor)[~interior], rtol=RTOL)
    assert np.all(g_input[p == y] == 0)

    # The target's gradient is -(log p - log(1-p)). PyTorch evaluates it unclamped (±inf at
    # p in {0, 1}); chainrule differentiates the clamped loss it computes (±100), so
    # compare the interior exactly and the saturated entries to the clamped slope.
    g_target, t_target = grads[1], t_grads[1]
    np.testing.assert_allclose(g_target[interior], t_target[interior], rtol=RTOL, atol=ATOL)
    expected_edges = -scale * np.where(p == 0, -100.0, 100.0)
    np.testing.assert_allclose(g_target[~interior], expected_edges[~interior], rtol=RTOL)
    assert np.all(np.isfinite(g_target))


def test_binary_cross_entropy_gradient_floor_matches_torch():
    # PyTorch floors p(1-p) at EPSILON = 1e-12 *as a float32 constant*
    # (9.99999996e-13), so at p in {0, 1} its input gradient is -1/9.99999996e-13, not
    # -1e12: they differ by 4e-9 relative, far above the 1e-12 promised elsewhere.
    compare(
        lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
        lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"),
        [_EDGE_P, _EDGE_Y],
        diff=(0,),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("pos_weighted", [False, True], ids=["no_pos_weight", "pos_weight"])
@pytest.mark.parametrize("scale", [2.0, 50.0])
def test_binary_cross_entropy_with_logits(reduction, weighted, pos_weighted, scale):
    rng = _rng(40)
    x = rng.standard_normal((4, 5)) * scale
    y = rng.uniform(0.0, 1.0, size=(4, 5))
    y[0] = [0.0, 1.0, 0.0, 1.0, 0.5]
    w = rng.uniform(0.1, 2.0, size=(4, 1)) if weighted else None
    pw = rng.uniform(0.5, 3.0, size=(5,)) if pos_weighted else None

    def t_opt(a):
        return None if a is None else torch.tensor(a)

    compare(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, weight=w, reduction=reduction, pos_weight=pw
        ),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, weight=t_opt(w), reduction=reduction, pos_weight=t_opt(pw)
        ),
        [x, y],
        diff=(0, 1),
    )


def test_binary_cross_entropy_with_logits_tensor_weights():
    rng = _rng(41)
    x, y = rng.standard_normal(6), rng.uniform(size=6)
    w, pw = rng.uniform(0.5, 2, 6), rng.uniform(0.5, 2, 6)
    compare(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, weight=cr.tensor(w), pos_weight=cr.tensor(pw)
        ),
        lambda a, b: TF.binary_cross_entropy_with_logits(
            a, b, weight=torch.tensor(w), pos_weight=torch.tensor(pw)
        ),
        [x, y],
        diff=(0, 1),
    )


# -- cross-entropy and nll ----------------------------------------------------------------
def _t_opt(a):
    return None if a is None else torch.tensor(a)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("scale", [2.0, 50.0])
def test_cross_entropy_class_indices(reduction, weighted, ignore, smoothing, scale):
    rng = _rng(50)
    n, c = 8, 5
    x = rng.standard_normal((n, c)) * scale
    target = rng.integers(0, c, size=n)
    ignore_index = -100
    if ignore:
        ignore_index = 2
        target[[1, 4]] = 2  # at least two ignored rows
    w = rng.uniform(0.2, 2.0, size=c) if weighted else None
    compare(
        lambda a, t: F.cross_entropy(
            a,
            t,
            weight=w,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        lambda a, t: TF.cross_entropy(
            a,
            t,
            weight=_t_opt(w),
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        [x, target],
        diff=(0,),
    )


def test_cross_entropy_default_ignore_index_minus_100():
    rng = _rng(51)
    x = rng.standard_normal((5, 3))
    target = np.array([0, -100, 2, 1, -100])
    compare(F.cross_entropy, TF.cross_entropy, [x, target], diff=(0,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_probabilities(reduction, weighted, smoothing):
    rng = _rng(52)
    x = rng.standard_normal((6, 4)) * 3
    probs = rng.dirichlet(np.ones(4), size=6)
    w = rng.uniform(0.2, 2.0, size=4) if weighted else None
    compare(
        lambda a, t: F.cross_entropy(
            a, t, weight=w, reduction=reduction, label_smoothing=smoothing
        ),
        lambda a, t: TF.cross_entropy(
            a, t, weight=_t_opt(w), reduction=reduction, label_smoothing=smoothing
        ),
        [x, probs],
        diff=(0, 1),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_spatial_indices(reduction, weighted, smoothing):
    rng = _rng(53)
    x = rng.standard_normal((3, 4, 5)) * 2  # (N, C, d1)
    target = rng.integers(0, 4, size=(3, 5))
    target[0, 0] = -100
    w = rng.uniform(0.2, 2.0, size=4) if weighted else None
    compare(
        lambda a, t: F.cross_entropy(
            a, t, weight=w, reduction=reduction, label_smoothing=smoothing
        ),
        lambda a, t: TF.cross_entropy(
            a, t, weight=_t_opt(w), reduction=reduction, label_smoothing=smoothing
        ),
        [x, target],
        diff=(0,),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_probabilities(reduction):
    rng = _rng(54)
    x = rng.standard_normal((2, 3, 4, 2))  # (N, C, d1, d2)
    probs = np.moveaxis(rng.dirichlet(np.ones(3), size=(2, 4, 2)), -1, 1)
    compare(
        lambda a, t: F.cross_entropy(a, t, reduction=reduction),
        lambda a, t: TF.cross_entropy(a, t, reduction=reduction),
        [x, probs],
        diff=(0, 1),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_single_sample(reduction, smoothing):
    rng = _rng(55)
    x = rng.standard_normal(5) * 4  # (C,)
    compare(
        lambda a, t: F.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing),
        lambda a, t: TF.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing),
        [x, np.array(3)],
        diff=(0,),
    )
    probs = rng.dirichlet(np.ones(5))
    compare(
        lambda a, t: F.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing),
        lambda a, t: TF.cross_entropy(a, t, reduction=reduction, label_smoothing=smoothing),
        [x, probs],
        diff=(0, 1),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore_index"])
def test_nll_loss(reduction, weighted, ignore):
    rng = _rng(60)
    n, c = 7, 4
    logp = np.log(rng.dirichlet(np.ones(c), size=n))
    target = rng.integers(0, c, size=n)
    ignore_index = -100
    if ignore:
        ignore_index = 1
        target[[0, 3]] = 1
    w = rng.uniform(0.2, 2.0, size=c) if weighted else None
    compare(
        lambda a, t: F.nll_loss(a, t, weight=w, ignore_index=ignore_index, reduction=reduction),
        lambda a, t: TF.nll_loss(
            a, t, weight=_t_opt(w), ignore_index=ignore_index, reduction=reduction
        ),
        [logp, target],
        diff=(0,),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_spatial_and_single(reduction):
    rng = _rng(61)
    x = rng.standard_normal((2, 3, 4))
    target = rng.integers(0, 3, size=(2, 4))
    w = rng.uniform(0.5, 2.0, 3)
    compare(
        lambda a, t: F.nll_loss(a, t, weight=w, reduction=reduction),
        lambda a, t: TF.nll_loss(a, t, weight=torch.tensor(w), reduction=reduction),
        [x, target],
        diff=(0,),
    )
    compare(
        lambda a, t: F.nll_loss(a, t, reduction=reduction),
        lambda a, t: TF.nll_loss(a, t, reduction=reduction),
        [rng.standard_normal(3), np.array(2)],
        diff=(0,),
    )


def test_nll_of_log_softmax_equals_cross_entropy_through_the_graph():
    rng = _rng(62)
    x = rng.standard_normal((5, 4)) * 10
    target = rng.integers(0, 4, 5)
    compare(
        lambda a, t: F.nll_loss(F.log_softmax(a, dim=1), t),
        lambda a, t: TF.nll_loss(TF.log_softmax(a, dim=1), t),
        [x, target],
        diff=(0,),
    )


def test_cross_entropy_accepts_tensor_weight_and_long_target():
    rng = _rng(63)
    x = rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    w = rng.uniform(0.5, 2, 3)
    compare(
        lambda a, tt: F.cross_entropy(a, tt, weight=cr.tensor(w)),
        lambda a, tt: TF.cross_entropy(a, tt, weight=torch.tensor(w)),
        [x, t],
        diff=(0,),
    )


# -- core tensor ops ----------------------------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_all(op):
    x = _rng(70).standard_normal((3, 4, 2))
    compare(lambda a: getattr(cr, op)(a), lambda a: getattr(torch, op)(a), [x])
    compare(lambda a: getattr(a, op)(), lambda a: getattr(a, op)(), [x])


@pytest.mark.parametrize("dim", [0, 1, -1, (0, 2), (-1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, dim, keepdim):
    x = _rng(70).standard_normal((3, 4, 2))
    compare(
        lambda a: getattr(cr, op)(a, dim=dim, keepdims=keepdim),
        lambda a: getattr(torch, op)(a, dim=dim, keepdim=keepdim),
        [x],
    )
    compare(
        lambda a: getattr(a, op)(axis=dim, keepdims=keepdim),
        lambda a: getattr(torch, op)(a, dim=dim, keepdim=keepdim),
        [x],
    )


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize(
    "option",
    [
        {},
        {"correction": 0},
        {"correction": 1},
        {"correction": 2},
        {"unbiased": True},
        {"unbiased": False},
    ],
    ids=["default", "c0", "c1", "c2", "unbiased", "biased"],
)
def test_var(dim, keepdim, option):
    x = _rng(71).standard_normal((4, 5)) * 3
    if dim is None:
        compare(lambda a: cr.var(a, **option), lambda a: torch.var(a, **option), [x])
        compare(lambda a: a.var(**option), lambda a: a.var(**option), [x])
        return
    t_option = dict(option)
    if "unbiased" in t_option:  # torch's dim= form takes correction= only
        t_option = {"correction": int(t_option.pop("unbiased"))}
    compare(
        lambda a: cr.var(a, dim=dim, keepdims=keepdim, **option),
        lambda a: torch.var(a, dim=dim, keepdim=keepdim, **t_option),
        [x],
    )


@pytest.mark.parametrize("op, t_op", [("max", torch.amax), ("min", torch.amin)])
@pytest.mark.parametrize("dim", [0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_amin_with_ties(op, t_op, dim, keepdim):
    # Integers in a small range guarantee ties; torch.amax/amin split the gradient evenly.
    x = _rng(72).integers(-2, 3, size=(4, 5)).astype(np.float64)
    # cr.max(x, dim) is torch.max's (values, indices); the value reduction is cr.amax.
    compare(
        lambda a: getattr(cr, "a" + op)(a, dim=dim, keepdims=keepdim),
        lambda a: t_op(a, dim=dim, keepdim=keepdim),
        [x],
    )
    method = "amax" if op == "max" else "amin"
    compare(
        lambda a: getattr(a, method)(dim=dim, keepdims=keepdim),
        lambda a: t_op(a, dim=dim, keepdim=keepdim),
        [x],
    )


@pytest.mark.parametrize("op, t_op", [("max", torch.amax), ("min", torch.amin)])
def test_amax_amin_full_reduction_with_ties(op, t_op):
    x = np.array([[1.0, 3.0, 3.0], [-2.0, 3.0, -2.0]])
    grads, _ = compare(lambda a: getattr(cr, op)(a), lambda a: t_op(a), [x])
    hit = x == (x.max() if op == "max" else x.min())
    np.testing.assert_allclose(grads[0].sum(), _rng(1234).standard_normal(()), rtol=1e-14)
    assert np.count_nonzero(grads[0]) == hit.sum()


@pytest.mark.parametrize(
    "a_shape, b_shape",
    [
        ((3,), (3,)),
        ((3,), (3, 4)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((5, 2, 3), (5, 3, 4)),
        ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)),
        ((3,), (5, 3, 4)),
        ((5, 2, 3), (3,)),
        ((5, 1, 2, 3), (4, 3, 2)),
        ((1, 2, 3), (5, 3, 4)),
    ],
)
def test_matmul(a_shape, b_shape):
    rng = _rng(73)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    compare(cr.matmul, torch.matmul, [a, b], diff=(0, 1))
    compare(lambda p, q: p @ q, lambda p, q: p @ q, [a, b], diff=(0, 1))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_and_broadcast(op):
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    b = np.array([[1.0, 5.0, 3.0], [0.0, -2.0, 5.0]])
    compare(getattr(cr, op), getattr(torch, op), [a, b], diff=(0, 1))
    b_row = np.array([1.0, -1.0, 4.0])  # broadcast, with ties in it
    compare(getattr(cr, op), getattr(torch, op), [a, b_row], diff=(0, 1))
    grads, _ = compare(
        getattr(cr, op), getattr(torch, op), [np.array(2.0), np.array(2.0)], diff=(0, 1)
    )
    assert grads[0] == grads[1]  # half each at a tie


@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (0.0, 0.0)])
def test_clamp_at_bounds(bounds):
    lo, hi = bounds
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    compare(lambda a: cr.clamp(a, lo, hi), lambda a: torch.clamp(a, lo, hi), [x])
    compare(lambda a: a.clamp(min=lo, max=hi), lambda a: a.clamp(min=lo, max=hi), [x])


def test_abs_and_relu_at_zero():
    x = np.array([-1.5, -0.0, 0.0, 2.5])
    compare(cr.abs, torch.abs, [x])
    compare(cr.relu, torch.relu, [x])
    compare(F.relu, TF.relu, [x])


def test_where():
    rng = _rng(74)
    cond = rng.random((3, 4)) > 0.5
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    compare(
        lambda p, q: cr.where(cond, p, q),
        lambda p, q: torch.where(torch.tensor(cond), p, q),
        [a, b],
        diff=(0, 1),
    )


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    rng = _rng(75)
    shapes = {
        0: [(2, 3), (4, 3), (1, 3)],
        1: [(2, 1), (2, 3), (2, 2)],
        -1: [(2, 1), (2, 3), (2, 2)],
    }[dim]
    arrays = [rng.standard_normal(s) for s in shapes]
    compare(
        lambda *t: cr.cat(list(t), dim=dim),
        lambda *t: torch.cat(list(t), dim=dim),
        arrays,
        diff=(0, 1, 2),
    )


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    rng = _rng(76)
    arrays = [rng.standard_normal((2, 3)) for _ in range(3)]
    compare(
        lambda *t: cr.stack(list(t), dim=dim),
        lambda *t: torch.stack(list(t), dim=dim),
        arrays,
        diff=(0, 1, 2),
    )


@pytest.mark.parametrize(
    "index",
    [
        np.array([0, 2, 0, 0, 3]),
        (np.array([1, 1, 0]), np.array([2, 2, 2])),
        (slice(None), np.array([4, 0, 4])),
        2,
        (slice(1, 3), 0),
    ],
    ids=["rows_repeated", "pairs_repeated", "cols_repeated", "int", "basic"],
)
def test_indexing(index):
    x = _rng(77).standard_normal((4, 5))

    def to_torch(idx):
        if isinstance(idx, tuple):
            return tuple(to_torch(i) for i in idx)
        return torch.tensor(idx) if isinstance(idx, np.ndarray) else idx

    compare(lambda a: a[index], lambda a: a[to_torch(index)], [x])


def test_indexing_with_python_list_repeats():
    x = _rng(78).standard_normal(6)
    compare(lambda a: a[[1, 1, 1, 5]], lambda a: a[[1, 1, 1, 5]], [x])
