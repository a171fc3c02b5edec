"""Adadelta (torch.optim.Adadelta)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .functional import adadelta_step
from .optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta with torch.optim.Adadelta's arguments, defaults and update.

    State per parameter: ``step``, ``square_avg`` (of gradients) and ``acc_delta``
    (of updates).
    """

    _has_step = True
    _kernel = staticmethod(adadelta_step)
    _arrays = (("square_avg", None), ("acc_delta", None))
    _floats = ("lr", "rho", "eps", "weight_decay")
    _flags = ("maximize",)
    _nonnegative = ("lr", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
        fused: bool | None = None,
    ) -> None:
        options = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, {**options, "maximize": maximize, "fused": fused})

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        if not 0.0 <= options["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {options['rho']}")
        super()._validate(options)
