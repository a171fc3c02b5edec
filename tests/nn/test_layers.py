"""Layers: Linear, Sequential and the containers, Identity, Flatten, activations, Dropout,
BatchNorm1d — shapes, dtypes, initialization, modes, errors and reprs."""

from __future__ import annotations

import math
import re
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

F64 = np.float64


def normal(*shape, seed: int = 0) -> cr.Tensor:
    return cr.Tensor(np.random.default_rng(seed).normal(size=shape))


# -- Linear -----------------------------------------------------------------------------
def test_linear_shapes_dtype_and_forward():
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32 == layer.bias.dtype  # the default dtype
    assert isinstance(layer.weight, nn.Parameter)
    x = normal(5, 4).astype(np.float32)
    out = layer(x)
    np.testing.assert_allclose(
        out.data, x.data @ layer.weight.data.T + layer.bias.data, rtol=1e-6, atol=1e-6
    )
    assert layer(normal(2, 6, 4)).shape == (2, 6, 3)


def test_linear_follows_the_default_dtype_unless_given():
    previous = cr.get_default_dtype()
    try:
        cr.set_default_dtype(np.float64)
        assert nn.Linear(2, 2).weight.dtype == np.float64
        assert nn.BatchNorm1d(2).running_mean.dtype == np.float64
    finally:
        cr.set_default_dtype(previous)
    assert nn.Linear(2, 2, dtype=np.float64).bias.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point dtype"):
        nn.Linear(2, 2, dtype=np.int64)


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    layer = nn.Linear(400, 300, dtype=F64, generator=0)
    bound = 1 / math.sqrt(400)
    w = layer.weight.data
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    # U(−a, a) has standard deviation a/√3.
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert np.abs(layer.bias.data).max() <= bound
    assert layer.bias.data.std() > 0.4 * bound


def test_linear_generator_makes_init_reproducible():
    a = nn.Linear(5, 4, generator=7)
    b = nn.Linear(5, 4, generator=np.random.default_rng(7))
    c = nn.Linear(5, 4, generator=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    weight = a.weight.data
    a.reset_parameters(generator=8)
    assert a.weight.data is weight  # re-initialized in place
    np.testing.assert_array_equal(a.weight.data, c.weight.data)


def test_linear_without_bias_and_errors():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"
    with pytest.raises(ValueError, match=re.escape("expected input (..., 3), got shape (32, 5)")):
        layer(cr.zeros(32, 5))
    with pytest.raises(ValueError, match=re.escape("in_features to be an int >= 0, got 2.5")):
        nn.Linear(2.5, 3)


def test_linear_backward_matches_the_formulas():
    layer = nn.Linear(3, 2, dtype=F64, generator=0)
    x = normal(4, 3)
    g = np.random.default_rng(1).normal(size=(4, 2))
    layer(x).backward(g)
    np.testing.assert_allclose(layer.weight.grad, g.T @ x.data, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, g.sum(0), rtol=1e-12)


# -- Sequential and containers -------------------------------------------------------------
def test_sequential_indexing_slicing_len_iter_append():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b
    assert list(seq) == [a, b]
    assert seq.append(c) is seq and seq[2] is c and len(seq) == 3
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    assert head[0].weight is a.weight  # the slice shares the modules
    assert list(seq[::-1]) == [c, b, a]
    assert seq(cr.ones(4, 2)).shape == (4, 1)
    with pytest.raises(IndexError, match="index 3 is out of range for a Sequential of length 3"):
        seq[3]
    with pytest.raises(TypeError, match="integers or slices"):
        seq["0"]


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.Tanh())]))
    assert [name for name, _ in seq.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert isinstance(seq[1], nn.Tanh) and seq.hidden is seq[0]
    assert list(seq[1:]._modules) == ["act"]


def test_sequential_delete_insert_and_setitem_renumber():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    seq = nn.Sequential(a, b, c)
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and list(seq) == [b, c]
    seq.insert(1, a)
    assert list(seq) == [b, a, c] and list(seq._modules) == ["0", "1", "2"]
    seq[2] = nn.Identity()
    assert isinstance(seq[2], nn.Identity)
    del seq[1:]
    assert list(seq) == [b] and seq[0] is b


def test_sequential_with_a_non_module():
    with pytest.raises(
        TypeError, match="Sequential expected Modules, got 'int' object at position 1"
    ):
        nn.Sequential(nn.ReLU(), 3)


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[1:], nn.ModuleList)
    layers += [nn.ReLU()]
    assert len(layers) == 4
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    with pytest.raises(NotImplementedError):
        layers(cr.ones(2))
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads.update([("b", nn.Linear(2, 2))])
    assert list(heads.keys()) == ["a", "b"] and "a" in heads and len(heads) == 2
    assert [k for k, _ in heads.items()] == ["a", "b"]
    popped = heads.pop("a")
    assert isinstance(popped, nn.Linear) and list(heads) == ["b"]
    with pytest.raises(KeyError, match="ModuleDict has no key 'z'; keys: 'b'"):
        heads["z"]
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []


