"""chainrule.nn layers, init and utils number for number (and text for text) against PyTorch.

Everything numeric runs in float64 with PyTorch's weights copied into chainrule's
layers through ``load_state_dict``, which also checks that the state dict keys agree.
"""

from __future__ import annotations

import inspect
import math
import re
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.nn import init
from chainrule.nn.init import _calculate_fan_in_and_fan_out
from chainrule.nn.utils import clip_grad_norm_

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"rtol": 1e-10, "atol": 1e-10}


@pytest.fixture(autouse=True)
def _torch_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)


def copy_weights(ours: nn.Module, theirs) -> None:
    """Load PyTorch's state into ours (strict: the keys must be the same)."""
    state = OrderedDict((k, v.detach().numpy().copy()) for k, v in theirs.state_dict().items())
    assert list(state) == list(ours.state_dict())
    ours.load_state_dict(state)


def inputs(*shape, seed: int = 0) -> tuple[cr.Tensor, object]:
    data = np.random.default_rng(seed).normal(size=shape)
    return cr.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def assert_close(ours, theirs) -> None:
    ours = ours.data if isinstance(ours, cr.Tensor) else ours
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)


def assert_grads_equal(ours: nn.Module, theirs) -> None:
    their_params = dict(theirs.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(their_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, their_params[name].grad.numpy(), **TOL, err_msg=name)


# -- Linear and Sequential -----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4)], ids=["2d", "1d", "3d"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward(shape, bias):
    ours, theirs = nn.Linear(4, 3, bias=bias, dtype=np.float64), tnn.Linear(4, 3, bias=bias)
    copy_weights(ours, theirs)
    x, tx = inputs(*shape)
    out, t_out = ours(x), theirs(tx)
    assert_close(out, t_out)
    g = np.random.default_rng(1).normal(size=out.shape)
    out.backward(g)
    t_out.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)
    assert_grads_equal(ours, theirs)


def mlp_pair():
    ours = nn.Sequential(
        nn.Linear(6, 16, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(16, 8, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(8, 8, dtype=np.float64),
        nn.GELU(),
        nn.Linear(8, 3, dtype=np.float64),
    )
    theirs = tnn.Sequential(
        tnn.Linear(6, 16),
        tnn.ReLU(),
        tnn.Linear(16, 8),
        tnn.Tanh(),
        tnn.Linear(8, 8),
        tnn.GELU(),
        tnn.Linear(8, 3),
    )
    copy_weights(ours, theirs)
    return ours, theirs


def test_sequential_mlp_forward_backward_with_cross_entropy():
    ours, theirs = mlp_pair()
    x, tx = inputs(10, 6)
    target = np.random.default_rng(2).integers(0, 3, size=10)
    loss = F.cross_entropy(ours(x), target)
    t_loss = torch.nn.functional.cross_entropy(theirs(tx), torch.tensor(target))
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-12)
    loss.backward()
    t_loss.backward()
    assert_close(x.grad, tx.grad)
    assert_grads_equal(ours, theirs)


# -- BatchNorm1d -----------------------------------------------------------------------------
def bn_pair(channels: int = 3, **options):
    ours, theirs = (
        nn.BatchNorm1d(channels, dtype=np.float64, **options),
        tnn.BatchNorm1d(channels, **options),
    )
    if options.get("affine", True):
        with torch.no_grad():  # not the default ones/zeros, so that the affine part is tested
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-0.5, 0.5)
    copy_weights(ours, theirs)
    return ours, theirs


def assert_bn_state_equal(ours, theirs) -> None:
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(
            getattr(ours, name).data, value.numpy(), **TOL, err_msg=name, strict=True
        )


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)], ids=["2d", "3d"])
@pytest.mark.parametrize(
    "options",
    [{}, {"momentum": None}, {"affine": False}, {"momentum": 0.3, "eps": 1e-3}, {"bias": False}],
    ids=["default", "momentum=None", "affine=False", "momentum=0.3", "bias=False"],
)
def test_batchnorm_training_steps_then_eval(shape, options):
    if "bias" in options and "bias" not in inspect.signature(tnn.BatchNorm1d).parameters:
        pytest.skip("this PyTorch's BatchNorm1d has no bias= keyword")
    ours, theirs = bn_pair(**options)
    for step in range(4):  # several steps: the running statistics accumulate
        x, tx = inputs(*shape, seed=step)
        scale = 1.0 + step
        out, t_out = ours(x * scale + step), theirs(tx * scale + step)
        assert_close(out, t_out)
        g = np.random.default_rng(10 + step).normal(size=shape)
        out.backward(g)
        t_out.backward(torch.tensor(g))
        assert_close(x.grad, tx.grad)
        if options.get("affine", True):
            assert_grads_equal(ours, theirs)
        ours.zero_grad()
        theirs.zero_grad()
        assert_bn_state_equal(ours, theirs)
    assert ours.num_batches_tracked.item() == 4

    ours.eval()
    theirs.eval()
    x, tx = inputs(*shape, seed=99)
    out, t_out = ours(x), theirs(tx)
    assert_close(out, t_out)
    g = np.random.default_rng(100).normal(size=shape)
    out.backward(g)
    t_out.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)
    if options.get("affine", True):
        assert_grads_equal(ours, theirs)
    assert_bn_state_equal(ours, theirs)


