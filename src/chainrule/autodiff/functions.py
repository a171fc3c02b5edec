"""The public functions on tensors (``chainrule.exp``, ``chainrule.cat``, ...).

They accept NumPy's ``axis=`` and PyTorch's ``dim=`` alike, turn Python and NumPy
values into tensors where needed, and call the registered ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .dims import wrap_dim, wrap_dims
from .dtypes import get_default_dtype, result_type, scalar_dtype
from .ops import arithmetic, elementwise, reductions, shaping
from .random import resolve_generator
from .tensor import Tensor, _as_array

TensorLike = Any  # Tensor, ndarray, nested list or Python number

exp = elementwise.exp
log = elementwise.log
log1p = elementwise.log1p
sqrt = elementwise.sqrt
abs = elementwise.abs
sin = elementwise.sin
cos = elementwise.cos
sigmoid = elementwise.sigmoid
tanh = elementwise.tanh
relu = elementwise.relu
maximum = elementwise.maximum
minimum = elementwise.minimum
matmul = arithmetic.matmul
add = arithmetic.add
sub = arithmetic.sub
mul = arithmetic.mul
div = arithmetic.div
neg = arithmetic.neg
pow = arithmetic.pow


def resolve_axis(axis: Any = None, dim: Any = None, name: str = "axis") -> Any:
    """One of NumPy's ``axis`` / PyTorch's ``dim``; lists become tuples."""
    if axis is not None and dim is not None:
        raise TypeError(f"{name}: pass axis= or dim=, not both (got axis={axis}, dim={dim})")
    chosen = dim if axis is None else axis
    if isinstance(chosen, list):
        chosen = tuple(chosen)
    return chosen


def resolve_keepdims(keepdims: bool, keepdim: bool | None) -> bool:
    """NumPy's ``keepdims`` or PyTorch's ``keepdim``."""
    return bool(keepdims if keepdim is None else keepdim)


def _axes(x: TensorLike, axis: Any, dim: Any, name: str) -> Any:
    """The reduction dims of ``x``: ``axis`` or ``dim``, checked and wrapped (PyTorch's range)."""
    if axis is None and dim is None:  # all of them (a loss's sum or mean): nothing to check
        return None
    return wrap_dims(resolve_axis(axis, dim, name), np.ndim(x), name)


def _shape_args(shape: tuple) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _nonempty_axes(x: TensorLike, axis: Any, dim: Any, name: str) -> Any:
    """Reduction dims for max/min, which have no value to give an empty slice."""
    axes = _axes(x, axis, dim, name)
    shape = np.shape(x)
    if axes is None:
        if 0 in shape:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0 "
                f"(got shape {shape}); an empty tensor has no {name}imum"
            )
        return None
    for a in (axes,) if isinstance(axes, int) else axes:
        if shape[a] == 0:
            raise IndexError(
                f"{name}(): Expected reduction dim {a} to have non-zero size (got shape {shape})"
            )
    return axes


# ``body(x, axes, keep, **options)``: a reduction's work, on dims already checked.
ReductionBody = Callable[..., Tensor]
# ``f(x, axis=None, keepdims=False, *, dim=None, keepdim=None, **options)``.
Reduction = Callable[..., Tensor]


def reduction(
    check: Callable[[TensorLike, Any, Any, str], Any] = _axes,
    name: str | None = None,
    whole: Callable[..., Tensor] | None = None,
) -> Callable[[ReductionBody], Reduction]:
    """Decorator: ``body(x, axes, keep, **options)`` becomes a reduction that takes NumPy's
    and PyTorch's names alike, ``f(x, axis=None, keepdims=False, *, dim=None,
    keepdim=None, **options)``: the one place where those arguments are resolved.

    ``check(x, axis, dim, name)`` gives the wrapped dims (``_axes``) or refuses them
    (``_nonempty_axes``); ``options`` (``dtype=``, ``correction=``, ...) go to ``body``.
    ``name`` (default: the body's) is the one error messages give. ``whole`` (an op
    whose options default to ``axis=None, keepdims=False``) is what the body does for
    a reduction over all dims without options: called directly, one call less per step.
    """

    def decorate(body: ReductionBody) -> Reduction:
        called = name or body.__name__
        plain = check is _axes  # all dims need no check (max/min refuse empty tensors)

        def reduce(
            x: TensorLike,
            axis: Any = None,
            keepdims: bool = False,
            *,
            dim: Any = None,
            keepdim: bool | None = None,
            **options: Any,
        ) -> Tensor:
            if axis is None and dim is None and plain and not options:
                # a loss's sum or mean, the hot path of every step: nothing to check
                keep = bool(keepdims if keepdim is None else keepdim)
                if whole is not None:
                    # the op's defaults are axis=None, keepdims=False: a call without
                    # keywords is cheaper forward and backward
                    return whole(x, axis=None, keepdims=True) if keep else whole(x)
                return body(x, None, keep)
            keep = resolve_keepdims(keepdims, keepdim)
            return body(x, check(x, axis, dim, called), keep, **options)

        reduce.__name__ = reduce.__qualname__ = body.__name__
        reduce.__doc__ = body.__doc__
        reduce.__module__ = body.__module__
        return reduce

    return decorate


