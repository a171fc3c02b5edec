"""The conv-net layers and new functions against PyTorch in float64 (skipped without torch).

PyTorch's weights go into chainrule's layers through ``load_state_dict`` (strict), so the
state dict names are checked too; values and every input/parameter gradient must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional
TOL = {"rtol": 1e-9, "atol": 1e-10}


@pytest.fixture(autouse=True)
def _float64():
    previous = cr.get_default_dtype()
    cr.set_default_dtype(np.float64)
    yield
    cr.set_default_dtype(previous)


def _compare(ours, theirs, x: np.ndarray, train: bool = True, tol=TOL):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.train(train)
    theirs.train(train)
    a = cr.Tensor(x.copy(), requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    out_a, out_b = ours(a), theirs(b)
    np.testing.assert_allclose(out_a.data, out_b.detach().numpy(), **TOL)
    weights = np.random.default_rng(1).normal(size=out_a.shape)
    (out_a * cr.Tensor(weights)).sum().backward()
    (out_b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs_params[name].grad.numpy(), **TOL)
    for name, buf in theirs.named_buffers():
        np.testing.assert_allclose(ours.state_dict()[name], buf.numpy(), **TOL)


IMG = np.random.default_rng(0).normal(size=(3, 4, 7, 6))
SEQ = np.random.default_rng(2).normal(size=(3, 4, 9))
LAYERS = [
    ("Conv2d", lambda m: m.Conv2d(4, 6, 3), IMG),
    ("Conv2d strided", lambda m: m.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2)), IMG),
    ("Conv2d groups dilation", lambda m: m.Conv2d(4, 6, 2, dilation=2, groups=2), IMG),
    ("Conv2d same no bias", lambda m: m.Conv2d(4, 2, 4, padding="same", bias=False), IMG),
    ("Conv1d", lambda m: m.Conv1d(4, 5, 3, stride=2, padding=1), SEQ),
    ("Conv1d same", lambda m: m.Conv1d(4, 4, 4, padding="same", groups=4), SEQ),
    ("MaxPool2d", lambda m: m.MaxPool2d(3, 2, 1), IMG),
    ("MaxPool1d", lambda m: m.MaxPool1d(2), SEQ),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), IMG),
    ("AvgPool1d", lambda m: m.AvgPool1d(3, 2, 1, count_include_pad=False), SEQ),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((3, 4)), IMG),
    ("MaxPool2d ceil_mode pad", lambda m: m.MaxPool2d(3, 2, 1, ceil_mode=True), IMG),
    ("MaxPool2d ceil_mode tiled", lambda m: m.MaxPool2d(2, ceil_mode=True), IMG),
    ("MaxPool1d ceil_mode", lambda m: m.MaxPool1d(2, ceil_mode=True), SEQ),
    ("AvgPool2d ceil_mode pad", lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True), IMG),
    (
        "AvgPool2d ceil_mode no pad count",
        lambda m: m.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        IMG,
    ),
    ("AvgPool1d ceil_mode", lambda m: m.AvgPool1d(2, ceil_mode=True), SEQ),
    ("Conv2d reflect", lambda m: m.Conv2d(4, 3, 3, padding=2, padding_mode="reflect"), IMG),
    (
        "Conv2d replicate strided",
        lambda m: m.Conv2d(4, 3, (3, 2), stride=2, padding=(1, 3), padding_mode="replicate"),
        IMG,
    ),
    (
        "Conv2d circular same",
        lambda m: m.Conv2d(4, 2, 4, padding="same", padding_mode="circular"),
        IMG,
    ),
    ("Conv1d circular", lambda m: m.Conv1d(4, 5, 3, padding=4, padding_mode="circular"), SEQ),
    (
        "Conv1d reflect valid",
        lambda m: m.Conv1d(4, 5, 3, padding="valid", padding_mode="reflect"),
        SEQ,
    ),
    ("BatchNorm2d", lambda m: m.BatchNorm2d(4), IMG),
    ("LayerNorm", lambda m: m.LayerNorm([7, 6]), IMG),
    ("GroupNorm", lambda m: m.GroupNorm(2, 4), IMG),
    ("Unflatten", lambda m: m.Unflatten(1, (2, 2)), IMG),
    ("PReLU", lambda m: m.PReLU(4, init=0.1), IMG),
    *[
        (name, lambda m, name=name: getattr(m, name)(), 3 * IMG)
        for name in "SiLU Mish SELU CELU ReLU6 Hardtanh Hardsigmoid Hardswish LogSigmoid".split()
    ],
    ("Softmin", lambda m: m.Softmin(dim=1), IMG),
]


@pytest.mark.parametrize("make, x", [(m, x) for _, m, x in LAYERS], ids=[n for n, _, _ in LAYERS])
def test_layer_matches_pytorch(make, x):
    torch.manual_seed(0)
    ours = make(nn)
    # PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32 (rel. 3e-8).
    tol = {"rtol": 1e-7, "atol": 1e-10} if isinstance(ours, nn.Hardsigmoid) else TOL
    _compare(ours, make(tnn).double(), x, tol=tol)


def test_batchnorm2d_eval_uses_running_statistics():
    ours, theirs = nn.BatchNorm2d(4), tnn.BatchNorm2d(4).double()
    _compare(ours, theirs, IMG, train=True)
    _compare(ours, theirs, IMG * 2 + 1, train=False)


def test_embedding_matches_pytorch_and_skips_padding_row():
    torch.manual_seed(0)
    theirs = tnn.Embedding(6, 3, padding_idx=2).double()
    ours = nn.Embedding(6, 3, padding_idx=2)
    ours.load_state_dict({"weight": theirs.weight.detach().numpy()})
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    out_a, out_b = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(out_a.data, out_b.detach().numpy())
    out_a.sum().backward()
    out_b.sum().backward()
    np.testing.assert_array_equal(ours.weight.grad, theirs.weight.grad.numpy())
    assert not ours.weight.grad[2].any()


@pytest.mark.parametrize(
    "name",
    ["MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss"],
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_loss_modules_match_pytorch(name, reduction):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0.05, 0.95, size=(4, 3)), rng.uniform(0.05, 0.95, size=(4, 3))
    ours = getattr(nn, name)(reduction=reduction)(cr.tensor(x), cr.tensor(y))
    theirs = getattr(tnn, name)(reduction=reduction)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ours.data, theirs.numpy(), **TOL)


def test_class_loss_modules_match_pytorch():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)(cr.tensor(x), y)
    tce = tnn.CrossEntropyLoss(label_smoothing=0.1)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ce.item(), tce.item(), **TOL)
    logp = F.log_softmax(cr.tensor(x), dim=1)
    nll = nn.NLLLoss()(logp, y)
    np.testing.assert_allclose(
        nll.item(), TF.nll_loss(torch.tensor(logp.data), torch.tensor(y)).item(), **TOL
    )
    p = rng.dirichlet(np.ones(3), size=5)
    kl = nn.KLDivLoss(reduction="batchmean")(logp, cr.tensor(p))
    tkl = tnn.KLDivLoss(reduction="batchmean")(torch.tensor(logp.data), torch.tensor(p))
    np.testing.assert_allclose(kl.item(), tkl.item(), **TOL)


def test_functional_helpers_match_pytorch():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(
        F.pad(cr.tensor(x), (1, 2, 3, 0), value=-1.0).data,
        TF.pad(torch.tensor(x), (1, 2, 3, 0), value=-1.0).numpy(),
    )
    np.testing.assert_allclose(
        F.normalize(cr.tensor(x), dim=2).data, TF.normalize(torch.tensor(x), dim=2).numpy(), **TOL
    )
    labels = np.array([[0, 3], [1, 1]])
    np.testing.assert_array_equal(
        F.one_hot(labels, 5).data, TF.one_hot(torch.tensor(labels), 5).numpy()
    )


def test_default_init_has_pytorchs_bounds():
    conv = nn.Conv2d(3, 8, 3, generator=0)
    bound = 1 / np.sqrt(27)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.8 * bound
    assert list(conv.state_dict()) == list(tnn.Conv2d(3, 8, 3).state_dict())


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}],
    ids=["tiled", "overlapping ceil_mode"],
)
def test_max_pool_indices_and_unpool_match_pytorch(kwargs):
    # Integer values in [0, 3): ties everywhere, so the first-maximum rule is checked.
    x = np.random.default_rng(6).integers(0, 3, size=(2, 3, 7, 6)).astype(np.float64)
    out, idx = F.max_pool2d(cr.tensor(x), return_indices=True, **kwargs)
    t_out, t_idx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(out.data, t_out.numpy())
    np.testing.assert_array_equal(idx.data, t_idx.numpy())
    assert idx.dtype == np.int64
    unpool = {k: v for k, v in kwargs.items() if k != "ceil_mode"}
    a = cr.tensor(out.data, requires_grad=True)
    b = torch.tensor(t_out.numpy(), requires_grad=True)
    up = nn.MaxUnpool2d(**unpool)(a, idx, output_size=x.shape)
    t_up = tnn.MaxUnpool2d(**unpool)(b, t_idx, output_size=x.shape)
    np.testing.assert_array_equal(up.data, t_up.detach().numpy())
    weights = np.random.default_rng(7).normal(size=x.shape)
    (up * cr.tensor(weights)).sum().backward()
    (t_up * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(a.grad, b.grad.numpy())


def test_max_pool1d_indices_and_unpool1d_match_pytorch():
    x = np.random.default_rng(8).normal(size=(2, 3, 9))
    out, idx = nn.MaxPool1d(2, return_indices=True)(cr.tensor(x))
    t_out, t_idx = tnn.MaxPool1d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.data, t_idx.numpy())
    up = nn.MaxUnpool1d(2)(out, idx, output_size=(9,))
    t_up = tnn.MaxUnpool1d(2)(t_out, t_idx, output_size=(9,))
    np.testing.assert_array_equal(up.data, t_up.numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_match_pytorch(mode):
    x = np.random.default_rng(9).normal(size=(2, 3, 4, 5))
    pads = (2, 1, 3, 0)
    a, b = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, t_out = F.pad(a, pads, mode=mode), TF.pad(b, pads, mode=mode)
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    weights = np.random.default_rng(10).normal(size=out.shape)
    (out * cr.tensor(weights)).sum().backward()
    (t_out * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad, b.grad.numpy(), **TOL)
