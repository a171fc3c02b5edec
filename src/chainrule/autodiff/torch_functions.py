"""PyTorch's further tensor functions (``chainrule.prod``, ``chainrule.gather``, ...).

Each one checks its arguments the PyTorch way (``dim`` in ``[-ndim, ndim - 1]``) and calls
a registered op (``ops.torch_math``, ``ops.torch_arrays``), or, for the ones that return
indices or booleans (``argsort``, ``isnan``, ...), returns a tensor without a graph:
integer and boolean tensors cannot require gradients, so asking for one raises.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import numpy as np

from . import functions as fn
from .dims import wrap_dim
from .ops import arithmetic, torch_arrays, torch_math
from .tensor import Tensor, _as_array

TensorLike = Any

tan = torch_math.tan
asin = torch_math.asin
arcsin = asin
acos = torch_math.acos
arccos = acos
atan = torch_math.atan
arctan = atan
erf = torch_math.erf
log2 = torch_math.log2
log10 = torch_math.log10
rsqrt = torch_math.rsqrt
logaddexp = torch_math.logaddexp
sign = torch_math.sign
floor = torch_math.floor
ceil = torch_math.ceil
trunc = torch_math.trunc
fix = trunc
remainder = torch_math.remainder


class ValuesIndices(NamedTuple):
    """What sort, topk, max(dim) and min(dim) return: ``(values, indices)``."""

    values: Tensor
    indices: Tensor


def return_type(name: str) -> type[ValuesIndices]:
    """PyTorch's ``torch.return_types.<name>``: a ValuesIndices printed as ``name(...)``."""
    return type(name, (ValuesIndices,), {"__slots__": ()})


SortResult = return_type("sort")
TopkResult = return_type("topk")


def _array(x: TensorLike) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else _as_array(x)


def _dim(x: TensorLike, dim: int, op: str) -> int:
    return wrap_dim(dim, np.ndim(_array(x)), op)


def _dims(x: TensorLike, dims: Any, op: str) -> tuple[int, ...]:
    if isinstance(dims, (int, np.integer)):
        dims = (dims,)
    return tuple(_dim(x, d, op) for d in dims)


def round(x: TensorLike, *, decimals: int = 0) -> Tensor:
    """Round half to even (``torch.round``); zero gradient."""
    return torch_math.round(x, decimals=int(decimals))


