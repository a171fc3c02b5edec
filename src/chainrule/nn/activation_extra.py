"""More activation layers over ``nn.functional``: each keeps the input's shape.

``inplace`` is accepted for PyTorch compatibility; the input is never overwritten.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from .layers import _float_dtype
from .module import Module, Parameter


class _Pointwise(Module):
    _fn: Any = None

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_Pointwise):
    """x · σ(x)."""

    _fn = staticmethod(F.silu)


class Mish(_Pointwise):
    """x · tanh(softplus(x))."""

    _fn = staticmethod(F.mish)


class SELU(_Pointwise):
    """scale · ELU(x, alpha) with PyTorch's fixed constants."""

    _fn = staticmethod(F.selu)


class ReLU6(_Pointwise):
    """min(max(0, x), 6)."""

    _fn = staticmethod(F.relu6)


class Hardsigmoid(_Pointwise):
    """clip(x/6 + 1/2, 0, 1)."""

    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Pointwise):
    """x · clip(x + 3, 0, 6)/6."""

    _fn = staticmethod(F.hardswish)


class LogSigmoid(Module):
    """log σ(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class CELU(Module):
    """x for x > 0, alpha · (e^(x/alpha) − 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Hardtanh(Module):
    """x clipped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh expected min_val <= max_val, got {min_val} > {max_val}")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softmin(Module):
    """softmax(−x) along ``dim`` (None: the last dimension)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """max(0, x) + a · min(0, x) with a learned slope ``weight`` (num_parameters,), all ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = int(num_parameters)
        dtype = _float_dtype("PReLU", dtype)
        self.weight = Parameter(np.full((self.num_parameters,), init, dtype=dtype))

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
