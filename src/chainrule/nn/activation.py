"""Activation layers: thin modules over the ops in ``nn.functional``.

Each keeps the input's shape (Softmax / LogSoftmax normalize along ``dim``).
``inplace`` is accepted for PyTorch compatibility and shown in the repr; the
computation never overwrites its input.
"""

from __future__ import annotations

from typing import ClassVar

from . import functional as F
from .layers import _FunctionLayer


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


class ELU(_FunctionLayer):
    """x for x > 0, alpha · (eˣ − 1) otherwise."""

    _fn = staticmethod(F.elu)
    _config: ClassVar[dict[str, str] | None] = {"alpha": "float"}

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha=alpha, inplace=inplace)


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
