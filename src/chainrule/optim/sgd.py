"""Stochastic gradient descent, with momentum and Nesterov momentum (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from .functional import sgd_step
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with torch.optim.SGD's arguments, defaults and update (see ``functional.sgd_step``).

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``; it starts
    as the first step's gradient).

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)  # doctest: +SKIP
    """

    _floats = ("lr", "momentum", "dampening", "weight_decay")
    _flags = ("nesterov", "maximize")
    _nonnegative = ("lr", "momentum", "weight_decay")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        fused: bool | None = None,
    ) -> None:
        options = {"lr": lr, "momentum": momentum, "dampening": dampening}
        options.update(weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, {**options, "maximize": maximize, "fused": fused})

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        super()._validate(options)
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _run_kernel(
        self,
        options: dict[str, Any],
        updates: list[tuple[np.ndarray, np.ndarray, MutableMapping[str, Any], int]],
    ) -> None:
        # sgd_step returns the momentum buffer (a new array on the first step)
        if options["momentum"] != 0:
            for param, grad, state, _ in updates:
                buf = state.get("momentum_buffer")
                state["momentum_buffer"] = sgd_step(param, grad, buf, **options)
        elif options["weight_decay"] == 0 and not options["maximize"]:
            lr = options["lr"]
            for param, grad, _, _ in updates:  # sgd_step's own arithmetic, without the call
                param -= grad * lr
        else:
            for param, grad, _, _ in updates:
                sgd_step(param, grad, None, **options)
