"""The Tensor: a NumPy array, its gradient, and the node that produced it.

Operator methods (``+``, ``@``, ``.sum()``, ``.exp()``, ...) are bound in
``methods.py`` once the ops exist, so this module depends on nothing but NumPy
and the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .dtypes import get_default_dtype
from .engine import Node, flat_grads, run_backward


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """NumPy arrays keep their dtype; Python floats take the default dtype (as PyTorch)."""
    if isinstance(data, Tensor):
        data = data.data
    array = np.array(data)
    if array.dtype.kind not in "biufc":  # text, objects, dates: as torch.tensor refuses
        _refuse(data, array)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)):
        return array.astype(get_default_dtype(), copy=False)
    return array


def _refuse(data: Any, array: np.ndarray) -> None:
    raise TypeError(
        "tensor() expected numbers (a number, nested lists of numbers or a numeric "
        f"ndarray), got {type(data).__name__} of dtype {array.dtype}"
    )


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a Tensor, array or nested list, without converting a Tensor."""
    if isinstance(value, Tensor):
        return value.data.shape
    return np.shape(value)


def _check_requires_grad(array: np.ndarray) -> None:
    if array.dtype.kind not in "fc":
        raise TypeError(
            f"only floating-point tensors can require gradients, got dtype {array.dtype}"
        )


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``data`` and ``grad`` are plain NumPy arrays. ``Tensor(ndarray)`` wraps the array
    without copying (like ``torch.from_numpy``); ``chainrule.tensor(...)`` copies.
    """

    # ``_grad_slot`` is set only on flattened parameters (``nn.utils.flatten_parameters``):
    # the view of the flat gradient buffer that backward fills instead of a new array.
    # It is stored in ``_slot``, read by the backward walk only once some was set.
    __slots__ = (
        "__weakref__",
        "_node",
        "_retains_grad",
        "_slot",
        "data",
        "grad",
        "requires_grad",
    )
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__

    data: np.ndarray
    grad: np.ndarray | None
    requires_grad: bool
    _node: Node | None
    _slot: np.ndarray

    if TYPE_CHECKING:
        # Bound at import by methods.py; declared here so that type checkers know them.
        # Binary operators take a Tensor, an ndarray or a Python number on either side.
        __add__: Callable[[Tensor, Any], Tensor]
        __radd__: Callable[[Tensor, Any], Tensor]
        __sub__: Callable[[Tensor, Any], Tensor]
        __rsub__: Callable[[Tensor, Any], Tensor]
        __mul__: Callable[[Tensor, Any], Tensor]
        __rmul__: Callable[[Tensor, Any], Tensor]
        __truediv__: Callable[[Tensor, Any], Tensor]
        __rtruediv__: Callable[[Tensor, Any], Tensor]
        __pow__: Callable[[Tensor, Any], Tensor]
        __matmul__: Callable[[Tensor, Any], Tensor]

        def __neg__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def __iter__(self) -> Iterator[Tensor]: ...
        # The arguments of functions.sum and functions.mean (axis/dim, keepdims/keepdim).
        def sum(self, *args: Any, **kwargs: Any) -> Tensor: ...
        def mean(self, *args: Any, **kwargs: Any) -> Tensor: ...

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, np.ndarray) and dtype is None:
            array = data
            if array.dtype.kind not in "biufc":
                _refuse(data, array)
        else:
            array = _as_array(data, dtype)
        if requires_grad:
            _check_requires_grad(array)
        self.data = array
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._retains_grad = False

    @property
    def _grad_slot(self) -> np.ndarray:
        return self._slot  # AttributeError while unset, as a plain slot

    @_grad_slot.setter
    def _grad_slot(self, slot: np.ndarray) -> None:
        # Before the first one, the backward walk skips looking for slots (a failed
        # lookup costs more than the rest of a leaf's bookkeeping).
        flat_grads.seen = True
        self._slot = slot

    @_grad_slot.deleter
    def _grad_slot(self) -> None:
        del self._slot

    # -- array-like attributes -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # -- autograd --------------------------------------------------------------
    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that produced this tensor (None for leaves)."""
        return None if self._node is None else self._node.op.name

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad:
            _check_requires_grad(self.data)
        if self._node is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) is only allowed on leaf tensors; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward``."""
        if self._node is not None:
            self._retains_grad = True

    # ``t.backward(gradient=None, retain_graph=False)``: the engine's function itself,
    # one call less per training step (its docstring is the method's).
    backward = run_backward

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), like ``torch.Tensor.numpy``."""
        return self.data

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item() needs a single-element tensor, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def zero_(self) -> Tensor:
        self.data[...] = 0
        return self

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is None:
            return self.data
        return self.data.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(self.data.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype != get_default_dtype() and self.data.dtype.kind == "f":
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.op.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Copy ``data`` into a new leaf tensor.

    Python floats become the default dtype (float32 unless ``set_default_dtype``);
    NumPy arrays keep theirs; integers are int64 and never require grad.
    """
    return Tensor(_as_array(data, dtype), requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself if it is a Tensor of that dtype, else a tensor sharing memory if possible."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        return Tensor(data)
    return Tensor(_as_array(data, dtype))
