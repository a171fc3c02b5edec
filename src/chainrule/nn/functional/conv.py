"""Convolution as two ops: ``im2col`` (the windows, copied once) and ``conv2d`` (one GEMM).

Inside, images are channels-last (N, H, W, C): a window offset then reads and writes
runs of W·C contiguous values instead of W, which on small images is what decides
the speed, and the GEMM's (N·Ho·Wo, O) result turns into NCHW by a cheap per-sample
transpose. ``im2col`` gives (N, Ho, Wo, G, kh, kw, C/G); ``conv2d`` multiplies it by
the weight. The columns stay on the graph, so the weight gradient reuses them instead
of rebuilding them; the column gradient goes back through ``im2col``'s VJP (col2im:
kh·kw strided adds). ``conv1d`` runs the same ops on a height-1 image.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...autodiff import Tensor
from ...autodiff.functions import reshape
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of

Pads = tuple[tuple[int, int], tuple[int, int]]


def _pair(value: Any, name: str, fn: str) -> tuple[int, int]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{fn} expected {name} an int or a pair of ints, got {value!r}")
    return int(values[0]), int(values[1])


def _out_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def window_view(x: np.ndarray, kernel: tuple[int, int], stride, dilation) -> np.ndarray:
    """Windows of a padded (N, C, H, W) image as a view (N, C, Ho, Wo, kh, kw), no copy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = sliding_window_view(x, span, axis=(2, 3))
    return windows[:, :, ::sh, ::sw, ::dh, ::dw]


def _pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    if pads == ((0, 0), (0, 0)):
        return x
    (top, bottom), (left, right) = pads
    n, c, h, w = x.shape
    # One fill and one copy: np.pad's generality costs more than the copy on small images.
    padded = np.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    padded[:, :, top : top + h, left : left + w] = x
    return padded


def _unpad(grad: np.ndarray, pads: Pads) -> np.ndarray:
    (top, bottom), (left, right) = pads
    return grad[:, :, top : grad.shape[2] - bottom, left : grad.shape[3] - right]


