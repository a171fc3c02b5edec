"""Checking and wrapping ``dim`` arguments the way PyTorch does, in one place.

PyTorch accepts ``dim`` in ``[-ndim, ndim - 1]`` and treats a 0-d tensor as if
it had one dimension for this purpose, so ``scalar.sum(0)`` and
``scalar.softmax(-1)`` work; anything else is an ``IndexError`` saying
"Dimension out of range". NumPy would raise its own ``AxisError`` (or, for a
few ops, something unrelated), so every dim-taking function calls these first.
"""

from __future__ import annotations

import operator
from typing import Any


def _out_of_range(op: str, dim: Any, low: int, high: int) -> IndexError:
    return IndexError(
        f"{op}: Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})"
    )


def wrap_dim(dim: Any, ndim: int, op: str) -> int:
    """``dim`` as an index in ``range(ndim)`` (``range(1)`` for a 0-d tensor).

    ``ndim`` is the rank the dimension must exist in: the input's for ``sum`` or
    ``transpose``, one more for ``unsqueeze`` and ``stack``, which insert one.
    """
    try:
        index = operator.index(dim)  # ints and NumPy integers, not floats or bools
    except TypeError:
        raise TypeError(f"{op}: dim expected an integer, got {dim!r}") from None
    if isinstance(dim, bool):
        raise TypeError(f"{op}: dim expected an integer, got {dim!r}")
    rank = max(ndim, 1)
    if not -rank <= index < rank:
        raise _out_of_range(op, dim, -rank, rank - 1)
    return index % rank


def wrap_dims(axis: Any, ndim: int, op: str) -> int | tuple[int, ...] | None:
    """A reduction's ``axis``/``dim`` (None, an int or a sequence) checked and wrapped.

    On a 0-d tensor a valid dim (0 or -1) means "all of it": the result is None,
    which NumPy accepts where it would reject axis 0.
    """
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        wrapped = tuple(wrap_dim(a, ndim, op) for a in axis)
        for i, a in enumerate(wrapped):
            if a in wrapped[:i]:
                raise ValueError(f"{op}: dim {a} appears more than once in dims {tuple(axis)}")
        return None if ndim == 0 else wrapped
    index = wrap_dim(axis, ndim, op)
    return None if ndim == 0 else index
