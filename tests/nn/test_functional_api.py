"""chainrule.nn.functional's contract beyond the numbers: errors that name what was
expected and what arrived, dtypes kept, and dropout's randomness (seeded, unbiased)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F


# -- error messages -----------------------------------------------------------------------
def test_linear_input_mismatch_names_expected_and_actual():
    with pytest.raises(ValueError) as info:
        F.linear(cr.zeros(32, 5), cr.zeros(3, 4))
    message = str(info.value)
    assert "(..., 4)" in message
    assert "(32, 5)" in message
    assert "input" in message


def test_linear_bias_and_weight_mismatch():
    with pytest.raises(ValueError, match=re.escape("(3,)")) as info:
        F.linear(cr.zeros(2, 4), cr.zeros(3, 4), cr.zeros(4))
    assert "(4,)" in str(info.value) and "bias" in str(info.value)
    with pytest.raises(ValueError, match="weight") as info:
        F.linear(cr.zeros(2, 4), cr.zeros(4))
    assert "(4,)" in str(info.value)
    with pytest.raises(ValueError, match=re.escape("(..., 4)")):
        F.linear(cr.zeros(4, 3), cr.zeros(2, 4))  # transposed weight, a classic
    with pytest.raises(ValueError, match=re.escape("(..., 4)")):
        F.linear(cr.tensor(1.0), cr.zeros(2, 4))  # a scalar input has no feature axis


@pytest.mark.parametrize(
    "name",
    [
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
    ],
)
def test_elementwise_loss_shape_mismatch_names_both_shapes(name):
    x = cr.full((32, 1), 0.5)
    y = cr.full((32,), 0.5)
    with pytest.raises(ValueError) as info:
        getattr(F, name)(x, y)
    message = str(info.value)
    assert "(32, 1)" in message
    assert "(32,)" in message
    assert name in message


def test_cross_entropy_float_target_of_index_shape_is_a_type_error():
    x = cr.zeros(4, 3)
    with pytest.raises(TypeError) as info:
        F.cross_entropy(x, cr.tensor([0.0, 1.0, 2.0, 0.0]))
    message = str(info.value)
    assert "class indices" in message
    assert "integer" in message
    assert "(4,)" in message and "(4, 3)" in message


def test_nll_loss_float_target_is_a_type_error():
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(cr.zeros(4, 3), cr.zeros(4))


def test_cross_entropy_bool_target_is_a_type_error():
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(cr.zeros(2, 3), np.array([True, False]))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [3, 7, -1, -5])
def test_out_of_range_class_index_is_an_index_error(name, bad):
    target = np.array([0, 1, bad, 2])
    with pytest.raises(IndexError) as info:
        getattr(F, name)(cr.zeros(4, 3), target)
    assert str(bad) in str(info.value)
    assert "3 classes" in str(info.value)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_ignore_index_may_lie_outside_the_classes(name):
    # The default ignore_index (-100) and a custom one are not range-checked.
    x = cr.tensor(np.log(np.full((3, 3), 1 / 3)))
    loss = getattr(F, name)(x, np.array([0, -100, 2]))
    assert loss.item() == pytest.approx(np.log(3), rel=1e-6)
    loss = getattr(F, name)(x, np.array([0, 99, 2]), ignore_index=99)
    assert loss.item() == pytest.approx(np.log(3), rel=1e-6)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_target_shape_and_weight_shape_errors(name):
    with pytest.raises(ValueError) as info:
        getattr(F, name)(cr.zeros(4, 3), np.array([0, 1, 2]))
    assert "(4,)" in str(info.value) and "(3,)" in str(info.value)
    with pytest.raises(ValueError) as info:
        getattr(F, name)(cr.zeros(4, 3), np.array([0, 1, 2, 0]), weight=np.ones(4))
    assert "(3,)" in str(info.value) and "(4,)" in str(info.value)
    with pytest.raises(ValueError, match="scalar"):
        getattr(F, name)(cr.tensor(1.0), np.array(0))


LOSS_CALLS = {
    "mse_loss": lambda r: F.mse_loss(cr.zeros(3), cr.zeros(3), reduction=r),
    "l1_loss": lambda r: F.l1_loss(cr.zeros(3), cr.zeros(3), reduction=r),
    "smooth_l1_loss": lambda r: F.smooth_l1_loss(cr.zeros(3), cr.zeros(3), reduction=r),
    "huber_loss": lambda r: F.huber_loss(cr.zeros(3), cr.zeros(3), reduction=r),
    "binary_cross_entropy": lambda r: F.binary_cross_entropy(
        cr.full((3,), 0.5), cr.zeros(3), reduction=r
    ),
    "binary_cross_entropy_with_logits": lambda r: F.binary_cross_entropy_with_logits(
        cr.zeros(3), cr.zeros(3), reduction=r
    ),
    "cross_entropy": lambda r: F.cross_entropy(cr.zeros(2, 3), np.array([0, 1]), reduction=r),
    "nll_loss": lambda r: F.nll_loss(cr.zeros(2, 3), np.array([0, 1]), reduction=r),
}


@pytest.mark.parametrize("name", list(LOSS_CALLS))
@pytest.mark.parametrize("bad", ["avg", "elementwise_mean", "Mean", None])
def test_bad_reduction_is_a_value_error(name, bad):
    with pytest.raises(ValueError) as info:
        LOSS_CALLS[name](bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "'mean'" in message and "'sum'" in message and "'none'" in message


@pytest.mark.parametrize("name", list(LOSS_CALLS))
def test_each_reduction_gives_the_expected_shape(name):
    assert LOSS_CALLS[name]("mean").shape == ()
    assert LOSS_CALLS[name]("sum").shape == ()
    assert LOSS_CALLS[name]("none").shape in {(3,), (2,)}


@pytest.mark.parametrize("bad", [[0.5, 1.5], [-0.1, 0.5], [-1e-12, 1.0], [0.2, 1 + 1e-12]])
def test_binary_cross_entropy_outside_unit_interval(bad):
    with pytest.raises(ValueError) as info:
        F.binary_cross_entropy(cr.tensor(np.array(bad)), cr.zeros(2, dtype=np.float64))
    message = str(info.value)
    assert "[0, 1]" in message
    assert "binary_cross_entropy_with_logits" in message  # points to the fix


def test_binary_cross_entropy_nan_probability_is_rejected():
    # PyTorch rejects NaN inputs ("all elements of input should be between 0 and 1"); a NaN
    # probability is never in [0, 1], and the check must not let it through silently.
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(cr.tensor([0.5, float("nan")]), cr.zeros(2))


@pytest.mark.parametrize("p", [-0.1, 1.5, 2.0, -1e-9])
def test_dropout_p_outside_unit_interval(p):
    with pytest.raises(ValueError) as info:
        F.dropout(cr.ones(3), p=p)
    assert "[0, 1]" in str(info.value)
    assert str(p) in str(info.value)
    with pytest.raises(ValueError):
        F.dropout(cr.ones(3), p=p, training=False)  # checked even when it would be identity


def test_other_argument_checks():
    with pytest.raises(ValueError, match="'exact'"):
        F.gelu(cr.zeros(3), approximate="exact")
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(cr.zeros(3), cr.zeros(3), beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(cr.zeros(3), cr.zeros(3), delta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(cr.zeros(2, 3), np.array([0, 1]), label_smoothing=1.5)


# -- dtypes ---------------------------------------------------------------------------------
def _ops(dtype):
    rng = np.random.default_rng(0)

    def arr(*shape, low=-2.0, high=2.0):
        return rng.uniform(low, high, size=shape).astype(dtype)

    probs = arr(4, 3, low=0.05, high=0.95)
    target01 = arr(4, 3, low=0.0, high=1.0)
    classes = np.array([0, 2, 1, 2])
    w3 = arr(3, low=0.5, high=1.5)
    return {
        "linear": (lambda x, w, b: F.linear(x, w, b), [arr(4, 3), arr(2, 3), arr(2)]),
        "linear_3d_nobias": (lambda x, w: F.linear(x, w), [arr(2, 4, 3), arr(2, 3)]),
        "sigmoid": (F.sigmoid, [arr(4, 3)]),
        "tanh": (F.tanh, [arr(4, 3)]),
        "relu": (F.relu, [arr(4, 3)]),
        "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), [arr(4, 3)]),
        "elu": (lambda x: F.elu(x, 0.5), [arr(4, 3)]),
        "gelu": (F.gelu, [arr(4, 3)]),
        "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [arr(4, 3)]),
        "softplus": (lambda x: F.softplus(x, beta=2.0), [arr(4, 3)]),
        "softmax": (lambda x: F.softmax(x, dim=1), [arr(4, 3)]),
        "log_softmax": (lambda x: F.log_softmax(x, dim=0), [arr(4, 3)]),
        "dropout": (lambda x: F.dropout(x, 0.5, generator=0), [arr(4, 3)]),
        "mse_loss": (F.mse_loss, [arr(4, 3), arr(4, 3)]),
        "l1_loss": (lambda x, y: F.l1_loss(x, y, reduction="sum"), [arr(4, 3), arr(4, 3)]),
        "smooth_l1_loss": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), [arr(4, 3), arr(4, 3)]),
        "huber_loss": (
            lambda x, y: F.huber_loss(x, y, reduction="none", delta=0.5),
            [arr(4, 3), arr(4, 3)],
        ),
        "binary_cross_entropy": (
            lambda p, y: F.binary_cross_entropy(p, y, weight=w3),
            [probs, target01],
        ),
        "binary_cross_entropy_with_logits": (
            lambda x, y: F.binary_cross_entropy_with_logits(x, y, weight=w3, pos_weight=w3),
            [arr(4, 3), target01],
        ),
        "cross_entropy": (
            lambda x: F.cross_entropy(x, classes, weight=w3, label_smoothing=0.1),
            [arr(4, 3)],
        ),
        "cross_entropy_probs": (lambda x, t: F.cross_entropy(x, t), [arr(4, 3), target01]),
        "nll_loss": (lambda x: F.nll_loss(x, classes, weight=w3, reduction="none"), [arr(4, 3)]),
    }


OP_NAMES = list(_ops(np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", OP_NAMES)
def test_dtype_is_kept_in_values_and_grads(name, dtype):
    fn, arrays = _ops(dtype)[name]
    tensors = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    assert out.dtype == dtype, f"{name}: {dtype.__name__} in, {out.dtype} out"
    assert np.all(np.isfinite(out.data))
    out.backward(np.ones(out.shape, dtype=dtype))
    for i, t in enumerate(tensors):
        assert t.grad is not None, f"{name}: no gradient for argument {i}"
        assert t.grad.dtype == dtype, f"{name}: grad {i} is {t.grad.dtype}"
        assert t.grad.shape == t.shape


@pytest.mark.parametrize("name", OP_NAMES)
def test_float32_and_float64_agree(name):
    # Same maths in both precisions: float32 results within float32 rounding of float64.
    fn64, arrays64 = _ops(np.float64)[name]
    fn32, arrays32 = _ops(np.float32)[name]
    out64 = fn64(*[cr.tensor(a.astype(np.float32).astype(np.float64)) for a in arrays64])
    out32 = fn32(*[cr.tensor(a) for a in arrays32])
    np.testing.assert_allclose(out32.data, out64.data, rtol=2e-5, atol=2e-6)


def test_default_dtype_tensors_stay_float32():
    x = cr.tensor([[0.05, 0.10]], requires_grad=True)
    assert x.dtype == np.float32
    w = cr.tensor([[0.15, 0.20], [0.25, 0.30]], requires_grad=True)
    loss = F.mse_loss(F.sigmoid(F.linear(x, w, cr.tensor([0.35, 0.35]))), cr.tensor([[0.01, 0.99]]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_losses_on_scalars():
    # 0-d input and target: every reduction returns a 0-d value.
    for reduction in ("mean", "sum", "none"):
        x = cr.tensor(np.float64(0.3), requires_grad=True)
        loss = F.mse_loss(x, cr.tensor(np.float64(1.0)), reduction=reduction)
        assert loss.shape == () and loss.item() == pytest.approx(0.49, rel=1e-15)
        loss.backward()
        assert x.grad == pytest.approx(-1.4, rel=1e-15)
        loss = F.binary_cross_entropy_with_logits(
            cr.tensor(np.float64(0.0)), cr.tensor(np.float64(1.0)), reduction=reduction
        )
        assert loss.item() == pytest.approx(np.log(2), rel=1e-15)


# -- dropout --------------------------------------------------------------------------------
def test_dropout_same_seed_same_mask():
    x = cr.ones(50, 40, dtype=np.float64)
    a = F.dropout(x, p=0.4, generator=7)
    b = F.dropout(x, p=0.4, generator=7)
    c = F.dropout(x, p=0.4, generator=8)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)
    # Same Generator state, same mask; a Generator advances between calls.
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(
        F.dropout(x, 0.4, generator=g1).data, F.dropout(x, 0.4, generator=g2).data
    )
    assert not np.array_equal(
        F.dropout(x, 0.4, generator=g1).data,
        F.dropout(x, 0.4, generator=np.random.default_rng(3)).data,
    )


def test_dropout_values_are_zero_or_scaled():
    x = cr.ones(100, 100, dtype=np.float64)
    out = F.dropout(x, p=0.25, generator=1).data
    assert set(np.unique(out)) <= {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.02


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_dropout_eval_is_identity(p):
    data = np.random.default_rng(2).standard_normal((5, 6))
    x = cr.tensor(data, requires_grad=True)
    out = F.dropout(x, p=p, training=False, generator=0)
    np.testing.assert_array_equal(out.data, data)
    (out * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(data.shape, 2.0))


def test_dropout_p_zero_training_is_identity():
    data = np.random.default_rng(3).standard_normal((5, 6))
    x = cr.tensor(data, requires_grad=True)
    out = F.dropout(x, p=0.0, training=True)
    np.testing.assert_array_equal(out.data, data)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones(data.shape))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_preserves_expected_value(p):
    rng = np.random.default_rng(4)
    data = rng.uniform(0.5, 2.0, size=(20,))
    x = cr.tensor(data)
    samples = np.stack([F.dropout(x, p=p, generator=rng).data for _ in range(4000)])
    mean = samples.mean(axis=0)
    # Each sample is x/(1-p) w.p. 1-p: std of the mean = x sqrt(p/(1-p)) / sqrt(n).
    tolerance = 5 * data * np.sqrt(p / (1 - p)) / np.sqrt(len(samples))
    assert np.all(np.abs(mean - data) < tolerance)
    # And the mask is drawn per element: the kept fraction is ~1-p.
    assert abs((samples != 0).mean() - (1 - p)) < 0.01


def test_dropout_float32_mask_scale_exact():
    x = cr.ones(10, 10)
    out = F.dropout(x, p=0.3, generator=5)
    assert out.dtype == np.float32
    kept = out.data[out.data != 0]
    np.testing.assert_array_equal(kept, np.float32(1) / np.float32(0.7))


@pytest.mark.parametrize(
    ("indices", "options", "expected"),
    [
        ([0, 3, 5], {}, [1, 0, 0, 2, 0, 3]),  # stride = kernel: length (3 − 1)·2 + 2
        ([0, 2, 4], {"stride": 3, "padding": 1}, [1, 0, 2, 0, 3, 0]),
        ([0, 2, 6], {"stride": 3, "padding": 1, "output_size": (7,)}, [1, 0, 2, 0, 0, 0, 3]),
    ],
)
def test_max_unpool1d_stride_padding_and_output_size(indices, options, expected):
    x = cr.tensor(np.array([[[1.0, 2.0, 3.0]]]))
    out = F.max_unpool1d(x, np.array([[indices]]), 2, **options)
    np.testing.assert_array_equal(out.numpy(), np.array([[expected]], dtype=float))


@pytest.mark.parametrize(
    ("shape", "channels"), [((4, 3), 3), ((2, 3, 5), 3), ((2, 3, 4, 4), 3), ((5,), 1), ((2, 3), 1)]
)
def test_prelu_one_slope_or_one_per_channel(shape, channels):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape)
    w = np.linspace(0.1, 0.3, channels)
    x, weight = cr.Tensor(a, requires_grad=True), cr.Tensor(w, requires_grad=True)
    slopes = w.reshape((-1,) + (1,) * (len(shape) - 2)) if channels > 1 else w[0]
    np.testing.assert_array_equal(F.prelu(x, weight).numpy(), np.where(a > 0, a, a * slopes))
    assert cr.gradcheck(lambda u, v: F.prelu(u, v).sum(), (x, weight))


def test_group_norm_scales_and_shifts_each_channel():
    x = np.arange(24, dtype=np.float64).reshape(2, 4, 3) ** 1.5
    w, b = np.array([1.0, 2.0, -1.0, 0.5]), np.array([0.0, 1.0, 2.0, -3.0])
    grouped = x.reshape(2, 2, 6)
    mean, var = grouped.mean(axis=2, keepdims=True), grouped.var(axis=2, keepdims=True)
    x_hat = ((grouped - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    out = F.group_norm(cr.tensor(x), 2, cr.tensor(w), cr.tensor(b)).numpy()
    np.testing.assert_allclose(out, x_hat * w[:, None] + b[:, None], rtol=1e-12, atol=1e-12)
