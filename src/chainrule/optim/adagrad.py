"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import adagrad_step
from .optimizer import Optimizer, _check_nonnegative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad with torch.optim.Adagrad's arguments, defaults and update.

    State per parameter: ``step`` and ``sum`` (the running sum of squared gradients,
    starting at ``initial_accumulator_value``). As in PyTorch the state exists from
    construction on, so ``state_dict()`` lists every parameter before the first step.
    """

    _has_step = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
            "fused": fused,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        _check_nonnegative(options["lr"], "learning rate")
        _check_nonnegative(options["lr_decay"], "lr_decay value")
        _check_nonnegative(options["weight_decay"], "weight_decay value")
        _check_nonnegative(options["initial_accumulator_value"], "initial_accumulator_value value")
        _check_nonnegative(options["eps"], "epsilon value")

    def _on_add_group(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if not self.state[p]:
                self.state[p].update(self._init_state(p, group))

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        value = float(group["initial_accumulator_value"])
        return {"step": 0, "sum": np.full_like(param.data, value)}

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        adagrad_step(
            param,
            grad,
            state["sum"],
            step=step,
            lr=float(group["lr"]),
            lr_decay=float(group["lr_decay"]),
            weight_decay=float(group["weight_decay"]),
            eps=float(group["eps"]),
            maximize=bool(group["maximize"]),
        )
