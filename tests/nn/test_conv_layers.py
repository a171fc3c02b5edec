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
        (
            lambda: F.max_pool2d(cr.randn(1, 1, 4, 4), 2, ceil_mode=True),
            NotImplementedError,
            "ceil",
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
