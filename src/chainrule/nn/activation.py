"""Activation layers: thin modules over the ops in ``nn.functional``.

Each keeps the input's shape (Softmax / LogSoftmax / Softmin normalize along ``dim``).
``inplace`` is accepted for PyTorch compatibility and shown in the repr; the
computation never overwrites its input.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from .layers import _float_dtype, _FunctionLayer
from .module import Module, Parameter


class _Pointwise(_FunctionLayer):
    """A layer whose only argument is ``inplace``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(inplace=inplace)


class _AlongDim(_FunctionLayer):
    """A layer that normalizes along ``dim``."""

    _config: ClassVar[dict[str, str] | None] = {"dim": "int_or_none"}

    def __init__(self, dim: int | None = None) -> None:
        super().__init__(dim=dim)


class ReLU(_Pointwise):
    """max(0, x)."""

    _fn = staticmethod(F.relu)


class LeakyReLU(_FunctionLayer):
    """max(0, x) + negative_slope · min(0, x)."""

    _fn = staticmethod(F.leaky_relu)
    _config: ClassVar[dict[str, str] | None] = {"negative_slope": "float"}

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(negative_slope=negative_slope, inplace=inplace)


class _WithAlpha(_FunctionLayer):
    """A layer with an ``alpha`` (ELU, CELU)."""

    _config: ClassVar[dict[str, str] | None] = {"alpha": "float"}

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha=alpha, inplace=inplace)


class ELU(_WithAlpha):
    """x for x > 0, alpha · (eˣ − 1) otherwise."""

    _fn = staticmethod(F.elu)


class GELU(_FunctionLayer):
    """x · Φ(x); ``approximate='tanh'`` for the tanh approximation."""

    _fn = staticmethod(F.gelu)
    _config: ClassVar[dict[str, str] | None] = {"approximate": "approximate"}

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU expected approximate='none' or 'tanh', got {approximate!r}")
        super().__init__(approximate=approximate)


class Sigmoid(_FunctionLayer):
    """1 / (1 + e^(−x))."""

    _fn = staticmethod(F.sigmoid)


class Tanh(_FunctionLayer):
    """tanh(x)."""

    _fn = staticmethod(F.tanh)


class Softplus(_FunctionLayer):
    """log(1 + e^(beta·x)) / beta, linear above ``threshold``."""

    _fn = staticmethod(F.softplus)
    _config: ClassVar[dict[str, str] | None] = {"beta": "float", "threshold": "float"}

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__(beta=beta, threshold=threshold)


class Softmax(_AlongDim):
    """exp(x) / Σ exp(x) along ``dim`` (None: the last dimension, chainrule's default)."""

    _fn = staticmethod(F.softmax)


class LogSoftmax(_AlongDim):
    """x − logsumexp(x) along ``dim`` (None: the last dimension)."""

    _fn = staticmethod(F.log_softmax)


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


class CELU(_WithAlpha):
    """x for x > 0, alpha · (e^(x/alpha) − 1) otherwise."""

    _fn = staticmethod(F.celu)


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