def test_batchnorm_without_running_stats():
    ours, theirs = bn_pair(track_running_stats=False)
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        x, tx = inputs(6, 3, seed=int(mode))
        assert_close(ours(x), theirs(tx))


def test_functional_batch_norm_updates_the_given_running_stats():
    mean, var = np.zeros(4), np.ones(4)
    t_mean, t_var = torch.zeros(4), torch.ones(4)
    x, tx = inputs(7, 4)
    out = F.batch_norm(x, mean, var, training=True, momentum=0.25, eps=1e-4)
    t_out = torch.nn.functional.batch_norm(
        tx, t_mean, t_var, training=True, momentum=0.25, eps=1e-4
    )
    assert_close(out, t_out)
    np.testing.assert_allclose(mean, t_mean.numpy(), **TOL)
    np.testing.assert_allclose(var, t_var.numpy(), **TOL)


def test_mlp_with_batchnorm_and_dropout_in_eval_matches():
    ours = nn.Sequential(
        nn.Linear(5, 8, dtype=np.float64),
        nn.BatchNorm1d(8, dtype=np.float64),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 2, dtype=np.float64),
    )
    theirs = tnn.Sequential(
        tnn.Linear(5, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(8, 2)
    )
    copy_weights(ours, theirs)
    for seed in range(3):  # dropout is off in eval mode, batch norm statistics stay fixed
        ours.train()
        theirs.train()
        ours[1](ours[0](inputs(16, 5, seed=seed)[0]))
        theirs[1](theirs[0](inputs(16, 5, seed=seed)[1]))
    ours.eval()
    theirs.eval()
    x, tx = inputs(9, 5, seed=7)
    assert_close(ours(x), theirs(tx))
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), **TOL, err_msg=name)


# -- names and text --------------------------------------------------------------------------
def test_repr_matches_pytorch():
    ours = nn.Sequential(
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.BatchNorm1d(128),
        nn.Sequential(nn.Linear(128, 10, bias=False), nn.LeakyReLU(0.1), nn.ELU()),
        nn.GELU(approximate="tanh"),
        nn.Softplus(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Softmax(dim=1),
        nn.LogSoftmax(dim=-1),
        nn.Flatten(),
        nn.Identity(),
        nn.BatchNorm1d(4, momentum=None, affine=False, track_running_stats=False),
        nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Tanh()]),
        nn.ModuleDict({"head": nn.Linear(3, 1)}),
    )
    theirs = tnn.Sequential(
        tnn.Linear(64, 128),
        tnn.ReLU(),
        tnn.Dropout(0.2),
        tnn.BatchNorm1d(128),
        tnn.Sequential(tnn.Linear(128, 10, bias=False), tnn.LeakyReLU(0.1), tnn.ELU()),
        tnn.GELU(approximate="tanh"),
        tnn.Softplus(),
        tnn.Sigmoid(),
        tnn.Tanh(),
        tnn.Softmax(dim=1),
        tnn.LogSoftmax(dim=-1),
        tnn.Flatten(),
        tnn.Identity(),
        tnn.BatchNorm1d(4, momentum=None, affine=False, track_running_stats=False),
        tnn.ModuleList([tnn.Linear(2, 2), tnn.Linear(2, 2), tnn.Tanh()]),
        tnn.ModuleDict({"head": tnn.Linear(3, 1)}),
    )
    expected = repr(theirs)
    if "bias=True, track_running_stats" not in expected:  # PyTorch before BatchNorm's bias=
        expected = re.sub(r"affine=(\w+), track", r"affine=\1, bias=\1, track", expected)
    assert repr(ours) == expected


def test_named_parameters_and_state_dict_keys_match_pytorch():
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.stem = lib.Linear(2, 3)
                self.blocks = lib.ModuleList([lib.Linear(3, 3), lib.Tanh(), lib.Linear(3, 3)])
                self.norm = lib.BatchNorm1d(3)
                self.heads = lib.ModuleDict({"a": lib.Linear(3, 1), "b": lib.Linear(3, 2)})

        return Net()

    ours, theirs = build(nn), build(tnn)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


# -- init and utils --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [
        ("linear", None),
        ("conv1d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
    ],
)
def test_calculate_gain_matches_pytorch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == tnn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize("shape", [(3, 5), (7, 2), (4, 3, 2), (8, 4, 3, 3)])
def test_fans_match_pytorch(shape):
    expected = tnn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    assert _calculate_fan_in_and_fan_out(np.zeros(shape)) == expected


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    ours, theirs = mlp_pair()
    x, tx = inputs(10, 6)
    ours(x).pow(2).sum().backward()
    theirs(tx).pow(2).sum().backward()
    total = clip_grad_norm_(ours.parameters(), max_norm, norm_type=norm_type)
    t_total = tnn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == ()
    assert total.item() == pytest.approx(t_total.item(), rel=1e-12)
    assert_grads_equal(ours, theirs)


def test_clip_grad_norm_nonfinite_raises_like_pytorch():
    ours, theirs = nn.Linear(2, 2, dtype=np.float64), tnn.Linear(2, 2)
    ours.weight.grad = np.array([[np.inf, 0.0], [0.0, 1.0]])
    theirs.weight.grad = torch.tensor([[np.inf, 0.0], [0.0, 1.0]])
    with pytest.raises(RuntimeError):
        tnn.utils.clip_grad_norm_(theirs.parameters(), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours.parameters(), 1.0, error_if_nonfinite=True)
