"""Batch normalization as one op with a closed-form VJP.

Train mode normalizes each channel with the statistics of the batch and, as a side
effect of the forward, moves the running statistics towards them (PyTorch's rule:
the running variance takes the *unbiased* batch variance). Eval mode normalizes
with the running statistics, a fixed affine map of the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autodiff import Tensor
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of


def _channel_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2) for (N, C, L)."""
    return (0, *range(2, x.ndim))


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector shaped to broadcast against (N, C, *)."""
    return v.reshape((-1,) + (1,) * (ndim - 2))


def _batch_stats(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance, kept broadcastable against x."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    return mean, var


def _channel_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, *) -> (N·L, C): one row per value of each channel (for the MPI sums)."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _synced_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and biased variance (broadcastable against x) and the value count per
    channel over the *global* batch: every MPI rank's rows (synchronised batch norm)."""
    from ...distributed.batchnorm import sync_batch_stats

    mean, var, count = sync_batch_stats(_channel_rows(x))
    return _per_channel(mean, x.ndim), _per_channel(var, x.ndim), count


@defop(
    "batch_norm",
    formula=(
        "train: dx = (w/σ)(g − mean(g) − x̂·mean(g·x̂));  eval: dx = g·w/√(running_var + eps);  "
        "dw = Σ g·x̂;  db = Σ g"
    ),
)
def _batch_norm(
    x, weight, bias, running_mean, running_var, *, training, momentum, eps, counter=None,
    sync=False,
):  # fmt: skip
    axes = _channel_axes(x)
    if training:
        n = x.size // x.shape[1]
        if sync:
            mean, var, n = _synced_stats(x)
        else:
            mean, var = _batch_stats(x, axes)
        if counter is not None:
            # BatchNorm1d's count of batches, kept inside the op so that cr.compile's
            # replay counts too (and momentum=None reads the count at each batch).
            if momentum is None:
                momentum = 1.0 / float(counter + 1)
            counter += 1
        if running_mean is not None:
            # Written in PyTorch's order (momentum·new + (1 − momentum)·old) so that the
            # running statistics agree with it to the last bits.
            running_mean[...] = momentum * mean.ravel() + (1 - momentum) * running_mean
            running_var[...] = momentum * var.ravel() * (n / (n - 1)) + (1 - momentum) * running_var
    else:
        mean = _per_channel(running_mean, x.ndim)
        var = _per_channel(running_var, x.ndim)
    out = (x - mean) * (1 / np.sqrt(var + eps))
    if weight is not None:
        out *= _per_channel(weight, x.ndim)
    if bias is not None:
        out += _per_channel(bias, x.ndim)
    return out


@defop("running_stats_copy", formula="da = g")
def _running_stats_copy(a):
    """A copy of the running statistics, made as an op so that cr.compile replays it."""
    return np.array(a)


@_running_stats_copy.defvjp
def _running_stats_copy_vjp(g, out, a):
    return g


@_batch_norm.defvjp
def _batch_norm_vjp(
    g, out, x, weight, bias, running_mean, running_var, *, training, momentum, eps, counter=None,
    sync=False,
):  # fmt: skip
    axes = _channel_axes(x)
    if training and sync:
        return _synced_vjp(g, x, weight, bias, eps)
    if training:
        mean, var = _batch_stats(x, axes)  # recomputed: cheaper than keeping them alive
    else:
        mean = _per_channel(running_mean, x.ndim)
        var = _per_channel(running_var, x.ndim)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    scale = inv_std if weight is None else inv_std * _per_channel(weight, x.ndim)
    if training:
        # The batch statistics depend on every x: the mean and the x̂-projection of the
        # incoming gradient are removed per channel.
        grad_x = scale * (
            g
            - g.mean(axis=axes, keepdims=True)
            - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
        )
    else:
        grad_x = g * scale
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_x, grad_w, grad_b, None, None


def _synced_vjp(g, x, weight, bias, eps):
    """The training VJP with the statistics of the global batch: the means of g and
    g·x̂ are over every rank's rows (``sync_batch_norm_backward_sums``); ∂L/∂w and ∂L/∂b
    stay this rank's sums, which the gradient Allreduce adds up."""
    from ...distributed.batchnorm import sync_batch_norm_backward_sums

    axes = _channel_axes(x)
    mean, var, count = _synced_stats(x)  # recomputed, as above (two small Allreduces)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    scale = inv_std if weight is None else inv_std * _per_channel(weight, x.ndim)
    sum_g, sum_gx = sync_batch_norm_backward_sums(_channel_rows(g), _channel_rows(x_hat))
    grad_x = scale * (
        g - _per_channel(sum_g / count, x.ndim) - x_hat * _per_channel(sum_gx / count, x.ndim)
    )
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_x, grad_w, grad_b, None, None


def _array(value: Any) -> np.ndarray | None:
    return value.data if isinstance(value, Tensor) else value


def batch_norm(
    input: Tensor,
    running_mean: Tensor | np.ndarray | None,
    running_var: Tensor | np.ndarray | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    *,
    _counter: np.ndarray | None = None,
    _sync: bool = False,
) -> Tensor:
    """Normalize each channel to zero mean and unit variance, then scale and shift.

    Shapes: input (N, C) or (N, C, L) (any (N, C, *) works); running_mean,
    running_var, weight and bias (C,). Returns input's shape.

    ``training=True`` uses the batch's mean and biased variance, and updates
    ``running_mean``/``running_var`` in place (when given) with
    ``new = momentum · batch + (1 − momentum) · old``, the variance unbiased.
    ``training=False`` uses the running statistics. As ``torch.nn.functional.batch_norm``.
    ``_sync`` (``BatchNorm1d.sync_stats``, set by distributed training): the batch
    statistics are those of every MPI rank's rows together (synchronised batch norm).
    """
    shape = shape_of(input)
    if len(shape) < 2:
        raise ValueError(f"batch_norm expected input (N, C) or (N, C, L), got shape {shape}")
    channels = shape[1]
    for name, value in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if value is not None and shape_of(value) != (channels,):
            raise ValueError(
                f"batch_norm expected {name} ({channels},) for input {shape}, "
                f"got shape {shape_of(value)}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm expected running_mean and running_var both given or both None")
    if training:
        per_channel = int(np.prod(shape)) // channels if channels else 0
        if per_channel <= 1 and not _sync:  # synced: sync_batch_stats counts all ranks
            raise ValueError(
                f"batch_norm expected more than 1 value per channel when training, "
                f"got input of shape {shape}"
            )
        running = (_array(running_mean), _array(running_var))
    else:
        if running_mean is None:
            raise ValueError(
                "batch_norm in eval mode (training=False) needs running_mean and running_var"
            )
        # Copies: the VJP reads them later, and a training step in between would move them.
        running = (
            _running_stats_copy(_array(running_mean)).data,
            _running_stats_copy(_array(running_var)).data,
        )
    return _batch_norm(
        input,
        weight,
        bias,
        *running,
        training=bool(training),
        momentum=None if momentum is None else float(momentum),
        eps=float(eps),
        counter=_counter,
        sync=bool(_sync and training),
    )
