"""RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import rmsprop_step
from .optimizer import Optimizer, _check_nonnegative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with torch.optim.RMSprop's arguments, defaults and update.

    State per parameter: ``step``, ``square_avg``, plus ``momentum_buffer`` when
    ``momentum > 0`` and ``grad_avg`` when ``centered``.
    """

    _has_step = True

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
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "fused": fused,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        _check_nonnegative(options["lr"], "learning rate")
        _check_nonnegative(options["eps"], "epsilon value")
        _check_nonnegative(options["momentum"], "momentum value")
        _check_nonnegative(options["weight_decay"], "weight_decay value")
        _check_nonnegative(options["alpha"], "alpha value")

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": np.zeros_like(param.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param.data)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param.data)
        return state

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        momentum = float(group["momentum"])
        centered = bool(group["centered"])
        # a schedule (OneCycleLR) or the user may switch these on after the first step
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param)
        rmsprop_step(
            param,
            grad,
            state["square_avg"],
            state.get("grad_avg"),
            state.get("momentum_buffer"),
            lr=float(group["lr"]),
            alpha=float(group["alpha"]),
            eps=float(group["eps"]),
            weight_decay=float(group["weight_decay"]),
            momentum=momentum,
            centered=centered,
            maximize=bool(group["maximize"]),
        )
