"""The rest of PyTorch's top-level names, so a script ports by changing its imports:
devices (always the CPU), dtype names, ``max``/``min`` with ``dim`` returning
``(values, indices)``, more factories, ``inference_mode`` and the Tensor methods
PyTorch code calls (``.to``, ``.cpu``, ``.clone``, ``.size``, ``.float``, ...).
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import functions as fn
from . import tensor as _tensor_module
from . import torch_functions as tf
from .dtypes import get_default_dtype
from .engine import no_grad
from .ops import elementwise
from .random import Generator, manual_seed, resolve_generator, seed
from .tensor import Tensor, _as_array

# -- dtype names (NumPy dtypes: ``t.dtype == chainrule.float32`` holds) --------------------
float16 = half = np.float16
float32 = float = np.float32
float64 = double = np.float64
int8 = np.int8
uint8 = np.uint8
int16 = short = np.int16
int32 = int = np.int32
int64 = long = np.int64
bool = np.bool_
complex64 = np.complex64
complex128 = np.complex128

DTYPE_NAMES = (
    "bool complex64 complex128 double float float16 float32 float64 half int int8 int16 "
    "int32 int64 long short uint8"
).split()


def _dtype(value: Any, what: str) -> np.dtype:
    try:
        return np.dtype(value)
    except TypeError:
        raise TypeError(
            f"{what} expected a dtype such as chainrule.float32, got {value!r}"
        ) from None


# -- devices -----------------------------------------------------------------------------
class device:
    """A device name (``'cpu'``, ``'cuda:0'``, ...). chainrule computes on the CPU only:
    other devices can be named (``torch.device('cuda' if ... else 'cpu')`` runs) but
    moving a tensor or model to them raises."""

    type: str
    index: builtins.int | None

    def __init__(self, type: str | device, index: builtins.int | None = None) -> None:
        if isinstance(type, device):
            index = type.index
            type = type.type
        if not isinstance(type, str):
            raise TypeError(f"device expected a name such as 'cpu', got {type!r}")
        name, _, number = type.partition(":")
        if number:
            index = builtins.int(number)
        self.type = name
        self.index = index

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> builtins.int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")


def _is_device(value: Any) -> builtins.bool:
    if isinstance(value, device):
        return True
    return isinstance(value, str) and value.partition(":")[0] in (
        "cpu",
        "cuda",
        "mps",
        "xpu",
        "meta",
    )


def check_device(value: Any, what: str) -> None:
    """Accept the CPU; refuse any other device with a message that says why."""
    if device(value).type != "cpu":
        raise RuntimeError(
            f"{what}: chainrule runs on the CPU only, got device {str(device(value))!r} "
            "(chainrule.cuda.is_available() is False)"
        )


class _Cuda:
    """``chainrule.cuda``: there is no GPU support, so nothing is available."""

    @staticmethod
    def is_available() -> builtins.bool:
        return False

    @staticmethod
    def device_count() -> builtins.int:
        return 0

    @staticmethod
    def manual_seed(seed: builtins.int) -> None:
        """Accepted (and ignored) so scripts that seed CUDA too run unchanged."""

    manual_seed_all = manual_seed


cuda = _Cuda()


class _Backends:
    class mps:
        @staticmethod
        def is_available() -> builtins.bool:
            return False


backends = _Backends()


# -- autograd modes ----------------------------------------------------------------------
class inference_mode(no_grad):
    """``torch.inference_mode``: no graph is recorded (the same as ``no_grad`` here).

    ``inference_mode(False)`` records as usual.
    """

    def __new__(cls, *args: Any) -> Any:
        if len(args) == 1 and callable(args[0]):
            return no_grad(args[0])
        return super().__new__(cls)

    def __init__(self, mode: builtins.bool = True) -> None:
        self._target = not mode


# -- max / min / argmax / argmin ---------------------------------------------------------
MaxResult = tf.return_type("max")
MinResult = tf.return_type("min")


def _extreme(name: str, x: Any, dim: Any, keepdim: Any, **kwargs: Any) -> Any:
    reduce = fn.max if name == "max" else fn.min
    if isinstance(dim, (Tensor, np.ndarray)):  # torch.max(a, b): the elementwise maximum
        return (fn.maximum if name == "max" else fn.minimum)(x, dim)
    if dim is None or isinstance(dim, (tuple, list)):
        # No single dim (PyTorch has no indices for several): the values, as amax/amin.
        return reduce(x, dim=dim, keepdim=keepdim, **kwargs)
    keepdim = fn.resolve_keepdims(kwargs.pop("keepdims", False), keepdim)
    values = reduce(x, dim=dim, keepdim=keepdim, **kwargs)
    pick = np.argmax if name == "max" else np.argmin
    array = x.data if isinstance(x, Tensor) else _as_array(x)
    axis = fn._axes(array, None, dim, name)
    indices = Tensor(np.asarray(pick(array, axis=axis, keepdims=keepdim), dtype=np.int64))
    return (MaxResult if name == "max" else MinResult)(values, indices)


def max(x: Any, dim: Any = None, keepdim: builtins.bool | None = None, **kwargs: Any) -> Any:
    """``torch.max``: the largest value; with ``dim``, ``(values, indices)`` along it
    (values differentiable); with a tensor second argument, the elementwise maximum."""
    return _extreme("max", x, dim, keepdim, **kwargs)


def min(x: Any, dim: Any = None, keepdim: builtins.bool | None = None, **kwargs: Any) -> Any:
    """``torch.min``: the smallest value; with ``dim``, ``(values, indices)``."""
    return _extreme("min", x, dim, keepdim, **kwargs)


amax = fn.max
amin = fn.min


def argmax(x: Any, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
    """Index of the largest value (of the flattened tensor without ``dim``), int64."""
    array = x.data if isinstance(x, Tensor) else _as_array(x)
    axis = None if dim is None else fn._axes(array, None, dim, "argmax")
    return Tensor(np.asarray(np.argmax(array, axis=axis, keepdims=keepdim), dtype=np.int64))


def argmin(x: Any, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
    """Index of the smallest value (of the flattened tensor without ``dim``), int64."""
    array = x.data if isinstance(x, Tensor) else _as_array(x)
    axis = None if dim is None else fn._axes(array, None, dim, "argmin")
    return Tensor(np.asarray(np.argmin(array, axis=axis, keepdims=keepdim), dtype=np.int64))


# -- factories ---------------------------------------------------------------------------
def _factory_options(kwargs: dict, name: str) -> tuple[Any, builtins.bool]:
    """Pop ``device`` (CPU only), ``dtype`` and ``requires_grad`` from ``kwargs``."""
    where = kwargs.pop("device", None)
    if where is not None:
        check_device(where, name)
    dtype = kwargs.pop("dtype", None)
    requires_grad = kwargs.pop("requires_grad", False)
    kwargs.pop("layout", None)
    kwargs.pop("pin_memory", None)
    if kwargs:
        raise TypeError(f"{name} got unexpected keyword arguments {sorted(kwargs)}")
    return dtype, requires_grad


def randperm(n: builtins.int, *, generator: Any = None, **kwargs: Any) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    dtype, requires_grad = _factory_options(kwargs, "randperm")
    values = resolve_generator(generator).permutation(builtins.int(n))
    return Tensor(values.astype(dtype or np.int64), requires_grad)


def randint(*args: Any, generator: Any = None, size: Any = None, **kwargs: Any) -> Tensor:
    """``randint(high, size)`` / ``randint(low, high, size)``: integers in [low, high)."""
    dtype, _ = _factory_options(kwargs, "randint")
    bounds = list(args)
    if size is None:
        *bounds, size = bounds
    if len(bounds) == 1:
        low, high = 0, bounds[0]
    elif len(bounds) == 2:
        low, high = bounds
    else:
        raise TypeError("randint expected (high, size) or (low, high, size)")
    values = resolve_generator(generator).integers(low, high, size=fn._shape_args((size,)))
    return Tensor(values.astype(dtype or np.int64))


def randn_like(x: Any, *, generator: Any = None, dtype: Any = None) -> Tensor:
    array = _as_array(x)
    return fn.randn(*array.shape, generator=generator, dtype=dtype or array.dtype)


def rand_like(x: Any, *, generator: Any = None, dtype: Any = None) -> Tensor:
    array = _as_array(x)
    return fn.rand(*array.shape, generator=generator, dtype=dtype or array.dtype)


def linspace(start: Any, end: Any, steps: builtins.int, **kwargs: Any) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    dtype, requires_grad = _factory_options(kwargs, "linspace")
    values = np.linspace(start, end, builtins.int(steps))
    return Tensor(values.astype(dtype or get_default_dtype()), requires_grad)


def eye(n: builtins.int, m: builtins.int | None = None, **kwargs: Any) -> Tensor:
    """The identity matrix (n × m)."""
    dtype, requires_grad = _factory_options(kwargs, "eye")
    return Tensor(np.eye(n, m, dtype=dtype or get_default_dtype()), requires_grad)


def empty(*shape: Any, **kwargs: Any) -> Tensor:
    """A tensor of ``shape`` (filled with zeros here: never uninitialized memory)."""
    dtype, requires_grad = _factory_options(kwargs, "empty")
    return Tensor(np.zeros(fn._shape_args(shape), dtype or get_default_dtype()), requires_grad)


def empty_like(x: Any, **kwargs: Any) -> Tensor:
    dtype, requires_grad = _factory_options(kwargs, "empty_like")
    return Tensor(np.zeros_like(_as_array(x), dtype=dtype), requires_grad)


def full_like(x: Any, fill_value: Any, **kwargs: Any) -> Tensor:
    """A tensor of ``x``'s shape and dtype (or ``dtype``) filled with ``fill_value``."""
    dtype, requires_grad = _factory_options(kwargs, "full_like")
    return Tensor(np.full_like(_as_array(x), fill_value, dtype=dtype), requires_grad)