def _offset_slices(i: int, j: int, out_hw, stride, dilation) -> tuple[slice, slice]:
    """The rows and columns that kernel offset (i, j) reads for every output pixel."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return (
        slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
        slice(j * dw, j * dw + sw * (wo - 1) + 1, sw),
    )


def _geometry(x_shape, kernel, pads, stride, dilation):
    n, c, h, w = x_shape
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    ho = _out_size(hp, kernel[0], stride[0], dilation[0])
    wo = _out_size(wp, kernel[1], stride[1], dilation[1])
    return n, c, (hp, wp), (ho, wo)


@defop("im2col", formula="dx = col2im(g): each window's gradient added back where it was read")
def _im2col(x, *, kernel, pads, stride, dilation, groups):
    """(N, C, H, W) -> the zero-padded windows (N, Ho, Wo, G, kh, kw, C/G), channels last."""
    n, c, (hp, wp), (ho, wo) = _geometry(x.shape, kernel, pads, stride, dilation)
    (top, _), (left, _) = pads
    padded = np.zeros((n, hp, wp, c), dtype=x.dtype)
    padded[:, top : top + x.shape[2], left : left + x.shape[3]] = x.transpose(0, 2, 3, 1)
    kh, kw = kernel
    cols = np.empty((n, ho, wo, groups, kh, kw, c // groups), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset_slices(i, j, (ho, wo), stride, dilation)
            window = padded[:, rows, columns]
            cols[:, :, :, :, i, j] = window.reshape(n, ho, wo, groups, c // groups)
    return cols


@_im2col.defvjp
def _im2col_vjp(g, out, x, *, kernel, pads, stride, dilation, groups):
    n, c, (hp, wp), (ho, wo) = _geometry(x.shape, kernel, pads, stride, dilation)
    grad = np.zeros((n, hp, wp, groups, c // groups), dtype=g.dtype)
    for i in range(kernel[0]):  # kh·kw strided adds: no scatter with repeated indices
        for j in range(kernel[1]):
            rows, columns = _offset_slices(i, j, (ho, wo), stride, dilation)
            grad[:, rows, columns] += g[:, :, :, :, i, j]
    (top, _), (left, _) = pads
    inner = grad[:, top : top + x.shape[2], left : left + x.shape[3]]
    return np.ascontiguousarray(inner.reshape(n, x.shape[2], x.shape[3], c).transpose(0, 3, 1, 2))


def _weight_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/G, kh, kw) -> (G, kh·kw·C/G, O/G): the columns' order, one matrix per group."""
    o, cg, kh, kw = weight.shape
    per_group = weight.reshape(groups, o // groups, cg, kh, kw)
    return per_group.transpose(0, 3, 4, 2, 1).reshape(groups, kh * kw * cg, o // groups)


@defop("conv2d", formula="out = cols·Wᵀ + b;  dW = gᵀ·cols;  dcols = g·W;  db = Σ g")
def _conv2d(cols, weight, bias):
    """cols (N, Ho, Wo, G, kh, kw, C/G) from ``im2col``, weight (O, C/G, kh, kw)
    -> (N, O, Ho, Wo)."""
    n, ho, wo, groups = cols.shape[:4]
    o = weight.shape[0]
    og = o // groups
    rows = cols.reshape(n * ho * wo, groups, -1)
    w = _weight_matrix(weight, groups)
    out = np.empty((n, o, ho, wo), dtype=np.result_type(cols, weight))
    for k in range(groups):
        # Per sample, (Ho·Wo, O/G) -> (O/G, Ho, Wo): a transpose of small blocks, cache-friendly.
        product = rows[:, k].dot(w[k]).reshape(n, ho, wo, og).transpose(0, 3, 1, 2)
        target = out[:, k * og : (k + 1) * og]
        if bias is None:
            np.copyto(target, product)
        else:  # the bias rides on the transposing copy
            np.add(product, bias[k * og : (k + 1) * og, None, None], out=target)
    return out


@_conv2d.defvjp
def _conv2d_vjp(g, out, cols, weight, bias, *, needs=(0, 1, 2)):
    n, ho, wo, groups = cols.shape[:4]
    o = weight.shape[0]
    og = o // groups
    g_rows = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(n * ho * wo, o)
    rows = cols.reshape(n * ho * wo, groups, -1)
    grad_cols = grad_w = grad_b = None
    if 1 in needs:
        _, cg, kh, kw = weight.shape
        grad_w = np.empty(weight.shape, dtype=g.dtype)
        for k in range(groups):
            block = g_rows[:, k * og : (k + 1) * og].T.dot(rows[:, k])
            grad_w[k * og : (k + 1) * og] = block.reshape(og, kh, kw, cg).transpose(0, 3, 1, 2)
    if 0 in needs:
        if groups == 1:
            # One (N·Ho·Wo, C) block per kernel offset, as a view in the columns' shape:
            # col2im then adds whole contiguous blocks (3× faster than strided pieces).
            _, cg, kh, kw = weight.shape
            per_offset = weight.transpose(2, 3, 0, 1).reshape(kh * kw, o, cg)
            blocks = np.matmul(g_rows, per_offset)  # (kh·kw, N·Ho·Wo, C)
            grad_cols = blocks.reshape(kh, kw, n, ho, wo, 1, cg).transpose(2, 3, 4, 5, 0, 1, 6)
        else:
            w = _weight_matrix(weight, groups)
            grad_cols = np.empty(rows.shape, dtype=g.dtype)
            for k in range(groups):
                grad_cols[:, k] = g_rows[:, k * og : (k + 1) * og].dot(w[k].T)
            grad_cols = grad_cols.reshape(cols.shape)
    if bias is not None and 2 in needs:
        grad_b = g_rows.sum(axis=0)
    return grad_cols, grad_w, grad_b


def _same_pads(kernel: int, dilation: int) -> tuple[int, int]:
    # PyTorch puts the odd pixel of 'same' padding at the end.
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def _resolve_pads(padding, kernel, stride, dilation, fn: str) -> Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{fn} padding='same' expected stride 1, got stride {stride}")
            return _same_pads(kernel[0], dilation[0]), _same_pads(kernel[1], dilation[1])
        raise ValueError(f"{fn} expected padding 'same', 'valid' or ints, got {padding!r}")
    ph, pw = _pair(padding, "padding", fn)
    if ph < 0 or pw < 0:
        raise ValueError(f"{fn} expected padding >= 0, got {padding!r}")
    return (ph, ph), (pw, pw)


def _check_conv(fn: str, x_shape, w_shape, groups: int, spatial: int) -> None:
    if len(x_shape) != spatial + 2:
        dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
        raise ValueError(f"{fn} expected input {dims}, got shape {tuple(x_shape)}")
    if len(w_shape) != spatial + 2:
        raise ValueError(f"{fn} expected a {spatial + 2}-D weight, got shape {tuple(w_shape)}")
    if groups < 1 or x_shape[1] % groups or w_shape[0] % groups:
        raise ValueError(
            f"{fn} expected channels divisible by groups={groups}, got input channels "
            f"{x_shape[1]} and out channels {w_shape[0]}"
        )
    if x_shape[1] != w_shape[1] * groups:
        raise ValueError(
            f"{fn} expected input with {w_shape[1] * groups} channels (weight {tuple(w_shape)}, "
            f"groups={groups}), got shape {tuple(x_shape)}"
        )


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=512)
def _conv_plan(x_shape, w_shape, stride, padding, dilation, groups) -> dict[str, Any]:
    """The checked im2col arguments; cached, since a layer calls with the same ones
    every step (the checks cost as much as a small image's convolution)."""
    stride = _pair(stride, "stride", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    _check_conv("conv2d", x_shape, w_shape, int(groups), 2)
    pads = _resolve_pads(padding, w_shape[2:], stride, dilation, "conv2d")
    for axis in (0, 1):
        size = x_shape[2 + axis] + sum(pads[axis])
        if _out_size(size, w_shape[2 + axis], stride[axis], dilation[axis]) < 1:
            raise ValueError(
                f"conv2d expected the padded input {size} to hold the dilated kernel "
                f"{dilation[axis] * (w_shape[2 + axis] - 1) + 1}, got input {tuple(x_shape)}"
            )
    kernel = tuple(w_shape[2:])
    return {
        "kernel": kernel,
        "pads": pads,
        "stride": stride,
        "dilation": dilation,
        "groups": int(groups),
    }


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] | str = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Shapes: input (N, C_in, H, W); weight (C_out, C_in/groups, kh, kw); bias (C_out,)
    -> (N, C_out, H_out, W_out), H_out = ⌊(H + 2p − d(kh − 1) − 1)/s⌋ + 1.
    ``padding`` is ints, 'valid' (none) or 'same' (stride 1; the odd pixel at the end).
    """
    x_shape, w_shape = tuple(shape_of(input)), tuple(shape_of(weight))
    options = (_hashable(stride), _hashable(padding), _hashable(dilation), groups)
    try:
        hash(options)
    except TypeError:  # an unhashable argument: checked without the cache
        plan = _conv_plan.__wrapped__(x_shape, w_shape, *options)
    else:
        plan = _conv_plan(x_shape, w_shape, *options)
    cols = _im2col(input, **plan)
    return _conv2d(cols, weight, bias)


def _single(value: Any, name: str) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"conv1d expected {name} an int or a 1-tuple, got {value!r}")
        value = value[0]
    return (0 if name == "padding" else 1, value)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation: (N, C_in, L), weight (C_out, C_in/groups, k) -> (N, C_out, L_out).

    Runs ``conv2d`` on a height-1 image (the same op and VJP).
    """
    x_shape, w_shape = shape_of(input), shape_of(weight)
    _check_conv("conv1d", x_shape, w_shape, int(groups), 1)
    if padding == "same":
        padding2: Any = "same"
    else:
        padding2 = _single(padding, "padding")
    x4 = reshape(input, (x_shape[0], x_shape[1], 1, x_shape[2]))
    w4 = reshape(weight, (w_shape[0], w_shape[1], 1, w_shape[2]))
    out = conv2d(
        x4,
        w4,
        bias,
        _single(stride, "stride"),
        padding2,
        _single(dilation, "dilation"),
        groups,
    )
    n, c, _, length = out.shape
    return reshape(out, (n, c, length))