def test_module_list_repr_compresses_repeats():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    assert repr(layers) == (
        "ModuleList(\n"
        "  (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=2, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(nn.ModuleList()) == "ModuleList()"


# -- Identity, Flatten, activations --------------------------------------------------------
def test_identity_and_flatten():
    x = normal(2, 3, 4)
    assert nn.Identity(54, unused="x")(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Flatten(start_dim=0)(x).shape == (24,)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


@pytest.mark.parametrize(
    ("module", "functional"),
    [
        (nn.ReLU(), F.relu),
        (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)),
        (nn.ELU(alpha=0.5), lambda x: F.elu(x, 0.5)),
        (nn.GELU(), F.gelu),
        (nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
        (nn.Sigmoid(), F.sigmoid),
        (nn.Tanh(), F.tanh),
        (nn.Softplus(beta=2.0, threshold=5.0), lambda x: F.softplus(x, 2.0, 5.0)),
        (nn.Softmax(dim=0), lambda x: F.softmax(x, dim=0)),
        (nn.LogSoftmax(dim=1), lambda x: F.log_softmax(x, dim=1)),
        (nn.Softmax(), lambda x: F.softmax(x, dim=-1)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_activation_modules_equal_their_functions(module, functional):
    x = normal(3, 4) * 3
    np.testing.assert_array_equal(module(x).data, functional(x).data)
    assert list(module.parameters()) == []


def test_activation_reprs():
    assert [
        repr(m)
        for m in (
            nn.ReLU(),
            nn.ReLU(inplace=True),
            nn.LeakyReLU(),
            nn.ELU(),
            nn.GELU(),
            nn.Sigmoid(),
            nn.Tanh(),
            nn.Softplus(),
            nn.Softmax(dim=1),
            nn.LogSoftmax(dim=-1),
        )
    ] == [
        "ReLU()",
        "ReLU(inplace=True)",
        "LeakyReLU(negative_slope=0.01)",
        "ELU(alpha=1.0)",
        "GELU(approximate='none')",
        "Sigmoid()",
        "Tanh()",
        "Softplus(beta=1.0, threshold=20.0)",
        "Softmax(dim=1)",
        "LogSoftmax(dim=-1)",
    ]
    with pytest.raises(ValueError, match="approximate='none' or 'tanh', got 'fast'"):
        nn.GELU("fast")


# -- Dropout -----------------------------------------------------------------------------
def test_dropout_statistics():
    p = 0.3
    x = cr.ones(400, 500, dtype=F64)
    out = nn.Dropout(p, generator=0)(x).data
    zeroed = np.mean(out == 0)
    assert abs(zeroed - p) < 0.005
    np.testing.assert_allclose(out[out != 0], 1 / (1 - p), rtol=1e-12)
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_dropout_same_seed_same_mask_and_reseeding():
    x = normal(20, 30)
    a, b = nn.Dropout(0.5, generator=3), nn.Dropout(0.5, generator=np.random.default_rng(3))
    first = a(x).data
    np.testing.assert_array_equal(first, b(x).data)
    assert not np.array_equal(first, a(x).data)  # the generator moves on
    a.generator = 3  # a training loop reseeds by assignment
    assert isinstance(a.generator, np.random.Generator)
    np.testing.assert_array_equal(a(x).data, first)


def test_dropout_is_identity_in_eval_and_gradient_uses_the_mask():
    layer = nn.Dropout(0.4, generator=1)
    x = cr.tensor(np.random.default_rng(0).normal(size=(6, 7)), requires_grad=True)
    layer.eval()
    assert layer(x) is x
    layer.train()
    out = layer(x)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, (out.data != 0) / 0.6, rtol=1e-12)


def test_dropout_edges_and_errors():
    x = normal(3, 3)
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).data.any()
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    for bad in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="probability p in"):
            nn.Dropout(bad)
    with pytest.raises(TypeError, match="generator expected"):
        nn.Dropout(0.5, generator="seed")


# -- BatchNorm1d -------------------------------------------------------------------------
def test_batchnorm_train_normalizes_and_updates_running_stats():
    bn = nn.BatchNorm1d(3, dtype=F64)
    data = np.random.default_rng(0).normal(2.0, 3.0, size=(50, 3))
    out = bn(cr.Tensor(data)).data
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(0), 1 / (1 + 1e-5 / data.var(0)), rtol=1e-12)
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * data.var(0, ddof=1), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1


def test_batchnorm_eval_uses_running_stats_and_does_not_update():
    bn = nn.BatchNorm1d(2, dtype=F64, eps=0.0)
    bn.running_mean.data[...] = [1.0, -1.0]
    bn.running_var.data[...] = [4.0, 0.25]
    bn.weight.data[...] = [2.0, 3.0]
    bn.bias.data[...] = [0.5, 0.0]
    bn.eval()
    x = cr.tensor([[3.0, -0.5], [1.0, 0.0]], dtype=F64)
    np.testing.assert_allclose(bn(x).data, [[2.5, 3.0], [0.5, 6.0]], rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean.data, [1.0, -1.0])
    assert bn.num_batches_tracked.item() == 0


def test_batchnorm_momentum_none_is_the_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=F64)
    batches = [np.random.default_rng(i).normal(i, 1.0 + i, size=(8, 2)) for i in range(4)]
    for batch in batches:
        bn(cr.Tensor(batch))
    np.testing.assert_allclose(
        bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12
    )
    np.testing.assert_allclose(
        bn.running_var.data, np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-12
    )
    assert bn.num_batches_tracked.item() == 4