def is_tensor(obj: Any) -> builtins.bool:
    return isinstance(obj, Tensor)


def numel(x: Any) -> builtins.int:
    return builtins.int(np.size(x.data if isinstance(x, Tensor) else x))


def is_floating_point(x: Any) -> builtins.bool:
    return np.dtype((x.data if isinstance(x, Tensor) else _as_array(x)).dtype).kind == "f"


# -- device= on the core factories ------------------------------------------------------
def _accepting_device(function: Any) -> Any:
    """``function`` that also takes PyTorch's ``device=`` (the CPU only)."""

    @functools.wraps(function)
    def wrapper(*args: Any, device: Any = None, **kwargs: Any) -> Any:
        if device is not None:
            check_device(device, function.__name__)
        return function(*args, **kwargs)

    return wrapper


tensor = _accepting_device(_tensor_module.tensor)
as_tensor = _accepting_device(_tensor_module.as_tensor)
zeros = _accepting_device(fn.zeros)
ones = _accepting_device(fn.ones)
full = _accepting_device(fn.full)
zeros_like = _accepting_device(fn.zeros_like)
ones_like = _accepting_device(fn.ones_like)
arange = _accepting_device(fn.arange)
randn = _accepting_device(fn.randn)
rand = _accepting_device(fn.rand)

# The names whose PyTorch meaning replaces the core one at the top level (``cr.max``
# with dim gives (values, indices); ``cr.div`` takes rounding_mode; factories take device).
OVERRIDES = {
    "max": max,
    "min": min,
    "div": tf.div,
    "round": tf.round,
    "tensor": tensor,
    "as_tensor": as_tensor,
    "zeros": zeros,
    "ones": ones,
    "full": full,
    "zeros_like": zeros_like,
    "ones_like": ones_like,
    "arange": arange,
    "randn": randn,
    "rand": rand,
}


# -- Tensor methods ------------------------------------------------------------------------
def to_arguments(
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    who: str,
    as_dtype: Callable[[Any], Any] = lambda value: value,
) -> Any:
    """The dtype a ``.to(...)`` call asks for (None: keep it), for Tensor.to and Module.to.

    Positional arguments are a device, a tensor (its dtype) or a dtype (through
    ``as_dtype``); keywords ``dtype=``, ``device=``, ``non_blocking=`` (ignored). An unknown
    keyword or a device other than the CPU raises, naming ``who``.
    """
    dtype = kwargs.pop("dtype", None)
    where = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"{who} got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif _is_device(arg):
            where = arg
        elif arg is not None:
            dtype = as_dtype(arg)
    if where is not None:
        check_device(where, who)
    return dtype


def _to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``t.to(device)``, ``t.to(dtype)``, ``t.to(device, dtype)``, ``t.to(other)``:
    self when nothing changes, else a differentiable converted copy. CPU only."""
    copy = kwargs.pop("copy", False)
    dtype = to_arguments(args, kwargs, "Tensor.to", lambda value: _dtype(value, "Tensor.to"))
    if dtype is not None and np.dtype(dtype) != self.dtype:
        if np.dtype(dtype).kind not in "fc":
            # Integer and bool results carry no gradient (PyTorch): no graph node.
            return Tensor(self.data.astype(dtype))
        return fn.astype(self, dtype)
    return _clone(self) if copy else self


def _clone(self: Tensor) -> Tensor:
    """A copy that stays in the graph (the gradient passes straight through)."""
    return elementwise.cast(self, dtype=self.dtype)


def _type(self: Tensor, dtype: Any = None) -> Any:
    if dtype is None:
        return f"chainrule.{self.dtype}"
    return _to(self, _dtype(dtype, "Tensor.type"))


def _size(self: Tensor, dim: Any = None) -> Any:
    if dim is None:
        return tuple(self.shape)
    return self.shape[fn._axes(self.data, None, dim, "size")] if self.ndim else 1


def _convert(dtype: Any):
    return lambda self: _to(self, dtype)


def _dim_method(function: Any):
    return lambda self, *args, **kwargs: function(self, *args, **kwargs)


def _div(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    return tf.div(self, other, rounding_mode=rounding_mode)


TENSOR_METHODS: dict[str, Any] = {
    "to": _to,
    "cpu": lambda self: self,
    "cuda": lambda self, *args, **kwargs: check_device("cuda", "Tensor.cuda"),
    "clone": _clone,
    "contiguous": lambda self, *args, **kwargs: self,
    "type": _type,
    "size": _size,
    "device": property(lambda self: CPU),
    "is_cuda": property(lambda self: False),
    "float": _convert(np.float32),
    "double": _convert(np.float64),
    "half": _convert(np.float16),
    "long": _convert(np.int64),
    "int": _convert(np.int32),
    "bool": _convert(np.bool_),
    "is_floating_point": is_floating_point,
    "add": lambda self, other: self + other,
    "sub": lambda self, other: self - other,
    "mul": lambda self, other: self * other,
    "div": _div,
    "neg": lambda self: -self,
    "__floordiv__": lambda self, other: tf.floor_divide(self, other),
    "__rfloordiv__": lambda self, other: tf.floor_divide(other, self),
    "__mod__": lambda self, other: tf.remainder(self, other),
    "__rmod__": lambda self, other: tf.remainder(other, self),
    "floor_divide": lambda self, other: tf.floor_divide(self, other),
    "remainder": lambda self, other: tf.remainder(self, other),
    "fmod": lambda self, other: tf.fmod(self, other),
    "round": lambda self, decimals=0: tf.round(self, decimals=decimals),
    "masked_fill": lambda self, mask, value: tf.masked_fill(self, mask, value),
    "repeat": lambda self, *sizes: tf.repeat(self, *sizes),
    "tile": lambda self, *dims: tf.tile(self, *dims),
    "isnan": lambda self: tf.isnan(self),
    "isinf": lambda self: tf.isinf(self),
    "isfinite": lambda self: tf.isfinite(self),
}
for _name in (
    "tan asin acos atan arcsin arccos arctan erf log2 log10 rsqrt sign floor ceil trunc fix"
).split():
    TENSOR_METHODS[_name] = (lambda f: lambda self: f(self))(getattr(tf, _name))
for _name in (
    "prod cumsum cumprod logaddexp gather scatter scatter_add flip roll tril triu split "
    "chunk sort topk argsort"
).split():
    TENSOR_METHODS[_name] = _dim_method(getattr(tf, _name))


def bind_tensor_methods() -> None:
    for name, method in TENSOR_METHODS.items():
        setattr(Tensor, name, method)


__all__ = [
    *DTYPE_NAMES,
    "Generator",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "backends",
    "cuda",
    "device",
    "empty",
    "empty_like",
    "eye",
    "full_like",
    "inference_mode",
    "is_floating_point",
    "is_tensor",
    "linspace",
    "manual_seed",
    "max",
    "min",
    "numel",
    "rand_like",
    "randint",
    "randn_like",
    "randperm",
    "seed",
]
