"""Operators and methods of Tensor, bound here once every op exists.

Kept out of tensor.py so that the Tensor class depends only on the engine, and
every method is a thin call into ``functions`` (one place for argument rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import functions as fn
from .engine import grad_mode
from .ops import arithmetic as ar
from .ops import shaping
from .registry import apply2
from .tensor import Tensor


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _compare(ufunc: np.ufunc):
    def method(self: Tensor, other: Any) -> Tensor:
        return Tensor(ufunc(self.data, _data(other)))

    method.__name__ = f"__{ufunc.__name__}__"
    return method


def _index(index: Any) -> Any:
    """Turn Tensor and list indices into arrays so NumPy's indexing rules apply."""
    if isinstance(index, tuple):
        return tuple(_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        array = np.asarray(index)
        # An empty list selects nothing (PyTorch); NumPy would read it as float64.
        return array.astype(np.intp) if array.size == 0 else array
    return index


def _getitem(self: Tensor, index: Any) -> Tensor:
    return shaping.getitem(self, index=shaping.torch_index(_index(index), self.data.ndim))


def _setitem(self: Tensor, index: Any, value: Any) -> None:
    if self.requires_grad and grad_mode.enabled:
        raise RuntimeError(
            "in-place assignment into a tensor that requires grad is not supported; "
            "build a new tensor with where() or cat(), or assign under no_grad()"
        )
    self.data[_index(index)] = _data(value)


def _iter(self: Tensor):
    for i in range(len(self)):
        yield self[i]


@fn.reduction()
def argmax(self: Tensor, axes: Any, keep: bool) -> Tensor:
    return Tensor(np.argmax(self.data, axis=axes, keepdims=keep))


@fn.reduction()
def argmin(self: Tensor, axes: Any, keep: bool) -> Tensor:
    return Tensor(np.argmin(self.data, axis=axes, keepdims=keep))


def _expand_as(self: Tensor, other: Any) -> Tensor:
    return fn.broadcast_to(self, np.shape(_data(other)))


def _any(self: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    return Tensor(np.any(self.data, axis=fn._axes(self, axis, dim, "any")))


def _all(self: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    return Tensor(np.all(self.data, axis=fn._axes(self, axis, dim, "all")))


# The binary operators call ``apply2`` (what ``ar.add(self, other)`` does) directly:
# calling the op instance itself costs more than the rest of an operator's bookkeeping.
_BINARY = {"add": ar.add, "sub": ar.sub, "mul": ar.mul, "truediv": ar.div}
_BINARY |= {"pow": ar.pow, "matmul": ar.matmul}


def _operator(op: Any) -> Callable[[Tensor, Any], Tensor]:
    return lambda self, other: apply2(op, self, other, {})


def _reflected(op: Any) -> Callable[[Tensor, Any], Tensor]:
    """``other <op> self`` with ``self`` on the right: ``__radd__`` and the like."""
    return lambda self, other: apply2(op, other, self, {})


_BINDINGS = {
    **{f"__{name}__": _operator(op) for name, op in _BINARY.items()},
    **{f"__r{name}__": _reflected(op) for name, op in _BINARY.items()},
    "__neg__": lambda self: ar.neg(self),
    "__pos__": lambda self: self,
    "__abs__": lambda self: fn.abs(self),
    "__eq__": _compare(np.equal),
    "__ne__": _compare(np.not_equal),
    "__lt__": _compare(np.less),
    "__le__": _compare(np.less_equal),
    "__gt__": _compare(np.greater),
    "__ge__": _compare(np.greater_equal),
    "__getitem__": _getitem,
    "__setitem__": _setitem,
    "__iter__": _iter,
    "T": property(lambda self: fn.transpose(self)),
    # Reductions take the function's arguments: axis/dim, keepdims/keepdim, ...
    # plain functions whose first argument is the tensor: bound as they are, one call less
    "sum": fn.sum,
    "mean": fn.mean,
    "max": lambda self, *args, **kwargs: fn.max(self, *args, **kwargs),
    "min": lambda self, *args, **kwargs: fn.min(self, *args, **kwargs),
    "amax": lambda self, *args, **kwargs: fn.max(self, *args, **kwargs),
    "amin": lambda self, *args, **kwargs: fn.min(self, *args, **kwargs),
    "var": lambda self, *args, **kwargs: fn.var(self, *args, **kwargs),
    "std": lambda self, *args, **kwargs: fn.std(self, *args, **kwargs),
    "argmax": argmax,
    "argmin": argmin,
    "any": _any,
    "all": _all,
    "exp": lambda self: fn.exp(self),
    "log": lambda self: fn.log(self),
    "log1p": lambda self: fn.log1p(self),
    "sqrt": lambda self: fn.sqrt(self),
    "abs": lambda self: fn.abs(self),
    "sin": lambda self: fn.sin(self),
    "cos": lambda self: fn.cos(self),
    "sigmoid": lambda self: fn.sigmoid(self),
    "tanh": lambda self: fn.tanh(self),
    "relu": lambda self: fn.relu(self),
    "softmax": lambda self, dim=None, *, axis=None: fn.softmax(self, dim, axis=axis),
    "log_softmax": lambda self, dim=None, *, axis=None: fn.log_softmax(self, dim, axis=axis),
    "logsumexp": lambda self, *args, **kwargs: fn.logsumexp(self, *args, **kwargs),
    "pow": lambda self, exponent: ar.pow(self, exponent),
    "matmul": lambda self, other: ar.matmul(self, other),
    "maximum": lambda self, other: fn.maximum(self, other),
    "minimum": lambda self, other: fn.minimum(self, other),
    "clip": lambda self, min=None, max=None: fn.clip(self, min, max),
    "clamp": lambda self, min=None, max=None: fn.clip(self, min, max),
    "reshape": lambda self, *shape: fn.reshape(self, *shape),
    "view": lambda self, *shape: fn.reshape(self, *shape),
    "transpose": lambda self, dim0=None, dim1=None: fn.transpose(self, dim0, dim1),
    "permute": lambda self, *dims: fn.permute(self, *dims),
    "expand": lambda self, *shape: fn.expand(self, *shape),
    "broadcast_to": lambda self, shape: fn.broadcast_to(self, shape),
    "expand_as": _expand_as,
    "squeeze": lambda self, dim=None, *, axis=None: fn.squeeze(self, dim, axis=axis),
    "unsqueeze": lambda self, dim=None, *, axis=None: fn.unsqueeze(self, dim, axis=axis),
    "flatten": lambda self, start_dim=0, end_dim=-1: fn.flatten(self, start_dim, end_dim),
    "astype": lambda self, dtype: fn.astype(self, dtype),
    "float": lambda self: fn.astype(self, np.float32),
    "double": lambda self: fn.astype(self, np.float64),
    "long": lambda self: Tensor(self.data.astype(np.int64)),
}

for _name, _method in _BINDINGS.items():
    setattr(Tensor, _name, _method)


# ---------------------------------------------------------------------------------------
# PyTorch-parity methods (.to, .cpu, .clone, .size, .int, .bool, //, %, prod, gather, ...),
# kept in ``compat`` and bound here, after the core bindings above.
from . import compat as _compat  # noqa: E402

_compat.bind_tensor_methods()
