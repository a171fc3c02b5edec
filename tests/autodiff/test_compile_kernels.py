"""cr.compile's inline kernels (autodiff/kernels.py): same bits as eager, or not used.

Each case is a loss built from the ops that have kernels, in the shapes and options
the kernels special-case (matrix-vector products, powers, reductions over axes,
broadcasting, constants the compiler folds). Every comparison is exact.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autodiff import Tensor, kernels


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"W": (3, 4), "V": (4, 3), "b": (3,), "c": (1, 3), "p": (3,)}
    made = {k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()}
    made["p"] = np.abs(made["p"]) + 0.5  # a divisor away from zero
    return made


def _inputs(dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 4)).astype(dtype)
    x[0, :2] = 0.0  # exact zeros: relu's tie at 0 and a product by zero
    return Tensor(x), Tensor(rng.integers(0, 3, 5))


# name -> loss(P, x, y); P holds the parameters by name
CASES = {
    "matvec sigmoid": lambda P, x, y: (F.sigmoid(P["W"] @ x[0] + P["b"]) - 0.25).pow(2).sum() * 0.5,
    "matmul tanh mean": lambda P, x, y: F.tanh(x @ P["V"]).mean(),
    "relu mean over axis 1": lambda P, x, y: F.relu(x @ P["V"] + P["c"]).mean(axis=1).sum(),
    "cube and keepdims sum": lambda P, x, y: ((x @ P["V"]) ** 3).sum(axis=0, keepdims=True).sum(),
    "float power": lambda P, x, y: ((x @ P["V"]) ** 2.0).mean(),
    "division and negation": lambda P, x, y: (-((x @ P["V"]) / P["p"])).sum(),
    "broadcast row": lambda P, x, y: ((x @ P["V"] - P["c"]) * P["b"]).sum(),
    "folded constants": lambda P, x, y: 0.5 * (2.0 * (x @ P["V"]).sum()) / 3.0,
    # b's gradient has two terms: the first may not be computed into its buffer alone
    "parameter used twice": lambda P, x, y: (
        F.sigmoid(x @ P["V"] + P["b"]) * P["b"] + P["b"]
    ).sum(),
    "cross entropy mean": lambda P, x, y: F.cross_entropy(x @ P["V"] + P["b"], y),
    "cross entropy sum": lambda P, x, y: F.cross_entropy(x @ P["V"], y, reduction="sum"),
    "linear and relu": lambda P, x, y: F.cross_entropy(
        F.linear(F.relu(F.linear(x, P["W"], P["b"])), P["V"]), y
    ),
}


def _run(case, dtype, compiled, steps=4, optimizer=True):
    P = {k: Tensor(v, requires_grad=True) for k, v in _params(dtype).items()}
    x, y = _inputs(dtype)
    fn = CASES[case]
    used = list(P.values())
    losses = []
    if optimizer:
        opt = cr.optim.SGD(used, lr=0.05, momentum=0.5)
        if compiled:
            step = cr.compile(lambda x, y: fn(P, x, y), optimizer=opt)
            losses = [step(x, y).data for _ in range(steps)]
        else:
            for _ in range(steps):
                opt.zero_grad()
                loss = fn(P, x, y)
                loss.backward()
                opt.step()
                losses.append(loss.data)
        return P, losses, None
    if compiled:
        step = cr.compile(lambda x, y: fn(P, x, y))
        losses = [step(x, y).data for _ in range(2)]
        return P, losses, step
    for _ in range(2):
        loss = fn(P, x, y)
        loss.backward()
        losses.append(loss.data)
    return P, losses, None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(CASES))
def test_kernels_train_bit_for_bit_like_eager(case, dtype):
    eager, eager_losses, _ = _run(case, dtype, compiled=False)
    replayed, replayed_losses, _ = _run(case, dtype, compiled=True)
    for a, b in zip(eager_losses, replayed_losses, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), case
    for name in eager:
        assert eager[name].data.tobytes() == replayed[name].data.tobytes(), (case, name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernels_accumulate_grad_like_backward(case):
    eager, _, _ = _run(case, np.float64, compiled=False, optimizer=False)
    replayed, _, _ = _run(case, np.float64, compiled=True, optimizer=False)
    for name in eager:
        a, b = eager[name].grad, replayed[name].grad
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.shape == b.shape and a.tobytes() == b.tobytes(), (case, name)


def _source(case):
    _, _, step = _run(case, np.float64, compiled=True, optimizer=False)
    return step._last[0].source


def test_the_seed_network_step_is_written_out_with_no_generic_call():
    source = _source("matvec sigmoid")
    assert re.search(r"= B\d+\(", source) is None, source  # no VJP called, all inline
    assert len(re.findall(r"= F\d+\(", source)) == 1, source  # x[0] alone has no kernel
    assert "_logaddexp" in source and "_multiply(G" in source


def test_constants_are_folded_and_a_folded_gradient_is_handed_out_as_a_copy():
    source = _source("folded constants")
    # The gradient reaching the product is 0.5 · 2.0 / 3.0 spread: computed at trace time.
    assert re.search(r"\bK\d+\b", source), source
    P = {k: Tensor(v, requires_grad=True) for k, v in _params(np.float64).items()}
    x, _y = _inputs(np.float64)
    step = cr.compile(lambda x: 0.5 * (2.0 * (x * 1.0)).sum() + (P["b"] * 3.0).sum())
    x.requires_grad = True
    step(x)
    first = x.grad.copy()
    x.grad += 100.0  # writing into .grad must not reach the folded constant
    x.grad = None
    P["b"].grad = None
    step(x)
    assert x.grad.tobytes() == first.tobytes()


def test_a_kernel_that_disagrees_with_its_op_is_not_used(monkeypatch):
    # sigmoid's VJP written in another order: the compiler sees other bits on the
    # traced call and calls the op's own VJP instead; the results stay eager's.
    def reordered(V, g, out, a, needs):
        return {0: g * (out * (1.0 - out)) * 1.0000001}

    monkeypatch.setitem(kernels.VJP, "sigmoid", reordered)
    monkeypatch.setitem(kernels.FORWARD, "sigmoid", lambda V, a: V.call("_exp", a))
    source = _source("matvec sigmoid")
    assert re.search(r"= B\d+\(", source) and re.search(r"= F\d+\(", source), source
    eager, _eager_losses, _ = _run("matvec sigmoid", np.float64, compiled=False)
    replayed, _replayed_losses, _ = _run("matvec sigmoid", np.float64, compiled=True)
    for name in eager:
        assert eager[name].data.tobytes() == replayed[name].data.tobytes(), name


def test_same_bits_compares_class_dtype_shape_and_bits():
    a = np.array([0.0, 1.0])
    assert kernels.same_bits(a, a.copy())
    assert not kernels.same_bits(a, np.array([-0.0, 1.0]))  # -0.0 is other bits
    assert not kernels.same_bits(a, a.astype(np.float32))
    assert not kernels.same_bits(np.float64(1.0), np.array(1.0))
    assert kernels.same_bits(None, None) and not kernels.same_bits(a, None)


@pytest.mark.parametrize("seed", range(5))
def test_a_gradient_summed_over_leading_and_stretched_axes_matches_the_engine(seed):
    # Regression: the replay summed the leading axes, then the stretched ones, in two
    # reductions; the engine sums them in one, which rounds differently.
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(5, 40)), int(rng.integers(5, 40)), 3)
    x = Tensor(rng.normal(size=shape) * 10 ** rng.uniform(-3, 3, size=shape))
    c = Tensor(rng.normal(size=(1, 3)), requires_grad=True)

    def f(x):
        return ((x * c) * x).sum()

    f(x).backward()
    eager, c.grad = c.grad, None
    cr.compile(f)(x)
    assert c.grad.shape == (1, 3) and c.grad.tobytes() == eager.tobytes()


@pytest.mark.parametrize(
    ("ignore_index", "later"),
    [(-100, [0, -100, 2, 0, 1]), (0, [0, 1, 2, 1, 1]), (-100, [0, 1, 3, 0, 1])],
)
def test_cross_entropy_traced_on_plain_labels_refuses_other_labels(ignore_index, later):
    # Regression: cross_entropy's fast path is chosen from the labels' values; the
    # replay followed it for any labels (IndexError, or an ignored class counted).
    rng = np.random.default_rng(0)
    W = Tensor(rng.normal(size=(4, 3)), requires_grad=True)
    x = Tensor(rng.normal(size=(5, 4)))

    def f(x, y):
        return F.cross_entropy(x @ W, y, ignore_index=ignore_index)

    step = cr.compile(f)
    step(x, Tensor(np.array([2, 1, 2, 1, 1])))
    W.grad = None
    with pytest.raises(cr.autodiff.CompileError, match="traced on labels that were all classes"):
        step(x, Tensor(np.array(later)))
    assert W.grad is None  # refused before any op ran


def test_fit_goes_on_eagerly_when_a_later_batch_has_ignored_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4))
    y = rng.integers(0, 3, 32)
    y[20] = -100  # the third batch of 8 has a label cross_entropy ignores
    results = []
    for compile in (True, False):
        model = cr.nn.Sequential(cr.nn.Linear(4, 3, generator=0, dtype=np.float64))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)
        history = cr.fit(
            model,
            x,
            y,
            loss="cross_entropy",
            optimizer=opt,
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            compile=compile,
        )
        results.append((history.history["loss"], model.state_dict()))
    (loss_c, state_c), (loss_e, state_e) = results
    assert loss_c == loss_e
    for key in state_e:
        assert np.asarray(state_c[key]).tobytes() == np.asarray(state_e[key]).tobytes(), key
