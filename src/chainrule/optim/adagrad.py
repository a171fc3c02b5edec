"""Adagrad (torch.optim.Adagrad)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import adagrad_step
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad with torch.optim.Adagrad's arguments, defaults and update.

    State per parameter: ``step`` and ``sum`` (the running sum of squared gradients,
    starting at ``initial_accumulator_value``). As in PyTorch the state exists from
    construction on, so ``state_dict()`` lists every parameter before the first step.
    """

    _has_step = True
    _kernel = staticmethod(adagrad_step)
    _arrays = (("sum", None),)
    _floats = ("lr", "lr_decay", "weight_decay", "eps")
    _flags = ("maximize",)
    _nonnegative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

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
        options = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay}
        options["initial_accumulator_value"] = initial_accumulator_value
        super().__init__(params, {**options, "maximize": maximize, "fused": fused})

    def _on_add_group(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            if not self.state[p]:
                self.state[p].update(self._init_state(p, group))

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        value = float(group["initial_accumulator_value"])
        return {"step": 0, "sum": np.full_like(param.data, value)}