@reduction(whole=reductions.sum)
def sum(x: TensorLike, axes: Any, keep: bool, *, dtype: Any = None) -> Tensor:
    """Sum over ``axis``/``dim`` (all elements by default); ``dtype`` converts the input
    first (PyTorch's ``sum(dtype=)``: e.g. accumulate float32 in float64)."""
    if dtype is not None:
        x = astype(x, dtype)
    return reductions.sum(x, axis=axes, keepdims=keep)


@reduction(whole=reductions.mean)
def mean(x: TensorLike, axes: Any, keep: bool) -> Tensor:
    """Arithmetic mean over ``axis``/``dim``."""
    return reductions.mean(x, axis=axes, keepdims=keep)


@reduction(_nonempty_axes)
def max(x: TensorLike, axes: Any, keep: bool) -> Tensor:
    """Largest value over ``axis``/``dim`` — the values only, like ``torch.amax``/``np.max``."""
    return reductions.max(x, axis=axes, keepdims=keep)


@reduction(_nonempty_axes)
def min(x: TensorLike, axes: Any, keep: bool) -> Tensor:
    """Smallest value over ``axis``/``dim`` — the values only, like ``torch.amin``/``np.min``."""
    return reductions.min(x, axis=axes, keepdims=keep)


@reduction()
def var(
    x: TensorLike,
    axes: Any,
    keep: bool,
    *,
    correction: int | None = None,
    unbiased: bool | None = None,
    ddof: int | None = None,
) -> Tensor:
    """Variance with Bessel's correction by default (PyTorch's ``correction=1``).

    ``unbiased=False``, ``correction=0`` or NumPy's ``ddof=0`` give the biased estimate.
    """
    given = [c for c in (correction, ddof) if c is not None]
    if unbiased is not None:
        given.append(1 if unbiased else 0)
    if len(given) > 1:
        raise TypeError("var: pass only one of correction=, unbiased= or ddof=")
    chosen = given[0] if given else 1
    return reductions.var(x, axis=axes, correction=chosen, keepdims=keep)


def std(
    x: TensorLike, axis: Any = None, keepdims: bool = False, *, dim: Any = None, **options: Any
) -> Tensor:
    """Standard deviation: ``sqrt(var(...))`` with the same options."""
    return sqrt(var(x, _axes(x, axis, dim, "std"), keepdims, **options))


def _softmax_dim(x: TensorLike, dim: Any, name: str) -> int | None:
    if isinstance(dim, tuple):
        raise TypeError(f"{name} expected a single dim, got {dim}")
    ndim = np.ndim(x)
    axis = wrap_dim(-1 if dim is None else dim, ndim, name)
    return None if ndim == 0 else axis  # a 0-d tensor: NumPy's axis=None


