"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

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
    _kernel = staticmethod(adam_step)
    _arrays = (("exp_avg", None), ("exp_avg_sq", None), ("max_exp_avg_sq", "amsgrad"))
    _floats = ("lr", "eps", "weight_decay")
    _flags = ("amsgrad", "maximize")
    _nonnegative = ("lr", "eps")

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
        options = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        self._validate(options)
        options.update(betas=(float(betas[0]), float(betas[1])), amsgrad=amsgrad)
        options.update(maximize=maximize, fused=fused)
        super().__init__(params, {**options, "decoupled_weight_decay": decoupled_weight_decay})

    @classmethod
    def _validate(cls, options: Mapping[str, Any]) -> None:
        super()._validate(options)
        betas = options["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {index}: {beta}")
        _check_nonnegative(options["weight_decay"], "weight_decay")  # after betas, as torch

    def _kernel_options(self, group: Mapping[str, Any]) -> dict[str, Any]:
        options = super()._kernel_options(group)
        beta1, beta2 = group["betas"]
        options.update(beta1=float(beta1), beta2=float(beta2))
        options["decoupled"] = bool(group["decoupled_weight_decay"])
        return options


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
