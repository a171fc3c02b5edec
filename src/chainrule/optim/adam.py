"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

import numpy as np

from ..autodiff import Tensor
from .functional import _effective_grad, adam_scalars, adam_step, adam_update
from .optimizer import Optimizer, _check_nonnegative

# A group's options as ``_kernel_options`` reads them, in one call.
_options = itemgetter(
    "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "decoupled_weight_decay"
)

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
        # One scratch array per parameter, reused by every step (not state: not saved).
        self._scratch: dict[Tensor, np.ndarray] = {}
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

    def _step_group(self, group: Mapping[str, Any], pairs: list[tuple[Tensor, np.ndarray]]) -> None:
        """``adam_step`` for each parameter, its per-step numbers made once per step
        and dtype, the scratch array kept: the per-parameter loop's own cost is most of
        a small layer's update. The same calls in the same order: the same bits."""
        cls = type(self)
        if cls._apply is not Optimizer._apply or cls._update is not Optimizer._update:
            super()._step_group(group, pairs)  # a subclass with its own maths
            return
        lr, (beta1, beta2), eps, weight_decay, amsgrad, maximize, decoupled = _options(group)
        lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
        weight_decay, amsgrad = float(weight_decay), bool(amsgrad)
        maximize, decoupled = bool(maximize), bool(decoupled) and weight_decay != 0
        plain = weight_decay == 0 and not maximize
        state, scratch = self.state, self._scratch
        made_for: tuple | None = None  # the (step, dtype) of ``scalars``
        scalars: tuple = ()
        ndarray = np.ndarray
        for p, grad in pairs:
            st = state[p]
            if not st:
                st.update(self._init_state(p, group))
            step = st["step"] = st["step"] + 1
            data = p.data
            exp_avg, exp_avg_sq = st.get("exp_avg"), st.get("exp_avg_sq")
            max_sq = None
            if amsgrad:
                max_sq = st.get("max_exp_avg_sq")
                if max_sq is None:  # amsgrad switched on after the first step
                    max_sq = st["max_exp_avg_sq"] = np.zeros_like(data)
            if exp_avg.__class__ is not ndarray or exp_avg_sq.__class__ is not ndarray:
                self._apply(self._kernel_options(group), data, grad, st, step)
                continue  # state set by hand: adam_step's own checks and conversions
            if decoupled:
                data *= 1 - lr * weight_decay
                g = grad if not maximize else _effective_grad(grad, data, 0, True)[0]
            else:
                g = grad if plain else _effective_grad(grad, data, weight_decay, maximize)[0]
            dtype = exp_avg.dtype
            if made_for is None or made_for[0] != step or made_for[1] is not dtype:
                made_for = (step, dtype)
                scalars = adam_scalars(step, lr=lr, beta1=beta1, beta2=beta2, eps=eps, dtype=dtype)
            tmp = scratch.get(p)
            if tmp is None or tmp.shape != exp_avg.shape or tmp.dtype is not dtype:
                tmp = scratch[p] = np.empty_like(exp_avg)
            adam_update(data, g, exp_avg, exp_avg_sq, max_sq, tmp, scalars)


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
