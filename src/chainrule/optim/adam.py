"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import adam_step
from .optimizer import Optimizer, _check_nonnegative

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam with torch.optim.Adam's arguments, defaults and update.

    ``weight_decay`` is an L2 term added to the gradient; ``decoupled_weight_decay=True``
    (or :class:`AdamW`) shrinks the weights directly instead. State per parameter:
    ``step``, ``exp_avg``, ``exp_avg_sq``, plus ``max_exp_avg_sq`` when ``amsgrad``.
    """

    _has_step = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        fused: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        self._validate(defaults)
        defaults["betas"] = (float(betas[0]), float(betas[1]))
        super().__init__(params, defaults)

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        _check_nonnegative(options["lr"], "learning rate")
        _check_nonnegative(options["eps"], "epsilon value")
        betas = options["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        _check_nonnegative(options["weight_decay"], "weight_decay value")

    def _init_state(self, param: Tensor, group: Mapping[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": 0,
            "exp_avg": np.zeros_like(param.data),
            "exp_avg_sq": np.zeros_like(param.data),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param.data)
        return state

    def _update(
        self,
        group: Mapping[str, Any],
        param: np.ndarray,
        grad: np.ndarray,
        state: MutableMapping[str, Any],
        step: int,
    ) -> None:
        options = _options(group)
        if options["amsgrad"] and "max_exp_avg_sq" not in state:  # switched on mid-run
            state["max_exp_avg_sq"] = np.zeros_like(param)
        _adam(param, grad, state, step, options)

    def _step_group(self, group: Mapping[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        # The options are read once per group, then one plain call per parameter.
        options = _options(group)
        amsgrad = options["amsgrad"]
        state = self.state
        for p, grad in pairs:
            st = state[p]
            if not st:
                st.update(self._init_state(p, group))
            if amsgrad and "max_exp_avg_sq" not in st:  # switched on mid-run
                st["max_exp_avg_sq"] = np.zeros_like(p.data)
            st["step"] = step = st["step"] + 1
            _adam(p.data, grad, st, step, options)


def _options(group: Mapping[str, Any]) -> dict[str, Any]:
    """``adam_step``'s keyword arguments (but ``step``) from a parameter group's options."""
    beta1, beta2 = group["betas"]
    return {
        "lr": float(group["lr"]),
        "beta1": float(beta1),
        "beta2": float(beta2),
        "eps": float(group["eps"]),
        "weight_decay": float(group["weight_decay"]),
        "amsgrad": bool(group["amsgrad"]),
        "maximize": bool(group["maximize"]),
        "decoupled": bool(group["decoupled_weight_decay"]),
    }


def _adam(
    param: np.ndarray,
    grad: np.ndarray,
    state: MutableMapping[str, Any],
    step: int,
    options: dict[str, Any],
) -> None:
    adam_step(
        param,
        grad,
        state["exp_avg"],
        state["exp_avg_sq"],
        state.get("max_exp_avg_sq"),
        step=step,
        **options,
    )


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, ``θ ← θ·(1 − lr·weight_decay)`` each step.

    torch.optim.AdamW's arguments and defaults (note ``weight_decay=1e-2``).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            fused=fused,
        )
