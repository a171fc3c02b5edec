"""Layer norm, group norm, embedding, padding, normalize, one-hot and KL divergence.

The normalizations share one identity: for x̂ = (x − μ)/σ over a group,
dx = (1/σ)(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ the gradient reaching x̂.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...autodiff import Tensor
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of
from .normalization import _per_channel


def _normalized(x: np.ndarray, axes: tuple[int, ...], eps: float):
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    return centered * inv_std, inv_std


def _normalized_grad(g_hat, x_hat, inv_std, axes):
    return inv_std * (
        g_hat
        - g_hat.mean(axis=axes, keepdims=True)
        - x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True)
    )


@defop("layer_norm", formula="dx = (1/σ)(ĝ − mean ĝ − x̂·mean(ĝx̂)), ĝ = g·w;  dw = Σ g·x̂;  db = Σ g")
def _layer_norm(x, weight, bias, *, k, eps):
    out, _ = _normalized(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out.astype(x.dtype, copy=False)


@_layer_norm.defvjp
def _layer_norm_vjp(g, out, x, weight, bias, *, k, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    x_hat, inv_std = _normalized(x, axes, eps)
    g_hat = g if weight is None else g * weight
    lead = tuple(range(x.ndim - k))
    grad_w = None if weight is None else (g * x_hat).sum(axis=lead)
    grad_b = None if bias is None else g.sum(axis=lead)
    return _normalized_grad(g_hat, x_hat, inv_std, axes), grad_w, grad_b


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift.

    Shapes: input (*, *normalized_shape); weight, bias normalized_shape -> input's shape.
    """
    dims = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    shape = tuple(shape_of(input))
    if not dims or shape[len(shape) - len(dims) :] != dims:
        raise ValueError(
            f"layer_norm expected input (*, {', '.join(map(str, dims))}), got shape {shape}"
        )
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and tuple(shape_of(value)) != dims:
            raise ValueError(f"layer_norm expected {name} {dims}, got {tuple(shape_of(value))}")
    return _layer_norm(input, weight, bias, k=len(dims), eps=float(eps))


@defop("group_norm", formula="per group: dx = (1/σ)(ĝ − mean ĝ − x̂·mean(ĝx̂));  dw = Σ g·x̂")
def _group_norm(x, weight, bias, *, groups, eps):
    grouped = x.reshape(x.shape[0], groups, -1)
    out, _ = _normalized(grouped, (2,), eps)
    out = out.reshape(x.shape)
    if weight is not None:
        out = out * _per_channel(weight, x.ndim)
    if bias is not None:
        out = out + _per_channel(bias, x.ndim)
    return out.astype(x.dtype, copy=False)


@_group_norm.defvjp
def _group_norm_vjp(g, out, x, weight, bias, *, groups, eps):
    grouped = x.reshape(x.shape[0], groups, -1)
    x_hat, inv_std = _normalized(grouped, (2,), eps)
    g_hat = g if weight is None else g * _per_channel(weight, x.ndim)
    grad_x = _normalized_grad(g_hat.reshape(grouped.shape), x_hat, inv_std, (2,))
    axes = (0, *range(2, x.ndim))
    x_hat = x_hat.reshape(x.shape)
    grad_w = None if weight is None else (g * x_hat).sum(axis=axes)
    grad_b = None if bias is None else g.sum(axis=axes)
    return grad_x.reshape(x.shape), grad_w, grad_b


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each sample's channel groups: input (N, C, *), weight/bias (C,)."""
    shape = tuple(shape_of(input))
    if len(shape) < 2 or num_groups < 1 or shape[1] % num_groups:
        raise ValueError(
            f"group_norm expected input (N, C, *) with C divisible by num_groups={num_groups}, "
            f"got shape {shape}"
        )
    return _group_norm(input, weight, bias, groups=int(num_groups), eps=float(eps))


@defop("embedding", formula="dW[i] = Σ g over the positions holding index i (none for padding_idx)")
def _embedding(weight, indices, *, padding_idx):
    return weight[indices]


@_embedding.defvjp
def _embedding_vjp(g, out, weight, indices, *, padding_idx):
    grad = np.zeros_like(weight, dtype=g.dtype)
    np.add.at(grad, indices.reshape(-1), g.reshape(-1, weight.shape[1]))
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad, None


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, **_: Any) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input`` (*) -> (*, dim)."""
    indices = np.asarray(input.data if isinstance(input, Tensor) else input)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding expected integer indices, got dtype {indices.dtype}")
    rows = shape_of(weight)[0]
    if indices.size and (indices.min() < -rows or indices.max() >= rows):
        raise IndexError(
            f"embedding expected indices in [0, {rows}), got values from "
            f"{indices.min()} to {indices.max()}"
        )
    if padding_idx is not None and padding_idx < 0:
        padding_idx += rows
    return _embedding(weight, indices.astype(np.int64), padding_idx=padding_idx)


@defop("pad", formula="da = g without the padding")
def _pad(a, *, widths, value):
    return np.pad(a, widths, constant_values=value)


@_pad.defvjp
def _pad_vjp(g, out, a, *, widths, value):
    return g[tuple(slice(lo, g.shape[d] - hi) for d, (lo, hi) in enumerate(widths))]


def _source_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each position of the padded axis, the input position it copies."""
    positions = np.arange(-lo, size + hi)
    if mode == "reflect":  # mirror without repeating the edge: -1 -> 1, size -> size - 2
        period = 2 * (size - 1)
        folded = np.abs(positions) % period if period else np.zeros_like(positions)
        return np.where(folded < size, folded, period - folded)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    return positions % size  # circular


