"""More activation layers over ``nn.functional``: each keeps the input's shape.

``inplace`` is accepted for PyTorch compatibility; the input is never overwritten.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from .activation import _AlongDim, _FunctionLayer, _Pointwise
from .layers import _float_dtype
from .module import Module, Parameter


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


class LogSigmoid(_FunctionLayer):
    """log σ(x)."""

    _fn = staticmethod(F.logsigmoid)


class CELU(_FunctionLayer):
    """x for x > 0, alpha · (e^(x/alpha) − 1) otherwise."""

    _fn = staticmethod(F.celu)
    _config: ClassVar[dict[str, str] | None] = {"alpha": "float"}

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha=alpha, inplace=inplace)


class Hardtanh(_FunctionLayer):
    """x clipped to [min_val, max_val]."""

    _fn = staticmethod(F.hardtanh)
    _config: ClassVar[dict[str, str] | None] = {"min_val": "float", "max_val": "float"}

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        if min_val > max_val:
            raise ValueError(f"Hardtanh expected min_val <= max_val, got {min_val} > {max_val}")
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)


class Softmin(_AlongDim):
    """softmax(−x) along ``dim`` (None: the last dimension)."""

    _fn = staticmethod(F.softmin)


class PReLU(Module):
    """max(0, x) + a · min(0, x) with a learned slope ``weight`` (num_parameters,), all ``init``."""

    _config: ClassVar[dict[str, str] | None] = {"num_parameters": "size"}

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = int(num_parameters)
        dtype = _float_dtype("PReLU", dtype)
        self.weight = Parameter(np.full((self.num_parameters,), init, dtype=dtype))

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
