"""Adadelta (torch.optim.Adadelta)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import adadelta_step
from .optimizer import Optimizer, _check_nonnegative

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta with torch.optim.Adadelta's arguments, defaults and update.

    State per parameter: ``step``, ``square_avg`` (of gradients) and ``acc_delta``
    (of updates).
    """

    _has_step = True

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
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "fused": fused,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        _check_nonnegative(options["lr"], "learning rate")
        if not 0.0 <= options["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {options['rho']}")
        _check_nonnegative(options["eps"], "epsilon value")
        _check_nonnegative(options["weight_decay"], "weight_decay value")

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "step": 0,
            "square_avg": np.zeros_like(param.data),
            "acc_delta": np.zeros_like(param.data),
        }

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        adadelta_step(
            param,
            grad,
            state["square_avg"],
            state["acc_delta"],
            lr=float(group["lr"]),
            rho=float(group["rho"]),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            maximize=bool(group["maximize"]),
        )