@defop("pad_index", formula="da = g summed back onto the input position each padded one copies")
def _pad_index(a, *, indices):
    """``indices``: (axis, source positions) per padded axis (reflect/replicate/circular)."""
    for axis, index in indices:
        a = np.take(a, index, axis=axis)
    return a


@_pad_index.defvjp
def _pad_index_vjp(g, out, a, *, indices):
    for axis, index in reversed(indices):
        moved = np.moveaxis(g, axis, 0)
        summed = np.zeros((a.shape[axis], *moved.shape[1:]), dtype=g.dtype)
        np.add.at(summed, index, moved)  # edge positions are read more than once
        g = np.moveaxis(summed, 0, axis)
    return g


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last len(pad)/2 dims, PyTorch's order: (left, right) of the last dim, then
    the one before… ``mode``: 'constant' (``value``), 'reflect' (mirror, edge not
    repeated: pad < size), 'replicate' (the edge value), 'circular' (wrap: pad <= size)."""
    if mode not in _PAD_MODES:
        raise ValueError(f"pad expected mode one of {', '.join(_PAD_MODES)}, got {mode!r}")
    shape = tuple(shape_of(input))
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ValueError(f"pad expected an even number of at most {2 * len(shape)}, got {pad}")
    widths = [(0, 0)] * len(shape)
    for k in range(len(pad) // 2):
        lo, hi = int(pad[2 * k]), int(pad[2 * k + 1])
        if lo < 0 or hi < 0:
            raise NotImplementedError(f"pad supports non-negative padding only, got {tuple(pad)}")
        widths[len(shape) - 1 - k] = (lo, hi)
    if mode == "constant":
        return _pad(input, widths=tuple(widths), value=value)
    indices = []
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        size = shape[axis]
        limit = size - 1 if mode == "reflect" else size
        if max(lo, hi) > limit or size == 0:
            raise ValueError(
                f"pad mode={mode!r} expected padding at most {limit} for dim {axis} of size "
                f"{size}, got {(lo, hi)}"
            )
        indices.append((axis, _source_index(size, lo, hi, mode)))
    if not indices:
        return _pad(input, widths=tuple(widths), value=0.0)
    return _pad_index(input, indices=tuple(indices))


def _p_norm(x, p, dim):
    return (np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p)


@defop("normalize", formula="dx = g/d − x·Σ(g·x)·|x|^(p−2)/(d²·n^(p−1)), d = max(‖x‖ₚ, eps)")
def _normalize(x, *, p, dim, eps):
    return x / np.maximum(_p_norm(x, p, dim), eps)


@_normalize.defvjp
def _normalize_vjp(g, out, x, *, p, dim, eps):
    n = _p_norm(x, p, dim)
    d = np.maximum(n, eps)
    grad = g / d
    # dn/dx = sign(x)|x|^(p−1) / n^(p−1), only where the norm is above eps.
    safe_n = np.where(n > eps, n, 1)
    dn = np.sign(x) * np.abs(x) ** (p - 1) / safe_n ** (p - 1)
    along = (g * x).sum(axis=dim, keepdims=True) / (d * d)
    return grad - np.where(n > eps, along * dn, 0)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(‖x‖ₚ, eps) along ``dim``."""
    if p <= 0:
        raise ValueError(f"normalize expected p > 0, got {p}")
    return _normalize(input, p=float(p), dim=int(dim), eps=float(eps))


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer labels (*) -> int64 (*, num_classes); -1 infers max + 1. Not differentiable."""
    labels = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot expected integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"one_hot expected labels >= 0, got {labels.min()}")
    classes = int(labels.max()) + 1 if num_classes == -1 and labels.size else num_classes
    if classes < 0 or (labels.size and labels.max() >= classes):
        raise ValueError(f"one_hot expected labels < num_classes={classes}, got {labels.max()}")
    return Tensor((labels[..., None] == np.arange(classes)).astype(np.int64))


@defop("kl_div", formula="dinput = −t;  dt = log t + 1 − input  (log_target: eᵗ(t + 1 − input))")
def _kl_div(input, target, *, log_target):
    if log_target:
        return np.exp(target) * (target - input)
    safe = np.where(target > 0, target, 1)
    return np.where(target > 0, target * (np.log(safe) - input), 0)


@_kl_div.defvjp
def _kl_div_vjp(g, out, input, target, *, log_target):
    if log_target:
        e = np.exp(target)
        return -g * e, g * e * (target - input + 1)
    safe = np.where(target > 0, target, 1)
    grad_t = np.where(target > 0, g * (np.log(safe) + 1 - input), 0)
    return -g * target, grad_t


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL(target ‖ exp(input)) pointwise: t·(log t − input); ``input`` is log-probabilities.

    ``reduction``: 'mean' (over elements, PyTorch's default), 'batchmean' (sum / N,
    the true KL), 'sum' or 'none'.
    """
    if tuple(shape_of(input)) != tuple(shape_of(target)):
        raise ValueError(
            f"kl_div expected target of input's shape {tuple(shape_of(input))}, "
            f"got {tuple(shape_of(target))}"
        )
    pointwise = _kl_div(input, target, log_target=bool(log_target))
    if reduction == "none":
        return pointwise
    if reduction == "sum":
        return pointwise.sum()
    if reduction == "mean":
        return pointwise.mean()
    if reduction == "batchmean":
        batch = shape_of(input)[0] if len(shape_of(input)) else 1
        return pointwise.sum() / batch
    raise ValueError(
        f"kl_div expected reduction 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}"
    )
