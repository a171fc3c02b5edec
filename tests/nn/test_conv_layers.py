"""The conv-net layers without PyTorch: shapes, hand-computed values, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


def test_conv2d_of_a_hand_computed_image():
    x = cr.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    w = cr.tensor(np.array([[[[1.0, 0.0], [0.0, -1.0]]]]))
    out = F.conv2d(x, w, cr.tensor([0.5]))
    # x[i, j] − x[i+1, j+1] = −5 everywhere, plus the bias.
    np.testing.assert_array_equal(out.data, np.full((1, 1, 3, 3), -4.5))


def test_conv_output_shapes_follow_pytorchs_formula():
    x = cr.randn(2, 3, 9, 8, generator=0)
    assert nn.Conv2d(3, 5, 3, stride=2, padding=1)(x).shape == (2, 5, 5, 4)
    assert nn.Conv2d(3, 6, (3, 1), dilation=2, groups=3)(x).shape == (2, 6, 5, 8)
    assert nn.Conv2d(3, 4, 4, padding="same")(x).shape == (2, 4, 9, 8)
    assert nn.Conv1d(3, 2, 3, padding="valid")(cr.randn(2, 3, 9, generator=0)).shape == (2, 2, 7)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (2, 3, 1, 1)


def test_max_pool_and_avg_pool_values():
    x = cr.tensor(np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 6.0]]]]))
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data, [[[[5.0, 8.0]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data, [[[[3.25, 4.0]]]])


def test_max_pool_gradient_goes_to_the_maximum_only():
    x = cr.tensor(np.array([[[[1.0, 5.0], [3.0, 4.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 1.0], [0.0, 0.0]]]])


def _pool_grad(x: np.ndarray, g: np.ndarray, **kw) -> np.ndarray:
    t = cr.tensor(x, requires_grad=True)
    (F.max_pool2d(t, **kw) * cr.tensor(g)).sum().backward()
    return t.grad


def test_tiled_max_pool_gives_a_tie_to_its_first_element_only():
    # stride == kernel takes the tiled VJP; a tie must go to the first maximum (row-major),
    # as the general path and PyTorch do, never split or doubled.
    x = np.array([[[[2.0, 2.0, 1.0, 7.0], [2.0, 2.0, 7.0, 7.0], [0.0, 0.0, 3.0, 3.0]]]])
    g = np.array([[[[10.0, 20.0]]]])
    expected = [[[[10.0, 0.0, 0.0, 20.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]]
    np.testing.assert_array_equal(_pool_grad(x, g, kernel_size=2), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_max_pool_gradient_matches_the_general_path(dtype):
    # Small integers make ties common; the reference is np.argmax's first maximum per block.
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(2, 3, 6, 6)).astype(dtype)
    g = rng.integers(1, 9, size=(2, 3, 3, 3)).astype(dtype)
    tiled = _pool_grad(x, g, kernel_size=2)
    reference = np.zeros_like(x)
    for n, c, i, j in np.ndindex(2, 3, 3, 3):
        block = x[n, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        a, b = np.unravel_index(int(np.argmax(block)), (2, 2))
        reference[n, c, 2 * i + a, 2 * j + b] = g[n, c, i, j]
    np.testing.assert_array_equal(tiled, reference)


@pytest.mark.parametrize("kernel", [(2, 3), (3, 1), (1, 1)])
def test_tiled_max_pool_uneven_kernel_crops_and_keeps_the_first_maximum(kernel):
    # 7×8 does not divide by the kernel: the last rows/columns are cropped (floor mode).
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)
    kh, kw = kernel
    ho, wo = 7 // kh, 8 // kw
    g = rng.integers(1, 9, size=(2, 2, ho, wo)).astype(np.float64)
    out = F.max_pool2d(cr.tensor(x), kernel).data
    reference, maxima = np.zeros_like(x), np.zeros((2, 2, ho, wo))
    for n, c, i, j in np.ndindex(2, 2, ho, wo):
        block = x[n, c, kh * i : kh * i + kh, kw * j : kw * j + kw]
        a, b = np.unravel_index(int(np.argmax(block)), kernel)
        reference[n, c, kh * i + a, kw * j + b] = g[n, c, i, j]
        maxima[n, c, i, j] = block.max()
    np.testing.assert_array_equal(out, maxima)
    np.testing.assert_array_equal(_pool_grad(x, g, kernel_size=kernel), reference)


def test_tiled_max_pool_infinite_gradient_stays_at_the_maximum():
    # 0·inf is NaN: the gradient must be routed, not multiplied by a mask.
    x = np.array([[[[1.0, 5.0], [3.0, 4.0]]]])
    grad = _pool_grad(x, np.full((1, 1, 1, 1), np.inf), kernel_size=2)
    np.testing.assert_array_equal(grad, [[[[0.0, np.inf], [0.0, 0.0]]]])


def test_max_pool_with_nan_keeps_the_general_paths_gradient():
    x = np.array([[[[np.nan, 1.0], [3.0, 4.0]]]])
    # NaN == NaN is False, so the tiled VJP would drop it; the general path sends it to the NaN.
    grad = _pool_grad(x, np.ones((1, 1, 1, 1)), kernel_size=2)
    np.testing.assert_array_equal(grad, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(4, 2, padding_idx=1, generator=0)
    assert not emb.weight.data[1].any()
    emb(np.array([1, 1, 3])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad, [[0, 0], [0, 0], [0, 0], [1, 1]])


def test_cnn_trains_and_round_trips_through_state_dict():
    model = nn.Sequential(
        nn.Unflatten(1, (1, 4, 4)),
        nn.Conv2d(1, 4, 3, padding=1, generator=0),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 2, generator=0),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 16)).astype(np.float32)
    y = (x[:, :8].sum(axis=1) > x[:, 8:].sum(axis=1)).astype(np.int64)
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(cr.tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert "2.running_mean" in model.state_dict()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: F.conv2d(cr.randn(1, 3, 5, 5), cr.randn(2, 2, 3, 3)), ValueError, "2 channels"),
        (lambda: F.conv2d(cr.randn(3, 5, 5), cr.randn(2, 3, 3, 3)), ValueError, "(N, C, H, W)"),
        (lambda: F.conv2d(cr.randn(1, 1, 2, 2), cr.randn(1, 1, 3, 3)), ValueError, "kernel"),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, "stride 1"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "divisible by groups"),
        (lambda: F.max_pool2d(cr.randn(1, 1, 4, 4), 2, padding=2), ValueError, "half the kernel"),
        (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode one of"),
        (lambda: F.pad(cr.randn(1, 2, 3), (3, 0), mode="reflect"), ValueError, "at most 2"),
        (lambda: F.pad(cr.randn(1, 2, 3), (1, 1), mode="wrap"), ValueError, "mode one of"),
        (
            lambda: F.max_unpool2d(cr.randn(1, 1, 2, 2), np.full((1, 1, 2, 2), 16), 2),
            ValueError,
            "indices in [0, 16)",
        ),
        (
            lambda: F.max_unpool2d(cr.randn(1, 1, 2, 2), np.zeros((1, 1, 2)), 2),
            ValueError,
            "integer indices",
        ),
        (
            lambda: F.max_unpool2d(
                cr.randn(1, 1, 2, 2), np.zeros((1, 1, 2, 2), int), 2, None, 0, (9, 4)
            ),
            ValueError,
            "output_size between 2 and 6",
        ),
        (lambda: nn.GroupNorm(3, 4), ValueError, "divisible"),
        (lambda: F.layer_norm(cr.randn(2, 3), (4,)), ValueError, "(*, 4)"),
        (lambda: nn.Embedding(3, 2)(np.array([3])), IndexError, "[0, 3)"),
        (lambda: F.embedding(np.array([0.5]), cr.randn(3, 2)), TypeError, "integer"),
        (lambda: F.one_hot(np.array([3]), 2), ValueError, "num_classes=2"),
        (lambda: F.pad(cr.randn(2), (1, 1, 1, 1)), ValueError, "even number"),
        (lambda: nn.Unflatten(1, (3, 3))(cr.randn(2, 8)), ValueError, "size 9"),
        (lambda: F.prelu(cr.randn(2, 3), cr.randn(2)), ValueError, "1 or 3 elements"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=None) as caught:
        call()
    assert message in str(caught.value)


def test_conv2d_checks_every_call_with_cached_plans():
    # The checked arguments are cached per (shapes, options): a list argument works, a
    # shape that fails still fails after a good one, and an unhashable one is checked too.
    w = cr.randn(3, 2, 3, 3)
    assert F.conv2d(cr.randn(1, 2, 5, 5), w, None, [1, 1], [1, 1]).shape == (1, 3, 5, 5)
    assert F.conv2d(cr.randn(1, 2, 5, 5), w, None, (1, 1), (1, 1)).shape == (1, 3, 5, 5)
    with pytest.raises(ValueError, match="kernel"):
        F.conv2d(cr.randn(1, 2, 2, 2), w, None, (1, 1), 0)
    with pytest.raises(ValueError, match="stride an int or a pair"):
        F.conv2d(cr.randn(1, 2, 5, 5), w, None, np.array([1, 1]))
