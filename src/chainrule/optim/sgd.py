"""Stochastic gradient descent, with momentum and Nesterov momentum (torch.optim.SGD)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from operator import itemgetter
from typing import Any

import numpy as np

from .functional import sgd_step
from .optimizer import Optimizer

__all__ = ["SGD"]

# The options of a group that decide whether its step is the plain ``p -= lr * grad``.
_plain_options = itemgetter("lr", "momentum", "weight_decay", "maximize")


def _as_scalar(value: float, dtype: np.dtype) -> Any:
    """``value`` as a 0-d array of a float ``dtype`` (else as it is): a ufunc takes it in
    half the time of a Python float, with the same bits, since NumPy rounds a Python
    float to the array's dtype first (NEP 50)."""
    return np.array(value, dtype) if dtype.kind == "f" else value


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

    def _loop_step(self, index: int, group: dict[str, Any]) -> None:
        # Only the options that choose the plain update are read here (as _kernel_options
        # reads them): building all of them costs more than a small model's update.
        lr, momentum, weight_decay, maximize = _plain_options(group)
        if float(momentum) != 0 or float(weight_decay) != 0 or bool(maximize):
            super()._loop_step(index, group)
            return
        # plain SGD, the most common step: no state, no call per parameter
        params = group["params"]
        pairs = []  # every gradient checked first: a bad one leaves no parameter updated
        for p in params:
            grad = p.grad
            if grad is not None:
                if grad.shape != p.data.shape:
                    self._check_grads(index, params)  # raises, naming the parameter
                pairs.append((p, grad))
        state, lr = self.state, float(lr)
        dtype = scale = None
        for p, grad in pairs:
            if p not in state:  # an (empty) entry, as torch makes: compile packs by them
                state[p] = {}
            if grad.dtype is not dtype:
                dtype = grad.dtype
                scale = _as_scalar(lr, dtype)
            p.data -= grad * scale  # sgd_step's own arithmetic, without the call

    def _apply(
        self,
        options: dict[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        if options["momentum"] != 0:  # sgd_step returns the buffer (new on the first step)
            buf = state.get("momentum_buffer")
            state["momentum_buffer"] = sgd_step(param, grad, buf, **options)
        elif options["weight_decay"] == 0 and not options["maximize"]:
            param -= grad * options["lr"]  # sgd_step's own arithmetic, without the call
        else:
            sgd_step(param, grad, None, **options)