def softmax(x: TensorLike, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / Σ exp(x) along ``dim`` (default the last), computed with the max subtracted."""
    chosen = resolve_axis(axis, dim, "softmax")
    return reductions.softmax(x, axis=_softmax_dim(x, chosen, "softmax"))


def log_softmax(x: TensorLike, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """x − logsumexp(x) along ``dim`` (default the last); exact for large inputs."""
    chosen = resolve_axis(axis, dim, "log_softmax")
    return reductions.log_softmax(x, axis=_softmax_dim(x, chosen, "log_softmax"))


@reduction(name="logsumexp")
def _logsumexp(x: TensorLike, axes: Any, keep: bool) -> Tensor:
    return reductions.logsumexp(x, axis=axes, keepdims=keep)


def logsumexp(x: TensorLike, dim: Any = None, keepdims: bool = False, **names: Any) -> Tensor:
    """log Σ exp(x) along ``dim``, computed with the max factored out.

    PyTorch's order (``dim`` second); NumPy's ``axis=`` and PyTorch's ``keepdim=`` are
    accepted by name.
    """
    return _logsumexp(x, dim=dim, keepdims=keepdims, **names)


def reshape(x: TensorLike, *shape: Any) -> Tensor:
    """Same elements, new shape: ``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``; -1 infers."""
    return shaping.reshape(x, shape=_shape_args(shape))


def permute(x: TensorLike, *dims: Any) -> Tensor:
    """Reorder all dimensions: ``permute(x, 2, 0, 1)``."""
    given = _shape_args(dims)
    ndim = np.ndim(x)
    if len(given) != ndim:
        raise ValueError(f"permute expected a reordering of all {ndim} dimensions, got {given}")
    axes = tuple(wrap_dim(a, ndim, "permute") for a in given)
    if len(set(axes)) != ndim:
        raise ValueError(f"permute expected each of the {ndim} dimensions once, got {given}")
    return shaping.permute(x, axes=axes)


def transpose(x: TensorLike, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """Swap two dimensions (PyTorch's ``transpose(x, dim0, dim1)``); no dims reverses all."""
    ndim = np.ndim(x)
    if dim0 is None and dim1 is None:
        return shaping.permute(x, axes=tuple(reversed(range(ndim))))
    if dim0 is None or dim1 is None:
        raise TypeError("transpose expected two dimensions to swap, got one")
    dim0, dim1 = wrap_dim(dim0, ndim, "transpose"), wrap_dim(dim1, ndim, "transpose")
    if ndim == 0:  # PyTorch allows transpose(0, -1) of a 0-d tensor: nothing moves
        return shaping.reshape(x, shape=())
    axes = list(range(ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return shaping.permute(x, axes=tuple(axes))


def expand(x: TensorLike, *shape: Any) -> Tensor:
    """Broadcast to ``shape`` without copying; -1 keeps a dimension (PyTorch)."""
    target = list(_shape_args(shape))
    current = np.shape(x)
    offset = len(target) - len(current)
    for i, size in enumerate(target):
        if size == -1:
            if i < offset:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            target[i] = current[i - offset]
    return shaping.expand(x, shape=tuple(target))


def broadcast_to(x: TensorLike, shape: Sequence[int]) -> Tensor:
    """NumPy's name for ``expand``."""
    return shaping.expand(x, shape=tuple(shape))


def squeeze(x: TensorLike, dim: Any = None, *, axis: Any = None) -> Tensor:
    """Drop size-1 dimensions (all, or the ones named)."""
    chosen = wrap_dims(resolve_axis(axis, dim, "squeeze"), np.ndim(x), "squeeze")
    if np.ndim(x) == 0:  # squeeze(0) of a 0-d tensor is the tensor (PyTorch)
        return shaping.reshape(x, shape=())
    if chosen is not None:
        axes = chosen if isinstance(chosen, tuple) else (chosen,)
        # PyTorch leaves a named dimension alone when its size is not 1.
        chosen = tuple(a for a in axes if np.shape(x)[a] == 1)
        if not chosen:
            return shaping.reshape(x, shape=np.shape(x))
    return shaping.squeeze(x, axis=chosen)


def unsqueeze(x: TensorLike, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert a size-1 dimension at ``dim``."""
    chosen = resolve_axis(axis, dim, "unsqueeze")
    if chosen is None:
        raise TypeError("unsqueeze expected dim=, got none")
    return shaping.unsqueeze(x, axis=wrap_dim(chosen, np.ndim(x) + 1, "unsqueeze"))


def flatten(x: TensorLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim`` … ``end_dim`` into one (PyTorch's signature)."""
    shape = np.shape(x)
    start = wrap_dim(start_dim, len(shape), "flatten")
    end = wrap_dim(end_dim, len(shape), "flatten")
    if not shape:
        return shaping.reshape(x, shape=(1,))
    if start > end:
        raise ValueError(
            f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim}) "
            f"for shape {shape}"
        )
    merged = int(np.prod(shape[start : end + 1]))
    return shaping.reshape(x, shape=(*shape[:start], merged, *shape[end + 1 :]))


def _nonempty_list(tensors: Sequence[TensorLike], name: str) -> list:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{name} expected a non-empty sequence of tensors, got an empty one")
    return tensors


def cat(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join tensors along an existing dimension."""
    if isinstance(tensors, (Tensor, np.ndarray)):
        raise TypeError("cat expected a sequence of tensors, got a single tensor")
    chosen = resolve_axis(axis, dim if axis is None else None, "cat")
    tensors = _nonempty_list(tensors, "cat")
    ndim = np.ndim(tensors[0])
    for i, t in enumerate(tensors):
        if np.ndim(t) == 0:
            raise ValueError(
                f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack"
            )
    return shaping.cat(*tensors, axis=wrap_dim(chosen, ndim, "cat"))


concatenate = cat


def stack(tensors: Sequence[TensorLike], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    if isinstance(tensors, (Tensor, np.ndarray)):
        raise TypeError("stack expected a sequence of tensors, got a single tensor")
    chosen = resolve_axis(axis, dim if axis is None else None, "stack")
    tensors = _nonempty_list(tensors, "stack")
    return shaping.stack(*tensors, axis=wrap_dim(chosen, np.ndim(tensors[0]) + 1, "stack"))


def where(condition: TensorLike, x: TensorLike, y: TensorLike) -> Tensor:
    """``x`` where ``condition`` holds, else ``y`` (broadcasting all three)."""
    mask = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if mask.dtype != np.bool_:
        raise TypeError(f"where expected a boolean condition, got dtype {mask.dtype}")
    return elementwise.where(mask, x, y)


def clip(x: TensorLike, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max]; the gradient passes where min <= x <= max.

    Float bounds on an integer tensor give the default float dtype (PyTorch's promotion).
    """
    bounds = [b.data if isinstance(b, Tensor) else b for b in (min, max) if b is not None]
    data = x.data if isinstance(x, Tensor) else _as_array(x)
    target = result_type(data, *bounds)
    if target != data.dtype:
        x = astype(x, target)
    return elementwise.clip(x, min=min, max=max)


clamp = clip


def astype(x: TensorLike, dtype: Any) -> Tensor:
    """A copy converted to ``dtype``; gradients flow back in the original dtype."""
    return elementwise.cast(x, dtype=np.dtype(dtype))


# -- factories ------------------------------------------------------------------
def _float_dtype(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape_args(shape), _float_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape_args(shape), _float_dtype(dtype)), requires_grad)


def full(
    shape: Sequence[int], fill_value: float, *, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``shape`` filled with ``fill_value``; without ``dtype``, the value's own (PyTorch):
    bool for a bool, int64 for an int, the default float dtype for a float."""
    if dtype is None:
        dtype = scalar_dtype(fill_value)
        if dtype is None:
            raise TypeError(f"full expected a number as fill_value, got {fill_value!r}")
    return Tensor(np.full(_shape_args((shape,)), fill_value, np.dtype(dtype)), requires_grad)


def zeros_like(x: TensorLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(_as_array(x), dtype=dtype), requires_grad)


def ones_like(x: TensorLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(_as_array(x), dtype=dtype), requires_grad)


def arange(*args: float, dtype: Any = None) -> Tensor:
    """``arange(stop)`` / ``arange(start, stop, step)``; integer arguments give int64."""
    values = np.arange(*args)
    if dtype is not None:
        values = values.astype(dtype)
    elif values.dtype.kind == "f":
        values = values.astype(get_default_dtype())
    return Tensor(values)


def _generator(generator: Any) -> np.random.Generator:
    # An explicit generator (or int seed) wins; without one, the default generator
    # that ``manual_seed`` seeds.
    return resolve_generator(generator)


def randn(
    *shape: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples; ``generator`` is a NumPy Generator or an int seed."""
    values = _generator(generator).standard_normal(_shape_args(shape))
    return Tensor(values.astype(_float_dtype(dtype)), requires_grad)


def rand(
    *shape: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples in [0, 1); ``generator`` is a NumPy Generator or an int seed."""
    values = _generator(generator).random(_shape_args(shape))
    return Tensor(values.astype(_float_dtype(dtype)), requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap ``array`` without copying; its dtype is kept."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expected an ndarray, got {type(array).__name__}")
    return Tensor(array)


# max, min and div are not exported: chainrule's own are PyTorch's (compat.max and
# compat.min return (values, indices) with a dim; torch_functions.div takes rounding_mode).
__all__ = [
    "abs",
    "add",
    "arange",
    "astype",
    "broadcast_to",
    "cat",
    "clamp",
    "clip",
    "concatenate",
    "cos",
    "exp",
    "expand",
    "flatten",
    "from_numpy",
    "full",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "mul",
    "neg",
    "ones",
    "ones_like",
    "permute",
    "pow",
    "rand",
    "randn",
    "relu",
    "reshape",
    "resolve_axis",
    "resolve_keepdims",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "unsqueeze",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
