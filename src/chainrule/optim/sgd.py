"""Stochastic gradient descent, with momentum and Nesterov momentum (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import sgd_step
from .optimizer import Optimizer, _check_nonnegative

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with torch.optim.SGD's arguments, defaults and update (see ``functional.sgd_step``).

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``; it starts
    as the first step's gradient).

    >>> opt = SGD(model.parameters(), lr=0.1, momentum=0.9)  # doctest: +SKIP
    """

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
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "fused": fused,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        _check_nonnegative(options["lr"], "learning rate")
        _check_nonnegative(options["momentum"], "momentum value")
        _check_nonnegative(options["weight_decay"], "weight_decay value")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        if group["momentum"] == 0 and group["weight_decay"] == 0 and not group["maximize"]:
            param -= grad * float(group["lr"])  # sgd_step's arithmetic, without the call
            return
        buf = sgd_step(param, grad, state.get("momentum_buffer"), **_options(group))
        if group["momentum"] != 0:
            state["momentum_buffer"] = buf

    def _step_group(self, group: Mapping[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        # The options are read once per group, then one plain call per parameter.
        options = _options(group)
        if options["momentum"] == 0:  # no state to read or keep
            state = self.state
            for p, _ in pairs:
                if p not in state:  # an (empty) entry, as torch's and every other path
                    state[p] = {}  # make: cr.compile packs the state by its entries
            if options["weight_decay"] == 0 and not options["maximize"]:
                lr = options["lr"]
                for p, grad in pairs:  # sgd_step's own arithmetic, without the call
                    p.data -= grad * lr
                return
            for p, grad in pairs:
                sgd_step(p.data, grad, None, **options)
            return
        state = self.state
        for p, grad in pairs:
            st = state[p]
            st["momentum_buffer"] = sgd_step(p.data, grad, st.get("momentum_buffer"), **options)


def _options(group: Mapping[str, Any]) -> dict[str, Any]:
    """``sgd_step``'s keyword arguments from a parameter group's options."""
    return {
        "lr": float(group["lr"]),
        "momentum": float(group["momentum"]),
        "dampening": float(group["dampening"]),
        "weight_decay": float(group["weight_decay"]),
        "nesterov": bool(group["nesterov"]),
        "maximize": bool(group["maximize"]),
    }