def test_batchnorm_3d_input_normalizes_over_batch_and_length():
    bn = nn.BatchNorm1d(3, affine=False, dtype=F64)
    data = np.random.default_rng(1).normal(size=(4, 3, 5)) * [[[1.0], [2.0], [3.0]]]
    out = bn(cr.Tensor(data)).data
    assert out.shape == (4, 3, 5)
    np.testing.assert_allclose(out.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * data.mean(axis=(0, 2)), rtol=1e-12)
    assert list(bn.parameters()) == [] and bn.weight is None


def test_batchnorm_weight_without_bias():
    bn = nn.BatchNorm1d(2, bias=False, dtype=F64)
    assert [name for name, _ in bn.named_parameters()] == ["weight"]
    bn.weight.data[...] = [2.0, -1.0]
    out = bn(cr.tensor([[1.0, 1.0], [3.0, 2.0]], dtype=F64)).data
    np.testing.assert_allclose(out, [[-2.0, 1.0], [2.0, -1.0]], rtol=1e-4)
    assert "affine=True, bias=False" in repr(bn)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    bn = nn.BatchNorm1d(2, track_running_stats=False, dtype=F64)
    assert bn.running_mean is None and bn.num_batches_tracked is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = normal(6, 2)
    bn.eval()
    np.testing.assert_allclose(bn(x).data.mean(0), 0, atol=1e-12)


def test_batchnorm_float32_stays_float32():
    bn = nn.BatchNorm1d(4)
    out = bn(normal(8, 4).astype(np.float32))
    assert out.dtype == np.float32 and bn.running_var.dtype == np.float32


def test_batchnorm_errors_and_repr():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=re.escape("expected input (N, 3) or (N, 3, L), got")):
        bn(cr.zeros(4, 5))
    with pytest.raises(ValueError, match=re.escape("got shape (2, 3, 4, 5)")):
        bn(cr.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel when training"):
        bn(cr.zeros(1, 3))
    assert bn.num_batches_tracked.item() == 0  # a rejected batch is not counted
    bn.eval()
    assert bn(cr.zeros(1, 3)).shape == (1, 3)  # one sample is fine in eval
    assert repr(bn) == (
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )


def test_batchnorm_reset():
    bn = nn.BatchNorm1d(2, dtype=F64)
    bn(normal(5, 2))
    mean = bn.running_mean.data
    bn.reset_running_stats()
    assert bn.running_mean.data is mean and not mean.any()
    assert bn.num_batches_tracked.item() == 0


def test_sequential_repr_is_pytorchs_text():
    model = nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm1d(128), nn.Linear(128, 10)
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=64, out_features=128, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.2, inplace=False)\n"
        "  (3): BatchNorm1d(128, eps=1e-05, momentum=0.1, affine=True, bias=True, "
        "track_running_stats=True)\n"
        "  (4): Linear(in_features=128, out_features=10, bias=True)\n"
        ")"
    )
