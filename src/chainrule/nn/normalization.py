"""Batch normalization layer with PyTorch's train/eval semantics."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from .layers import _float_dtype, _set_sizes
from .module import Module, Parameter


def add_affine(
    module: Module, shape: tuple[int, ...], dtype: np.dtype, affine: bool, bias: bool = True
) -> None:
    """Register a normalization layer's ``weight`` (ones) and ``bias`` (zeros) of
    ``shape``, or None for each that ``affine`` / ``bias`` switch off."""
    weight = Parameter(np.ones(shape, dtype=dtype)) if affine else None
    module.register_parameter("weight", weight)
    shift = Parameter(np.zeros(shape, dtype=dtype)) if affine and bias else None
    module.register_parameter("bias", shift)


class BatchNorm1d(Module):
    """Normalize each of ``num_features`` channels over the batch, then scale and shift.

    Shapes: input (N, C) or (N, C, L) with C = num_features -> the same shape.

    Training: each channel uses the batch mean and *biased* variance, and the running
    statistics move towards the batch's (the variance *unbiased*):
    ``running = (1 − momentum) · running + momentum · batch``; ``momentum=None`` gives
    the cumulative average over all batches seen (``num_batches_tracked`` counts them).
    Eval: the running statistics are used. With ``track_running_stats=False`` batch
    statistics are used in both modes. ``affine`` adds a learned weight (ones) and
    bias (zeros); ``bias=False`` keeps only the weight (PyTorch 2.13's keyword). ``dtype``
    defaults to ``chainrule.get_default_dtype()``.

    ``sync_stats`` (False; the ``Trainer`` sets it while training over MPI): in training
    the batch statistics are those of the *global* batch, every rank's rows together
    (synchronised batch norm, as ``torch.nn.SyncBatchNorm``), so that N processes train
    the model one process would with the same global batch.
    """

    _config: ClassVar[dict[str, str] | None] = {
        "num_features": "size",
        "eps": "float",
        "momentum": "float_or_none",
        "affine": "bool",
        "track_running_stats": "bool",
        "bias": "bool",
    }

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        _set_sizes(self, num_features=num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = _float_dtype(type(self).__name__, dtype)
        self.sync_stats = False
        add_affine(self, (self.num_features,), dtype, affine, bias)
        track, n = track_running_stats, self.num_features
        self.register_buffer("running_mean", np.zeros(n, dtype=dtype) if track else None)
        self.register_buffer("running_var", np.ones(n, dtype=dtype) if track else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64) if track else None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen (in place)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape if isinstance(input, Tensor) else np.shape(input)
        if len(shape) not in (2, 3) or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d expected input (N, {self.num_features}) or "
                f"(N, {self.num_features}, L), got shape {tuple(shape)}"
            )
        counting = self.training and self.track_running_stats
        # Batch statistics while training, and also in eval when no running ones are kept.
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        # The count (and momentum=None's 1/k weight read from it) lives in the op, so
        # that a compiled step counts its batches as eager calls do.
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            self.momentum if counting else 0.0,
            self.eps,
            _counter=self.num_batches_tracked.data if counting else None,
            _sync=self.training and getattr(self, "sync_stats", False),
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )
