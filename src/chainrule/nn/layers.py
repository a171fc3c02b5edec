"""Shape-level layers: Linear, Identity, Flatten; the base of layers that are one call of
``nn.functional`` (activations, pools)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor, get_default_dtype
from ..autodiff.functions import flatten
from . import functional as F
from . import init
from .module import Module, Parameter


def _check_size(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{layer} expected {name} to be an int >= 0, got {value!r}")
    return int(value)


def _set_sizes(module: Module, **sizes: Any) -> None:
    """Check each size (an int >= 0, else ValueError naming the layer) and keep it as
    the module's attribute of that name."""
    for name, value in sizes.items():
        setattr(module, name, _check_size(type(module).__name__, name, value))


def _float_dtype(layer: str, dtype: Any) -> np.dtype:
    resolved = get_default_dtype() if dtype is None else np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"{layer} expected a floating-point dtype, got {resolved}")
    return resolved


def _add_weight_and_bias(
    module: Module, shape: tuple[int, ...], dtype: np.dtype, bias: bool, generator: Any
) -> None:
    """Register ``weight`` of ``shape`` and ``bias`` of (shape[0],) (None without
    one), then draw them by the layer's ``reset_parameters`` (a subclass may override it,
    as in PyTorch)."""
    module.register_parameter("weight", Parameter(np.empty(shape, dtype=dtype)))
    module.register_parameter("bias", Parameter(np.empty(shape[:1], dtype=dtype)) if bias else None)
    module.reset_parameters(generator)


class _FunctionLayer(Module):
    """A layer that is one call of ``nn.functional``, without parameters.

    The constructor's arguments are kept as attributes of the same names;
    ``forward(x)`` is ``_fn(x, *arguments named in _args or _config)``, and the repr
    shows the config (and ``inplace=True`` when set). Subclasses declare ``_fn`` and
    ``_config``, and a constructor with the layer's signature that passes its
    arguments on by name.
    """

    _fn: ClassVar[Callable[..., Any]]
    _config: ClassVar[dict[str, str] | None] = {}
    # The attributes passed to ``_fn`` after the input; None: the ``_config`` names.
    _args: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, **options: Any) -> None:
        super().__init__()
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, input: Tensor) -> Any:
        names = self._config or () if self._args is None else self._args
        return type(self)._fn(input, *[getattr(self, name) for name in names])

    def extra_repr(self) -> str:
        parts = [
            f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
            for name, value in self.get_config().items()
        ]
        if getattr(self, "inplace", False):
            parts.append("inplace=True")
        return ", ".join(parts)


class Linear(Module):
    """The affine map y = x Wᵀ + b.

    Shapes: input (..., in_features) -> (..., out_features); weight
    (out_features, in_features); bias (out_features,).

    Initialized as PyTorch does: weight by ``kaiming_uniform_(a=√5)`` and bias
    uniformly, both on U(−1/√in_features, 1/√in_features). ``generator`` (a NumPy
    Generator or an int seed) makes the initialization reproducible; ``dtype``
    defaults to ``chainrule.get_default_dtype()``.
    """

    _config: ClassVar[dict[str, str] | None] = {
        "in_features": "size",
        "out_features": "size",
        "bias": "bool",
    }

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        _set_sizes(self, in_features=in_features, out_features=out_features)
        dtype = _float_dtype("Linear", dtype)
        _add_weight_and_bias(self, (self.out_features, self.in_features), dtype, bias, generator)

    def reset_parameters(self, generator: Any = None) -> None:
        """Draw fresh weights (and bias) with PyTorch's default scheme (``init._default_``)."""
        init._default_(self.weight, self.bias, generator)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input unchanged; arguments are accepted and ignored (as PyTorch)."""

    _config: ClassVar[dict[str, str] | None] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Flatten(Module):
    """Merge dimensions ``start_dim`` … ``end_dim``: (N, C, L) -> (N, C·L) by default."""

    _config: ClassVar[dict[str, str] | None] = {"start_dim": "int", "end_dim": "int"}

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