def div(x: TensorLike, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """``x / other``; ``rounding_mode='trunc'`` rounds toward zero, ``'floor'`` down (``//``).

    Rounded quotients keep integer dtypes and have zero gradient (PyTorch).
    """
    if rounding_mode is None:
        return arithmetic.div(x, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            f"div expected rounding_mode None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    return torch_math.div_rounded(x, other, rounding_mode=rounding_mode)


divide = div


def floor_divide(x: TensorLike, other: TensorLike) -> Tensor:
    """``x // other``: the quotient rounded down (Python's and PyTorch's ``//``)."""
    return torch_math.div_rounded(x, other, rounding_mode="floor")


def fmod(x: TensorLike, other: TensorLike) -> Tensor:
    """C's remainder (the dividend's sign): ``x - trunc(x / other) * other``."""
    return x - div(x, other, rounding_mode="trunc") * other


# -- predicates (no gradient) ------------------------------------------------------------
def isnan(x: TensorLike) -> Tensor:
    """A bool tensor: True where ``x`` is NaN. Not differentiable."""
    return Tensor(np.isnan(_array(x)))


def isinf(x: TensorLike) -> Tensor:
    """A bool tensor: True where ``x`` is ±inf. Not differentiable."""
    return Tensor(np.isinf(_array(x)))


def isfinite(x: TensorLike) -> Tensor:
    """A bool tensor: True where ``x`` is neither NaN nor ±inf. Not differentiable."""
    return Tensor(np.isfinite(_array(x)))


# -- reductions and scans ----------------------------------------------------------------
def prod(
    x: TensorLike,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    axis: int | None = None,
    keepdims: bool | None = None,
) -> Tensor:
    """The product over ``dim`` (all elements by default); the gradient needs no division,
    so zeros are handled exactly."""
    if dtype is not None:
        x = fn.astype(x, dtype)
    chosen = fn.resolve_axis(axis, dim, "prod")
    keep = bool(keepdim if keepdims is None else keepdims)
    wrapped = None if chosen is None else _dim(x, chosen, "prod")
    if wrapped is not None and np.ndim(_array(x)) == 0:
        wrapped = None
    return torch_arrays.prod(x, axis=wrapped, keepdims=keep)


def _scan(op: Any, x: TensorLike, dim: Any, axis: Any, dtype: Any, name: str) -> Tensor:
    chosen = fn.resolve_axis(axis, dim, name)
    if chosen is None:
        raise TypeError(f"{name} expected dim= (an int), got None")
    if dtype is not None:
        x = fn.astype(x, dtype)
    if np.ndim(_array(x)) == 0:
        _dim(x, chosen, name)
        return op(fn.reshape(x, 1), axis=0).reshape(())
    return op(x, axis=_dim(x, chosen, name))


def cumsum(x: TensorLike, dim: int | None = None, *, dtype: Any = None, axis: Any = None):
    """Running sums along ``dim``."""
    return _scan(torch_arrays.cumsum, x, dim, axis, dtype, "cumsum")


def cumprod(x: TensorLike, dim: int | None = None, *, dtype: Any = None, axis: Any = None):
    """Running products along ``dim`` (exact gradient with zeros too)."""
    return _scan(torch_arrays.cumprod, x, dim, axis, dtype, "cumprod")


# -- gather / scatter ----------------------------------------------------------------------
def _index(x: TensorLike, dim: int, index: TensorLike, op: str) -> np.ndarray:
    array = _array(index)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op} expected an integer index tensor, got dtype {array.dtype}")
    ndim = np.ndim(_array(x))
    if array.ndim != max(ndim, 1) and not (ndim == 0 and array.ndim == 0):
        raise ValueError(
            f"{op} expected index with as many dims as the input ({ndim}), got shape {array.shape}"
        )
    shape = np.shape(_array(x))
    for d, (n_index, n_input) in enumerate(zip(array.shape, shape, strict=False)):
        if d != dim and n_index > n_input:
            raise ValueError(
                f"{op}: index shape {array.shape} is larger than the input's {shape} at dim {d}"
            )
    size = shape[dim] if shape else 1
    if array.size and (array.min() < -size or array.max() >= size):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {size}")
    return np.where(array < 0, array + size, array) if array.size else array


def gather(x: TensorLike, dim: int, index: TensorLike) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` for dim 0 (``torch.gather``); out has index's shape."""
    d = _dim(x, dim, "gather")
    return torch_arrays.gather(x, axis=d, index=_index(x, d, index, "gather"))


def _scatter(op: Any, name: str, x: TensorLike, dim: int, index: Any, src: Any) -> Tensor:
    d = _dim(x, dim, name)
    where = _index(x, d, index, name)
    if isinstance(src, (Tensor, np.ndarray, list)):
        src_shape = np.shape(_array(src))
        if len(src_shape) != where.ndim or any(
            s < i for s, i in zip(src_shape, where.shape, strict=True)
        ):
            raise ValueError(
                f"{name} expected src at least as large as index {where.shape}, got {src_shape}"
            )
    return op(x, src, axis=d, index=where)


def scatter(
    x: TensorLike, dim: int, index: TensorLike, src: Any = None, *, value: Any = None
) -> Tensor:
    """A copy of ``x`` with ``src`` (or the number ``value``) written at ``index`` along
    ``dim`` (``torch.scatter``)."""
    if (src is None) == (value is None):
        raise TypeError("scatter expected exactly one of src or value")
    return _scatter(torch_arrays.scatter, "scatter", x, dim, index, value if src is None else src)


def scatter_add(x: TensorLike, dim: int, index: TensorLike, src: TensorLike) -> Tensor:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    return _scatter(torch_arrays.scatter_add, "scatter_add", x, dim, index, src)


def masked_fill(x: TensorLike, mask: TensorLike, value: Any) -> Tensor:
    """``x`` with ``value`` where the bool ``mask`` (broadcast to x) is True."""
    array = _array(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"masked_fill expected a bool mask, got dtype {array.dtype}")
    if isinstance(value, Tensor):
        if value.data.ndim:
            raise ValueError(f"masked_fill expected a 0-d value, got shape {value.shape}")
        if not value.requires_grad:
            value = value.data.item()
    shape = np.shape(_array(x))
    if np.broadcast_shapes(array.shape, shape) != shape:
        raise ValueError(f"masked_fill: mask of shape {array.shape} does not broadcast to {shape}")
    return torch_arrays.masked_fill(x, value, mask=array)


# -- rearrangements ------------------------------------------------------------------------
def flip(x: TensorLike, dims: Any) -> Tensor:
    """Reverse the order along each of ``dims``."""
    return torch_arrays.flip(x, axes=_dims(x, dims, "flip"))


def roll(x: TensorLike, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements cyclically; without ``dims`` the flattened tensor is rolled."""
    if dims is None:
        return torch_arrays.roll(x, shifts=int(shifts), axes=None)
    axes = _dims(x, dims, "roll")
    steps = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if len(steps) != len(axes):
        raise ValueError(f"roll expected as many shifts as dims, got {shifts} and {dims}")
    return torch_arrays.roll(x, shifts=tuple(int(s) for s in steps), axes=axes)


def _sizes(sizes: tuple, name: str) -> tuple[int, ...]:
    sizes = fn._shape_args(sizes)
    if any(not isinstance(s, (int, np.integer)) or s < 0 for s in sizes):
        raise ValueError(f"{name} expected non-negative integers, got {sizes}")
    return tuple(int(s) for s in sizes)


def repeat(x: TensorLike, *sizes: Any) -> Tensor:
    """``Tensor.repeat``: ``sizes[i]`` copies along each dim (at least ``x.ndim`` sizes)."""
    reps = _sizes(sizes, "repeat")
    ndim = np.ndim(_array(x))
    if len(reps) < ndim:
        raise ValueError(
            f"repeat expected at least as many sizes as the tensor has dims ({ndim}), got {reps}"
        )
    return torch_arrays.repeat(x, repeats=reps)


def tile(x: TensorLike, *dims: Any) -> Tensor:
    """``torch.tile``: like ``repeat``, with missing leading sizes taken as 1."""
    reps = _sizes(dims, "tile")
    ndim = np.ndim(_array(x))
    return torch_arrays.repeat(x, repeats=(1,) * (ndim - len(reps)) + reps)


def _triangle(op: Any, name: str, x: TensorLike, diagonal: int) -> Tensor:
    if np.ndim(_array(x)) < 2:
        raise ValueError(f"{name} expected a tensor of at least 2 dims, got {np.shape(_array(x))}")
    return op(x, diagonal=int(diagonal))


def tril(x: TensorLike, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (above ``diagonal`` set to 0)."""
    return _triangle(torch_arrays.tril, "tril", x, diagonal)


def triu(x: TensorLike, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (below ``diagonal`` set to 0)."""
    return _triangle(torch_arrays.triu, "triu", x, diagonal)


def _slice(x: TensorLike, d: int, start: int, stop: int) -> Tensor:
    tensor = x if isinstance(x, Tensor) else Tensor(_array(x))
    return tensor[(slice(None),) * d + (slice(start, stop),)]


def split(x: TensorLike, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or pieces of the
    listed sizes (which must add up to the dim's size). Each piece is differentiable."""
    d = _dim(x, dim, "split")
    n = np.shape(_array(x))[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split expected a positive split size, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split expected sizes adding up to {n}, got {sizes}")
    starts = np.cumsum([0, *sizes])
    return tuple(_slice(x, d, int(a), int(b)) for a, b in itertools.pairwise(starts))


def chunk(x: TensorLike, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces of equal size ``ceil(n / chunks)`` along ``dim``."""
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk expected a positive number of chunks, got {chunks!r}")
    d = _dim(x, dim, "chunk")
    n = np.shape(_array(x))[d]
    return split(x, max(math.ceil(n / chunks), 1), d)


# -- einsum ------------------------------------------------------------------------------------
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """Each operand's letters and the output's, with ``...`` spelled out as unused letters."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(
            f"einsum: equation {equation!r} names {len(terms)} operands, got {len(ndims)}"
        )
    spare = [c for c in _LETTERS if c not in equation]
    widest = max(
        (n - len(t.replace("...", "")) for t, n in zip(terms, ndims, strict=True) if "..." in t),
        default=0,
    )
    ellipsis = "".join(spare[:widest])
    spelled = []
    for term, n in zip(terms, ndims, strict=True):
        if "..." in term:
            width = n - len(term.replace("...", ""))
            term = term.replace("...", ellipsis[widest - width :] if width else "")
        if len(term) != n or not all(c in _LETTERS for c in term):
            raise ValueError(f"einsum: subscripts {term!r} do not fit an operand with {n} dims")
        spelled.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = "".join(spelled)
        output = ellipsis + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis)
        )
    return spelled, output


def einsum(equation: str, *operands: TensorLike) -> Tensor:
    """``torch.einsum``: ``einsum('ij,jk->ik', a, b)``; operands may also come as one list.

    Differentiable in every operand, a letter repeated inside one operand too (a
    diagonal ``'ii->i'``, a trace ``'ii->'``: the gradient lies on the diagonal).
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    arrays = [_array(o) for o in operands]
    subscripts, output = _parse_einsum(equation, [a.ndim for a in arrays])
    return torch_arrays.einsum(*operands, subscripts=tuple(subscripts), output=output)


# -- sorting ---------------------------------------------------------------------------------
def _argsort(array: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    if array.ndim == 0:
        return np.zeros((), dtype=np.int64)
    if descending:
        # Sorting the negation keeps equal values in their original order (stable).
        key = -array.astype(np.float64) if array.dtype.kind in "bu" else -array
        return np.argsort(key, axis=axis, kind="stable").astype(np.int64)
    return np.argsort(array, axis=axis, kind="stable").astype(np.int64)


def argsort(x: TensorLike, dim: int = -1, descending: bool = False, stable: bool = False):
    """The indices that sort ``x`` along ``dim`` (an int64 tensor, no gradient)."""
    array = _array(x)
    return Tensor(_argsort(array, _dim(x, dim, "argsort"), descending))


def sort(
    x: TensorLike, dim: int = -1, descending: bool = False, stable: bool = False
) -> ValuesIndices:
    """``(values, indices)`` sorted along ``dim``; values are differentiable (a gather)."""
    array = _array(x)
    d = _dim(x, dim, "sort")
    if array.ndim == 0:
        return SortResult(fn.reshape(x, ()), Tensor(np.zeros((), dtype=np.int64)))
    order = _argsort(array, d, descending)
    return SortResult(torch_arrays.gather(x, axis=d, index=order), Tensor(order))


def topk(
    x: TensorLike, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
) -> ValuesIndices:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
    array = _array(x)
    d = _dim(x, dim, "topk")
    size = array.shape[d] if array.ndim else 1
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ValueError(f"topk expected k in [0, {size}], got {k!r}")
    if array.ndim == 0:
        return TopkResult(fn.reshape(x, ()), Tensor(np.zeros((), dtype=np.int64)))
    order = np.take(_argsort(array, d, largest), np.arange(k), axis=d)
    return TopkResult(torch_arrays.gather(x, axis=d, index=order), Tensor(order))


__all__ = [
    "acos",
    "arccos",
    "arcsin",
    "arctan",
    "argsort",
    "asin",
    "atan",
    "ceil",
    "chunk",
    "cumprod",
    "cumsum",
    "div",
    "divide",
    "einsum",
    "erf",
    "fix",
    "flip",
    "floor",
    "floor_divide",
    "fmod",
    "gather",
    "isfinite",
    "isinf",
    "isnan",
    "log2",
    "log10",
    "logaddexp",
    "masked_fill",
    "prod",
    "remainder",
    "repeat",
    "roll",
    "round",
    "rsqrt",
    "scatter",
    "scatter_add",
    "sign",
    "sort",
    "split",
    "tan",
    "tile",
    "topk",
    "tril",
    "triu",
    "trunc",
]
