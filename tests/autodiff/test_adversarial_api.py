"""A replayable corpus of API edge cases, each row checked against PyTorch's behaviour.

Every row is data: a call, and either the value / shape / dtype / gradient PyTorch gives
for the same call, or the exception type and a substring of its message. A row whose
call returns ``(out, leaf)`` also checks ``leaf.grad`` after ``out.sum().backward()``.
Families: pow edges, 0-d tensors, empty tensors, indexing, dtype promotion, bad dims,
bad shapes (matmul, broadcasting, joins) and NaN inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import chainrule as cr

nan, inf = float("nan"), float("inf")
f32, f64, i64 = np.float32, np.float64, np.int64


@dataclass(frozen=True)
class Row:
    family: str
    name: str
    call: Callable[[], Any]
    value: Any = None
    shape: tuple | None = None
    dtype: Any = None
    grad: Any = None
    raises: type[BaseException] | None = None
    message: str = ""


def leaf(values: Any, dtype: Any = f64) -> cr.Tensor:
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def with_leaf(make_leaf: Callable[[], cr.Tensor], fn: Callable[[cr.Tensor], cr.Tensor]):
    """A call returning ``(fn(x), x)`` so the row can check ``x.grad``."""

    def call():
        x = make_leaf()
        return fn(x), x

    return call


def arange(*shape: int) -> cr.Tensor:
    return cr.tensor(np.arange(float(np.prod(shape))).reshape(shape), requires_grad=True)


def grad_of(shape: tuple, index: Any, value: float = 1.0) -> np.ndarray:
    g = np.zeros(shape)
    g[index] = value
    return g


ROWS = [
    # -- pow edges ----------
    Row(
        "pow",
        "x**0 at 0",
        with_leaf(lambda: leaf([0.0, 2.0]), lambda x: x**0),
        value=[1.0, 1.0],
        grad=[0.0, 0.0],
    ),
    Row(
        "pow",
        "x**-1 at 0",
        with_leaf(lambda: leaf([0.0]), lambda x: x**-1),
        value=[inf],
        grad=[-inf],
    ),
    Row(
        "pow",
        "x**2 at 0",
        with_leaf(lambda: leaf([0.0, -3.0]), lambda x: x**2),
        value=[0.0, 9.0],
        grad=[0.0, -6.0],
    ),
    Row(
        "pow",
        "x**0.5 at 0",
        with_leaf(lambda: leaf([0.0, 4.0]), lambda x: x**0.5),
        value=[0.0, 2.0],
        grad=[inf, 0.25],
    ),
    Row(
        "pow", "x**1 at 0", with_leaf(lambda: leaf([0.0]), lambda x: x**1), value=[0.0], grad=[1.0]
    ),
    Row(
        "pow",
        "0**y, y<0 / =0 / >0",
        with_leaf(lambda: leaf([-1.0, 0.0, 2.0]), lambda y: 0.0**y),
        value=[inf, 1.0, 0.0],
        grad=[-inf, 0.0, 0.0],
    ),
    Row(
        "pow",
        "2**y",
        with_leaf(lambda: leaf([1.0, 3.0]), lambda y: 2.0**y),
        value=[2.0, 8.0],
        grad=[2.0 * np.log(2.0), 8.0 * np.log(2.0)],
    ),
    Row(
        "pow",
        "x**y dx, base 0",
        with_leaf(
            lambda: leaf([0.0, 0.0, 0.0]), lambda x: x ** cr.tensor([-1.0, 0.0, 2.0], dtype=f64)
        ),
        value=[inf, 1.0, 0.0],
        grad=[-inf, 0.0, 0.0],
    ),
    Row(
        "pow",
        "x**y dy, negative base",
        with_leaf(lambda: leaf([2.0, 0.5]), lambda y: cr.tensor([-2.0, 4.0], dtype=f64) ** y),
        value=[4.0, 2.0],
        grad=[nan, 2.0 * np.log(4.0)],
    ),
    Row("pow", "nan**0", with_leaf(lambda: leaf([nan]), lambda x: x**0), value=[1.0], grad=[0.0]),
    Row("pow", "int**2 stays int", lambda: cr.tensor([-2, 3]) ** 2, value=[4, 9], dtype=i64),
    Row("pow", "int**0.5 is float", lambda: cr.tensor([4, 9]) ** 0.5, value=[2.0, 3.0], dtype=f32),
    Row(
        "pow",
        "int**-2",
        lambda: cr.tensor([-2, 0, 2]) ** -2,
        raises=ValueError,
        message="integers to negative integer powers are not allowed",
    ),
    Row(
        "pow",
        "int**int tensor with a negative",
        lambda: cr.tensor([2, 3]) ** cr.tensor([1, -1]),
        raises=ValueError,
        message="negative integer powers",
    ),
    Row(
        "pow",
        "float**-2 is fine",
        lambda: cr.tensor([-2.0, 2.0]) ** -2,
        value=[0.25, 0.25],
        dtype=f32,
    ),
    Row(
        "pow",
        "bad broadcast",
        lambda: cr.ones(2, 3) ** cr.ones(4),
        raises=ValueError,
        message="pow: cannot broadcast shapes (2, 3) and (4,)",
    ),
    # -- 0-d tensors ----------
    Row(
        "0-d",
        "sum(0)",
        with_leaf(lambda: leaf(3.0), lambda x: x.sum(0)),
        value=3.0,
        shape=(),
        grad=1.0,
    ),
    Row(
        "0-d",
        "sum(-1, keepdim)",
        with_leaf(lambda: leaf(3.0), lambda x: x.sum(-1, keepdim=True)),
        value=3.0,
        shape=(),
        grad=1.0,
    ),
    Row("0-d", "mean(0)", with_leaf(lambda: leaf(3.0), lambda x: x.mean(0)), value=3.0, grad=1.0),
    Row(
        "0-d",
        "max(dim=0)",
        with_leaf(lambda: leaf(3.0), lambda x: x.max(dim=0)),
        value=3.0,
        grad=1.0,
    ),
    Row("0-d", "min(-1)", with_leaf(lambda: leaf(3.0), lambda x: x.min(-1)), value=3.0, grad=1.0),
    Row(
        "0-d",
        "logsumexp(0)",
        with_leaf(lambda: leaf(3.0), lambda x: x.logsumexp(0)),
        value=3.0,
        grad=1.0,
    ),
    Row(
        "0-d",
        "softmax(0)",
        with_leaf(lambda: leaf(3.0), lambda x: x.softmax(0)),
        value=1.0,
        shape=(),
        grad=0.0,
    ),
    Row(
        "0-d",
        "log_softmax(-1)",
        with_leaf(lambda: leaf(3.0), lambda x: x.log_softmax(-1)),
        value=0.0,
        grad=0.0,
    ),
    Row("0-d", "squeeze(0)", lambda: cr.tensor(3.0).squeeze(0), value=3.0, shape=()),
    Row(
        "0-d",
        "unsqueeze(-1)",
        with_leaf(lambda: leaf(3.0), lambda x: x.unsqueeze(-1)),
        value=[3.0],
        shape=(1,),
        grad=1.0,
    ),
    Row("0-d", "flatten", lambda: cr.tensor(3.0).flatten(), value=[3.0], shape=(1,)),
    Row("0-d", "transpose(0, -1)", lambda: cr.tensor(3.0).transpose(0, -1), value=3.0, shape=()),
    Row("0-d", "argmax(0)", lambda: cr.tensor(3.0).argmax(0), value=0, shape=()),
    Row(
        "0-d",
        "sum(1)",
        lambda: cr.tensor(3.0).sum(1),
        raises=IndexError,
        message="expected to be in range of [-1, 0], but got 1",
    ),
    Row(
        "0-d",
        "cat of 0-d",
        lambda: cr.cat([cr.tensor(1.0), cr.tensor(2.0)]),
        raises=ValueError,
        message="zero-dimensional tensor (at position 0) cannot be concatenated",
    ),
    Row(
        "0-d",
        "stack of 0-d",
        lambda: cr.stack([cr.tensor(1.0), cr.tensor(2.0)]),
        value=[1.0, 2.0],
        shape=(2,),
    ),
    # -- empty tensors ----------
    Row(
        "empty",
        "mean over empty dim",
        with_leaf(lambda: cr.zeros(2, 0, 3, requires_grad=True), lambda x: x.mean(1)),
        value=np.full((2, 3), nan),
        dtype=f32,
        grad=np.zeros((2, 0, 3)),
    ),
    Row("empty", "mean of nothing", lambda: cr.zeros(0).mean(), value=nan, shape=()),
    Row(
        "empty",
        "sum of nothing",
        with_leaf(lambda: cr.zeros(0, requires_grad=True), lambda x: x.sum()),
        value=0.0,
        grad=np.zeros(0),
    ),
    Row(
        "empty",
        "max over empty dim",
        lambda: cr.zeros(2, 0).max(1),
        raises=IndexError,
        message="Expected reduction dim 1 to have non-zero size",
    ),
    Row(
        "empty",
        "max of nothing",
        lambda: cr.zeros(0).max(),
        raises=RuntimeError,
        message="numel() == 0",
    ),
    Row("empty", "max over the non-empty dim", lambda: cr.zeros(2, 0).max(0), shape=(0,)),
    Row(
        "empty",
        "softmax",
        with_leaf(lambda: cr.zeros(2, 0, requires_grad=True), lambda x: x.softmax(-1)),
        shape=(2, 0),
        grad=np.zeros((2, 0)),
    ),
    Row(
        "empty", "logsumexp over empty dim", lambda: cr.zeros(2, 0).logsumexp(1), value=[-inf, -inf]
    ),
    Row(
        "empty",
        "matmul (0,3)@(3,2)",
        with_leaf(lambda: cr.zeros(0, 3, requires_grad=True), lambda x: x @ cr.ones(3, 2)),
        shape=(0, 2),
        grad=np.zeros((0, 3)),
    ),
    Row(
        "empty",
        "matmul (2,0)@(0,3) is zeros",
        lambda: cr.ones(2, 0) @ cr.ones(0, 3),
        value=np.zeros((2, 3)),
    ),
    Row(
        "empty",
        "cat with an empty part",
        lambda: cr.cat([cr.zeros(0, 3), cr.ones(2, 3)]),
        value=np.ones((2, 3)),
    ),
    Row("empty", "index with []", lambda: cr.ones(2, 3)[[]], shape=(0, 3)),
    Row("empty", "reshape (0,3) -> (3,0)", lambda: cr.zeros(0, 3).reshape(3, 0), shape=(3, 0)),
    # -- indexing ----------
    Row(
        "index",
        "x[0, :, [0, 1]]",
        with_leaf(lambda: arange(2, 3, 4), lambda x: x[0, :, [0, 1]]),
        value=[[0.0, 1.0], [4.0, 5.0], [8.0, 9.0]],
        shape=(3, 2),
        grad=grad_of((2, 3, 4), (0, slice(None), slice(0, 2))),
    ),
    Row("index", "x[0, ..., [1, 2]]", lambda: arange(2, 3, 4)[0, ..., [1, 2]], shape=(3, 2)),
    Row(
        "index",
        "x[1, :, [3, 3]] repeats add",
        with_leaf(lambda: arange(2, 3, 4), lambda x: x[1, :, [3, 3]]),
        shape=(3, 2),
        grad=grad_of((2, 3, 4), (1, slice(None), 3), 2.0),
    ),
    Row(
        "index",
        "x[:, 0, [0, 1]] (adjacent)",
        lambda: arange(2, 3, 4)[:, 0, [0, 1]],
        value=[[0.0, 1.0], [12.0, 13.0]],
    ),
    Row(
        "index",
        "x[[0, 1], :, 0]",
        lambda: arange(2, 3, 4)[[0, 1], :, 0],
        value=[[0.0, 4.0, 8.0], [12.0, 16.0, 20.0]],
    ),
    Row("index", "x[0, [0, 2]]", lambda: arange(2, 3, 4)[0, [0, 2]], shape=(2, 4)),
    Row(
        "index",
        "x[1, None, [0, 2], :]",
        lambda: arange(2, 3, 4)[1, None, [0, 2], :],
        shape=(1, 2, 4),
    ),
    Row(
        "index",
        "x[0, :, mask]",
        lambda: arange(2, 3, 4)[0, :, np.array([True, False, True, False])],
        value=[[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]],
    ),
    Row(
        "index",
        "tensor index",
        with_leaf(lambda: leaf([1.0, 2.0, 3.0]), lambda x: x[cr.tensor([2, 0, 2])]),
        value=[3.0, 1.0, 3.0],
        grad=[1.0, 0.0, 2.0],
    ),
    Row("index", "negative index", lambda: cr.tensor([1.0, 2.0, 3.0])[-1], value=3.0, shape=()),
    Row(
        "index",
        "out of range",
        lambda: cr.ones(2, 3)[5],
        raises=IndexError,
        message="out of range for shape (2, 3)",
    ),
    Row(
        "index",
        "float index array",
        lambda: cr.ones(2)[cr.tensor([0.0])],
        raises=IndexError,
        message="must be of integer (or boolean) type",
    ),
    # -- dtype promotion ----------
    Row(
        "dtype",
        "float32 * int64",
        lambda: cr.ones(2) * cr.tensor([1, 2]),
        value=[1.0, 2.0],
        dtype=f32,
    ),
    Row("dtype", "int64 + 0.5", lambda: cr.tensor([1, 2]) + 0.5, value=[1.5, 2.5], dtype=f32),
    Row("dtype", "0.5 - int64", lambda: 0.5 - cr.tensor([1, 2]), value=[-0.5, -1.5], dtype=f32),
    Row("dtype", "int64.exp()", lambda: cr.tensor([0, 0]).exp(), value=[1.0, 1.0], dtype=f32),
    Row("dtype", "int64.sqrt()", lambda: cr.tensor([4, 9]).sqrt(), value=[2.0, 3.0], dtype=f32),
    Row("dtype", "sigmoid(bool)", lambda: cr.sigmoid(cr.tensor([False])), value=[0.5], dtype=f32),
    Row(
        "dtype",
        "int / int",
        lambda: cr.tensor([1, 3]) / cr.tensor([2, 2]),
        value=[0.5, 1.5],
        dtype=f32,
    ),
    Row("dtype", "int / 2", lambda: cr.tensor([1, 3]) / 2, value=[0.5, 1.5], dtype=f32),
    Row("dtype", "float32 * 2.5", lambda: cr.ones(2) * 2.5, dtype=f32),
    Row(
        "dtype",
        "float32 * np.float64",
        lambda: cr.ones(2) * np.float64(2.5),
        value=[2.5, 2.5],
        dtype=f32,
    ),
    Row(
        "dtype", "float32 + float64 0-d", lambda: cr.ones(2) + cr.tensor(1.0, dtype=f64), dtype=f32
    ),
    Row("dtype", "float32 + float64", lambda: cr.ones(2) + cr.ones(2, dtype=f64), dtype=f64),
    Row(
        "dtype",
        "int64 + float64 0-d",
        lambda: cr.tensor([1, 2]) + cr.tensor(1.0, dtype=f64),
        dtype=f64,
    ),
    Row(
        "dtype",
        "int32 + 1",
        lambda: cr.tensor(np.array([1, 2], np.int32)) + 1,
        value=[2, 3],
        dtype=np.int32,
    ),
    Row("dtype", "bool + 1", lambda: cr.tensor([True, False]) + 1, value=[2, 1], dtype=i64),
    Row(
        "dtype",
        "uint8 + int8",
        lambda: cr.tensor(np.array([1], np.uint8)) + cr.tensor(np.array([1], np.int8)),
        dtype=np.int16,
    ),
    Row("dtype", "2 ** int64", lambda: 2 ** cr.tensor([1, 2]), value=[2, 4], dtype=i64),
    Row(
        "dtype",
        "cat float32 with int64",
        lambda: cr.cat([cr.ones(1), cr.tensor([2])]),
        value=[1.0, 2.0],
        dtype=f32,
    ),
    Row(
        "dtype",
        "stack float32 with float64",
        lambda: cr.stack([cr.ones(1), cr.ones(1, dtype=f64)]),
        dtype=f64,
    ),
    Row(
        "dtype",
        "where(int, float32)",
        lambda: cr.where(cr.tensor([True, False]), cr.tensor([1, 2]), cr.zeros(2)),
        value=[1.0, 0.0],
        dtype=f32,
    ),
    Row(
        "dtype",
        "maximum(int64, float32)",
        lambda: cr.maximum(cr.tensor([3, 0]), cr.ones(2)),
        value=[3.0, 1.0],
        dtype=f32,
    ),
    Row("dtype", "full int", lambda: cr.full((2,), 4), value=[4, 4], dtype=i64),
    Row("dtype", "full float", lambda: cr.full((2,), 4.0), dtype=f32),
    Row("dtype", "full bool", lambda: cr.full((2,), True), dtype=np.bool_),
    Row(
        "dtype",
        "float32 leaf * float64 leaf: grad dtype",
        with_leaf(lambda: leaf([1.0, 2.0], f32), lambda x: x * cr.tensor([3.0, 4.0], dtype=f64)),
        dtype=f64,
        grad=np.array([3.0, 4.0], f32),
    ),
    Row(
        "dtype",
        "clamp(int64, min=0.5)",
        lambda: cr.tensor([0, 2]).clamp(0.5),
        value=[0.5, 2.0],
        dtype=f32,
    ),
    Row(
        "dtype",
        "clamp(int64, 0, 1) stays int",
        lambda: cr.tensor([-1, 2]).clamp(0, 1),
        value=[0, 1],
        dtype=i64,
    ),
    # -- bad dims ----------
    Row(
        "dim",
        "stack dim=77",
        lambda: cr.stack([cr.ones(3)], dim=77),
        raises=IndexError,
        message="Dimension out of range (expected to be in range of [-2, 1], but got 77)",
    ),
    Row(
        "dim",
        "stack dim=-3",
        lambda: cr.stack([cr.ones(3)], dim=-3),
        raises=IndexError,
        message="[-2, 1], but got -3",
    ),
    Row(
        "dim", "stack dim=-2 ok", lambda: cr.stack([cr.ones(3), cr.zeros(3)], dim=-2), shape=(2, 3)
    ),
    Row(
        "dim",
        "cat dim=2",
        lambda: cr.cat([cr.ones(2, 3)], dim=2),
        raises=IndexError,
        message="cat: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
    ),
    Row(
        "dim",
        "sum dim=2",
        lambda: cr.ones(2, 3).sum(2),
        raises=IndexError,
        message="sum: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
    ),
    Row(
        "dim",
        "sum dims (0, 5)",
        lambda: cr.ones(2, 3).sum((0, 5)),
        raises=IndexError,
        message="but got 5",
    ),
    Row(
        "dim",
        "sum dims repeated",
        lambda: cr.ones(2, 3).sum((1, -1)),
        raises=ValueError,
        message="appears more than once",
    ),
    Row(
        "dim",
        "mean dim=-3",
        lambda: cr.ones(2, 3).mean(dim=-3),
        raises=IndexError,
        message="mean: Dimension out of range",
    ),
    Row("dim", "max dim=3", lambda: cr.ones(2, 3).max(3), raises=IndexError, message="max: Dim"),
    Row("dim", "var dim=9", lambda: cr.ones(2, 3).var(9), raises=IndexError, message="var: Dim"),
    Row(
        "dim",
        "softmax dim=2",
        lambda: cr.ones(2, 3).softmax(2),
        raises=IndexError,
        message="softmax: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
    ),
    Row(
        "dim",
        "log_softmax dim=-3",
        lambda: cr.ones(2, 3).log_softmax(-3),
        raises=IndexError,
        message="log_softmax: Dimension out of range",
    ),
    Row(
        "dim",
        "transpose(0, 2)",
        lambda: cr.ones(2, 3).transpose(0, 2),
        raises=IndexError,
        message="transpose: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
    ),
    Row(
        "dim",
        "squeeze(4)",
        lambda: cr.ones(2, 1).squeeze(4),
        raises=IndexError,
        message="squeeze: Dimension out of range",
    ),
    Row("dim", "squeeze a non-1 dim", lambda: cr.ones(2, 1).squeeze(0), shape=(2, 1)),
    Row(
        "dim",
        "unsqueeze(3)",
        lambda: cr.ones(2, 3).unsqueeze(3),
        raises=IndexError,
        message="unsqueeze: Dimension out of range (expected to be in range of [-3, 2], but got 3)",
    ),
    Row("dim", "unsqueeze(-3) ok", lambda: cr.ones(2, 3).unsqueeze(-3), shape=(1, 2, 3)),
    Row(
        "dim",
        "flatten(0, 5)",
        lambda: cr.ones(2, 3).flatten(0, 5),
        raises=IndexError,
        message="flatten: Dimension out of range",
    ),
    Row(
        "dim",
        "flatten start after end",
        lambda: cr.ones(2, 3, 4).flatten(2, 1),
        raises=ValueError,
        message="cannot come after end_dim",
    ),
    Row(
        "dim",
        "permute repeated",
        lambda: cr.ones(2, 3).permute(0, 0),
        raises=ValueError,
        message="each of the 2 dimensions once",
    ),
    Row(
        "dim",
        "permute out of range",
        lambda: cr.ones(2, 3).permute(0, 2),
        raises=IndexError,
        message="permute: Dimension out of range",
    ),
    Row(
        "dim",
        "argmax dim=2",
        lambda: cr.ones(2, 3).argmax(2),
        raises=IndexError,
        message="argmax: Dimension out of range",
    ),
    Row(
        "dim",
        "float dim",
        lambda: cr.ones(2, 3).sum(1.0),
        raises=TypeError,
        message="dim expected an integer",
    ),
    Row(
        "dim",
        "std dim=7",
        lambda: cr.ones(2, 3).std(7),
        raises=IndexError,
        message="std: Dimension out of range (expected to be in range of [-2, 1], but got 7)",
    ),
    # -- bad shapes ----------
    Row(
        "shape",
        "matmul (2,3)@(4,5)",
        lambda: cr.ones(2, 3) @ cr.ones(4, 5),
        raises=ValueError,
        message="last dimension of the first operand (3) to equal the second-to-last",
    ),
    Row(
        "shape",
        "matmul (3,)@(4,)",
        lambda: cr.ones(3) @ cr.ones(4),
        raises=ValueError,
        message="the first dimension of the second (4)",
    ),
    Row(
        "shape",
        "matmul 0-d",
        lambda: cr.tensor(2.0) @ cr.ones(2),
        raises=ValueError,
        message="at least 1 dimension",
    ),
    Row(
        "shape",
        "matmul batch mismatch",
        lambda: cr.ones(2, 3, 4) @ cr.ones(5, 4, 6),
        raises=ValueError,
        message="cannot broadcast the batch dimensions (2,) and (5,)",
    ),
    Row(
        "shape",
        "matmul (2,3,4)@(4,)",
        lambda: cr.ones(2, 3, 4) @ cr.ones(4),
        value=np.full((2, 3), 4.0),
    ),
    Row(
        "shape",
        "matmul (3,)@(3,2) grad",
        with_leaf(lambda: leaf([1.0, 2.0, 3.0]), lambda x: x @ cr.ones(3, 2, dtype=f64)),
        value=[6.0, 6.0],
        grad=[2.0, 2.0, 2.0],
    ),
    Row(
        "shape",
        "add (2,3)+(4,)",
        lambda: cr.ones(2, 3) + cr.ones(4),
        raises=ValueError,
        message="add: cannot broadcast shapes (2, 3) and (4,)",
    ),
    Row(
        "shape",
        "cat mismatched",
        lambda: cr.cat([cr.ones(2, 3), cr.ones(2, 4)]),
        raises=ValueError,
        message="agree except along axis 0",
    ),
    Row(
        "shape",
        "stack mismatched",
        lambda: cr.stack([cr.ones(2), cr.ones(3)]),
        raises=ValueError,
        message="tensors of one shape",
    ),
    Row(
        "shape",
        "cat of nothing",
        lambda: cr.cat([]),
        raises=ValueError,
        message="non-empty sequence",
    ),
    Row(
        "shape",
        "reshape 6 -> 4",
        lambda: cr.ones(2, 3).reshape(4),
        raises=ValueError,
        message="cannot turn shape (2, 3) (6 elements) into (4,)",
    ),
    Row(
        "shape",
        "backward of a non-scalar",
        lambda: cr.ones(2, requires_grad=True).backward(),
        raises=RuntimeError,
        message="single-element output",
    ),
    # -- NaN inputs ----------
    Row(
        "nan",
        "nan + 1",
        with_leaf(lambda: leaf([nan, 1.0]), lambda x: x + 1.0),
        value=[nan, 2.0],
        grad=[1.0, 1.0],
    ),
    Row("nan", "exp(nan)", lambda: cr.tensor([nan]).exp(), value=[nan]),
    Row("nan", "max propagates nan", lambda: cr.tensor([1.0, nan, 2.0]).max(), value=nan),
    Row(
        "nan",
        "maximum propagates nan",
        lambda: cr.maximum(cr.tensor([nan, 0.0]), cr.ones(2)),
        value=[nan, 1.0],
    ),
    Row("nan", "clamp keeps nan", lambda: cr.tensor([nan, 5.0]).clamp(0.0, 1.0), value=[nan, 1.0]),
    Row(
        "nan",
        "relu(nan) passes the gradient",
        with_leaf(lambda: leaf([nan, -1.0, 2.0]), lambda x: x.relu()),
        value=[nan, 0.0, 2.0],
        grad=[1.0, 0.0, 1.0],
    ),
    Row("nan", "sigmoid(nan)", lambda: cr.tensor([nan]).sigmoid(), value=[nan]),
    Row("nan", "softmax row with nan", lambda: cr.tensor([nan, 1.0]).softmax(0), value=[nan, nan]),
    Row("nan", "mean with nan", lambda: cr.tensor([nan, 1.0]).mean(), value=nan),
    Row(
        "nan",
        "where(sqrt) trap: NaN gradient",
        with_leaf(lambda: leaf([-1.0, 4.0]), lambda x: cr.where(x.data > 0, x.sqrt(), 0.0)),
        value=[0.0, 2.0],
        grad=[nan, 0.25],
    ),
]


def _id(row: Row) -> str:
    return f"{row.family}: {row.name}"


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_row(row: Row) -> None:
    if row.raises is not None:
        with pytest.raises(row.raises) as caught:
            row.call()
        assert row.message in str(caught.value), str(caught.value)
        return
    result = row.call()
    out, x = result if isinstance(result, tuple) else (result, None)
    if row.value is not None:
        expected = np.asarray(row.value)
        assert out.shape == expected.shape, (out.shape, expected.shape)
        np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=0, equal_nan=True)
    if row.shape is not None:
        assert out.shape == row.shape
    if row.dtype is not None:
        assert out.dtype == np.dtype(row.dtype), out.dtype
    if row.grad is not None:
        out.sum().backward()
        expected = np.asarray(row.grad)
        assert x.grad.shape == expected.shape, (x.grad.shape, expected.shape)
        assert x.grad.dtype == x.dtype
        np.testing.assert_allclose(x.grad, expected, rtol=1e-6, atol=0, equal_nan=True)


def test_corpus_covers_every_family_with_enough_cases() -> None:
    families = {}
    for row in ROWS:
        families[row.family] = families.get(row.family, 0) + 1
    assert set(families) == {"pow", "0-d", "empty", "index", "dtype", "dim", "shape", "nan"}
    assert len(ROWS) >= 60
    assert len({_id(row) for row in ROWS}) == len(ROWS)  # ids are unique: rows replay by name
