"""RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .functional import rmsprop_step
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with torch.optim.RMSprop's arguments, defaults and update.

    State per parameter: ``step``, ``square_avg``, plus ``momentum_buffer`` when
    ``momentum > 0`` and ``grad_avg`` when ``centered``.
    """

    _has_step = True
    _kernel = staticmethod(rmsprop_step)
    _arrays = (("square_avg", None), ("grad_avg", "centered"), ("momentum_buffer", "momentum"))
    _floats = ("lr", "alpha", "eps", "weight_decay", "momentum")
    _flags = ("centered", "maximize")
    _nonnegative = ("lr", "eps", "momentum", "weight_decay", "alpha")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
        fused: bool | None = None,
    ) -> None:
        options = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps}
        options.update(centered=centered, weight_decay=weight_decay)
        super().__init__(params, {**options, "maximize": maximize, "fused": fused})
