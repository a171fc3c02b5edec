"""Loss modules: PyTorch's classes over the functional losses (same arguments, same results)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..autodiff import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    """A loss module: ``forward(input, target)`` is ``_fn(input, target, **options)``,
    the options being the constructor's arguments, kept as attributes of their names
    (set one later and the next call uses it, as in PyTorch)."""

    _fn: ClassVar[Callable[..., Tensor]]

    def __init__(self, reduction: str = "mean", **options: Any) -> None:
        super().__init__()
        self.reduction = reduction
        for name, value in options.items():
            setattr(self, name, value)
        self._options = ("reduction", *options)

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return type(self)._fn(
            input, target, **{name: getattr(self, name) for name in self._options}
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _Pointwise(_Loss):
    """A loss with no option but ``reduction``."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)


class MSELoss(_Pointwise):
    """Mean squared error (input, target of one shape)."""

    _fn = staticmethod(F.mse_loss)


class L1Loss(_Pointwise):
    """Mean absolute error."""

    _fn = staticmethod(F.l1_loss)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above (divided by beta)."""

    _fn = staticmethod(F.smooth_l1_loss)

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction, beta=beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, linear above."""

    _fn = staticmethod(F.huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction, delta=delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities."""

    _fn = staticmethod(F.binary_cross_entropy)

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction, weight=weight)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits (sigmoid inside, stable)."""

    _fn = staticmethod(F.binary_cross_entropy_with_logits)

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction, weight=weight, pos_weight=pos_weight)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against class indices or probabilities."""

    _fn = staticmethod(F.cross_entropy)

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        options = {"weight": weight, "ignore_index": ignore_index}
        super().__init__(reduction, **options, label_smoothing=label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (N, C) against class indices."""

    _fn = staticmethod(F.nll_loss)

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction, weight=weight, ignore_index=ignore_index)


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities ``input`` from ``target``."""

    _fn = staticmethod(F.kl_div)

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, log_target=log_target)
