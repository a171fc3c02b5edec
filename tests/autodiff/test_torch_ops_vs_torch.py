"""The PyTorch-parity ops against PyTorch itself, in float64: values and gradients.

Skipped when torch is not installed. Each case is (name, chainrule function, torch
function, inputs); both sides get the same arrays and the same random upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(7)


def _u(*shape, lo=-2.0, hi=2.0):
    return _rng.uniform(lo, hi, size=shape)


_IDX = np.array([[0, 0, 2], [1, 3, 3]])
_SCAT = np.array([[0, 2], [1, 0]])
_MASK = np.array([[True, False, True], [False, False, True]])

CASES = [
    ("tan", cr.tan, torch.tan, [_u(3, 4, lo=-1.2, hi=1.2)]),
    ("asin", cr.asin, torch.asin, [_u(3, 4, lo=-0.9, hi=0.9)]),
    ("acos", cr.acos, torch.acos, [_u(3, 4, lo=-0.9, hi=0.9)]),
    ("atan", cr.atan, torch.atan, [_u(3, 4, lo=-4, hi=4)]),
    ("erf", cr.erf, torch.erf, [_u(3, 4, lo=-3, hi=3)]),
    ("log2", cr.log2, torch.log2, [_u(3, 4, lo=0.1, hi=3)]),
    ("log10", cr.log10, torch.log10, [_u(3, 4, lo=0.1, hi=3)]),
    ("rsqrt", cr.rsqrt, torch.rsqrt, [_u(3, 4, lo=0.1, hi=3)]),
    ("logaddexp", cr.logaddexp, torch.logaddexp, [_u(3, 4), _u(4) * 300]),
    ("sign", cr.sign, torch.sign, [_u(3, 4)]),
    ("floor", cr.floor, torch.floor, [_u(3, 4)]),
    ("ceil", cr.ceil, torch.ceil, [_u(3, 4)]),
    ("trunc", cr.trunc, torch.trunc, [_u(3, 4)]),
    ("round", cr.round, torch.round, [np.array([0.5, 1.5, 2.5, -0.5, 1.2])]),
    ("floordiv", lambda a, b: a // b, lambda a, b: a // b, [_u(3, 4), _u(4, lo=0.5, hi=2)]),
    ("remainder", lambda a, b: a % b, lambda a, b: a % b, [_u(3, 4), _u(4, lo=-2, hi=-0.5)]),
    (
        "div trunc",
        lambda a, b: cr.div(a, b, rounding_mode="trunc"),
        lambda a, b: torch.div(a, b, rounding_mode="trunc"),
        [_u(3, 4), _u(4, lo=0.5, hi=2)],
    ),
    ("prod", lambda a: cr.prod(a, 1), lambda a: torch.prod(a, 1), [_u(3, 4)]),
    (
        "prod with zero",
        lambda a: a.prod(0),
        lambda a: a.prod(0),
        [np.array([[0.0, 2.0], [3.0, 0.0], [1.5, 4.0]])],
    ),
    ("cumsum", lambda a: cr.cumsum(a, 1), lambda a: torch.cumsum(a, 1), [_u(3, 4)]),
    ("cumprod", lambda a: cr.cumprod(a, 1), lambda a: torch.cumprod(a, 1), [_u(3, 4)]),
    (
        "cumprod with zero",
        lambda a: a.cumprod(0),
        lambda a: a.cumprod(0),
        [np.array([[1.5, 0.0], [0.0, 2.0], [-0.5, 3.0]])],
    ),
    (
        "gather",
        lambda a: cr.gather(a, 1, _IDX),
        lambda a: torch.gather(a, 1, torch.from_numpy(_IDX)),
        [_u(2, 4)],
    ),
    (
        "scatter",
        lambda a, s: cr.scatter(a, 1, _SCAT, s),
        lambda a, s: torch.scatter(a, 1, torch.from_numpy(_SCAT), s),
        [_u(2, 3), _u(2, 2)],
    ),
    (
        "scatter_add",
        lambda a, s: cr.scatter_add(a, 1, _IDX[:, :2], s),
        lambda a, s: torch.scatter_add(a, 1, torch.from_numpy(_IDX[:, :2]), s),
        [_u(2, 4), _u(2, 2)],
    ),
    (
        "masked_fill",
        lambda a: cr.masked_fill(a, _MASK, -1.0),
        lambda a: a.masked_fill(torch.from_numpy(_MASK), -1.0),
        [_u(2, 3)],
    ),
    ("flip", lambda a: cr.flip(a, (0, 1)), lambda a: torch.flip(a, (0, 1)), [_u(2, 3)]),
    ("roll", lambda a: a.roll((1, -1), (0, 1)), lambda a: a.roll((1, -1), (0, 1)), [_u(2, 3)]),
    ("roll flat", lambda a: cr.roll(a, 2), lambda a: torch.roll(a, 2), [_u(2, 3)]),
    ("repeat", lambda a: a.repeat(3, 1, 2), lambda a: a.repeat(3, 1, 2), [_u(2, 3)]),
    ("tile", lambda a: cr.tile(a, (2,)), lambda a: torch.tile(a, (2,)), [_u(2, 3)]),
    ("tril", lambda a: cr.tril(a, -1), lambda a: torch.tril(a, -1), [_u(2, 3, 4)]),
    ("triu", lambda a: cr.triu(a, 1), lambda a: torch.triu(a, 1), [_u(3, 5)]),
    (
        "einsum",
        lambda a, w, b: cr.einsum("bi,ij,bj->b", a, w, b),
        lambda a, w, b: torch.einsum("bi,ij,bj->b", a, w, b),
        [_u(3, 2), _u(2, 2), _u(3, 2)],
    ),
    (
        "masked_fill tensor value",
        lambda a, v: cr.masked_fill(a, _MASK, v),
        lambda a, v: a.masked_fill(torch.from_numpy(_MASK), v),
        [_u(2, 3), np.array(0.7)],
    ),
    (
        "einsum diagonal",
        lambda a: cr.einsum("ii->i", a),
        lambda a: torch.einsum("ii->i", a),
        [_u(3, 3)],
    ),
    ("einsum trace", lambda a: cr.einsum("ii", a), lambda a: torch.einsum("ii", a), [_u(3, 3)]),
    (
        "einsum batched diagonal",
        lambda a, b: cr.einsum("bii,bj->bij", a, b),
        lambda a, b: torch.einsum("bii,bj->bij", a, b),
        [_u(2, 3, 3), _u(2, 4)],
    ),
    (
        "einsum repeated and summed",
        lambda a: cr.einsum("iij->", a),
        lambda a: torch.einsum("iij->", a),
        [_u(2, 2, 3)],
    ),
    (
        "einsum ellipsis broadcast",
        lambda a, b: cr.einsum("...ij,...jk", a, b),
        lambda a, b: torch.einsum("...ij,...jk", a, b),
        [_u(1, 2, 3), _u(4, 3, 2)],
    ),
    ("tanh", cr.tanh, torch.tanh, [_u(3, 4)]),
    ("flip", lambda a: cr.flip(a, (0, 1)), lambda a: torch.flip(a, (0, 1)), [_u(3, 4)]),
    (
        "roll",
        lambda a: cr.roll(a, (1, -2), (0, 1)),
        lambda a: torch.roll(a, (1, -2), (0, 1)),
        [_u(3, 4)],
    ),
    ("roll flat", lambda a: cr.roll(a, 5), lambda a: torch.roll(a, 5), [_u(3, 4)]),
    ("repeat", lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), [_u(3, 4)]),
    ("tile", lambda a: cr.tile(a, (2,)), lambda a: torch.tile(a, (2,)), [_u(3, 4)]),
    ("tril", lambda a: cr.tril(a, -1), lambda a: torch.tril(a, -1), [_u(3, 4)]),
    ("triu", lambda a: cr.triu(a, 1), lambda a: torch.triu(a, 1), [_u(3, 4)]),
    (
        "div floor",
        lambda a, b: cr.div(a, b, rounding_mode="floor"),
        lambda a, b: torch.div(a, b, rounding_mode="floor"),
        [_u(3, 4), _u(4, lo=0.5, hi=2)],
    ),
    ("sort", lambda a: cr.sort(a, 1).values, lambda a: torch.sort(a, 1).values, [_u(3, 4)]),
    (
        "topk",
        lambda a: cr.topk(a, 2, dim=0).values,
        lambda a: torch.topk(a, 2, dim=0).values,
        [_u(3, 4)],
    ),
    ("max dim", lambda a: cr.max(a, 1).values, lambda a: torch.max(a, 1).values, [_u(3, 4)]),
    ("split", lambda a: cr.split(a, 2, 1)[1], lambda a: torch.split(a, 2, 1)[1], [_u(3, 5)]),
    ("chunk", lambda a: cr.chunk(a, 2, 0)[1], lambda a: torch.chunk(a, 2, 0)[1], [_u(5, 2)]),
    ("sum dtype", lambda a: a.sum(dtype=cr.float64), lambda a: a.sum(dtype=torch.float64), [_u(3)]),
]


NO_TORCH_DERIVATIVE = {"floordiv"}


@pytest.mark.parametrize(("name", "ours", "theirs", "arrays"), CASES, ids=[c[0] for c in CASES])
def test_matches_pytorch_in_float64(name, ours, theirs, arrays):
    cr_in = [cr.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*cr_in), theirs(*t_in)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-13)
    upstream = np.random.default_rng(1).normal(size=out.shape)
    (out * cr.tensor(upstream)).sum().backward()
    # An op torch marks non-differentiable, or whose derivative torch leaves unimplemented
    # (floor_divide: the function is piecewise constant): ours gives zeros.
    if not expected.requires_grad or name in NO_TORCH_DERIVATIVE:
        for mine in cr_in:
            assert mine.grad is None or not np.any(mine.grad), name
        return
    expected.backward(torch.from_numpy(upstream))
    for mine, reference in zip(cr_in, t_in, strict=True):
        want = np.zeros(reference.shape) if reference.grad is None else reference.grad.numpy()
        got = np.zeros(mine.shape) if mine.grad is None else mine.grad
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("name", "ours", "theirs"),
    [
        ("argsort", lambda a: cr.argsort(a, 1), lambda a: torch.argsort(a, 1)),
        ("isnan", cr.isnan, torch.isnan),
        ("isinf", cr.isinf, torch.isinf),
        ("isfinite", cr.isfinite, torch.isfinite),
        ("argmax", lambda a: cr.argmax(a, 1), lambda a: torch.argmax(a, 1)),
        ("min indices", lambda a: cr.min(a, 0).indices, lambda a: torch.min(a, 0).indices),
        ("int floordiv", lambda a: a.long() // -3, lambda a: a.long() // -3),
        ("int remainder", lambda a: a.long() % -3, lambda a: a.long() % -3),
    ],
)
def test_index_and_predicate_results_match_pytorch(name, ours, theirs):
    array = np.array([[1.0, np.nan, -7.0, 4.0], [np.inf, 2.0, 5.0, -np.inf]])
    if name in ("argsort", "argmax", "min indices", "int floordiv", "int remainder"):
        array = np.array([[1.0, 9.0, -7.0, 4.0], [8.0, 2.0, 5.0, -3.0]])
    got = ours(cr.tensor(array)).data
    want = theirs(torch.tensor(array)).numpy()
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype
