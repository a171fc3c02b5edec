"""Convolution as one op: im2col by ``sliding_window_view`` onto one matrix product.

``conv2d`` is the op; ``conv1d`` runs it on a height-1 image, so both share one
closed-form VJP: the weight gradient is the same product transposed, the input
gradient scatters the column gradient back window by window (col2im).
"""

from __future__ import annotations

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


def im2col(x: np.ndarray, kernel: tuple[int, int], stride, dilation) -> np.ndarray:
    """Windows of a padded (N, C, H, W) image as a view (N, C, Ho, Wo, kh, kw)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = sliding_window_view(x, span, axis=(2, 3))
    return windows[:, :, ::sh, ::sw, ::dh, ::dw]


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], stride, dilation, dtype) -> np.ndarray:
    """Sum window gradients (N, C, Ho, Wo, kh, kw) back onto the padded image."""
    (sh, sw), (dh, dw) = stride, dilation
    ho, wo, kh, kw = cols.shape[2:]
    grad = np.zeros(padded_shape, dtype=dtype)
    for i in range(kh):  # kh·kw strided adds: no scatter with repeated indices needed
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            grad[:, :, rows, columns] += cols[..., i, j]
    return grad


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


def _columns(x, weight, pads, stride, dilation, groups):
    """The im2col matrix per group: (G, N·Ho·Wo, C/G·kh·kw), and the output size."""
    windows = im2col(_pad(x, pads), weight.shape[2:], stride, dilation)
    n, c, ho, wo, kh, kw = windows.shape
    grouped = windows.reshape(n, groups, c // groups, ho, wo, kh, kw)
    cols = grouped.transpose(1, 0, 3, 4, 2, 5, 6).reshape(groups, n * ho * wo, -1)
    return cols, (n, ho, wo)


def _per_group(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[g] @ b[g] for each group, as 2-D products: NumPy's batched matmul leaves BLAS
    for transposed operands (20× slower here), its 2-D dot never does."""
    if a.shape[0] == 1:
        return a[0].dot(b[0])[None]
    return np.stack([a[k].dot(b[k]) for k in range(a.shape[0])])


@defop(
    "conv2d",
    formula="dW = gᵀ·im2col(x);  dx = col2im(g·W);  db = Σ g",
)
def _conv2d(x, weight, bias, *, pads, stride, dilation, groups):
    cols, (n, ho, wo) = _columns(x, weight, pads, stride, dilation, groups)
    w = weight.reshape(groups, weight.shape[0] // groups, -1)
    out = _per_group(cols, w.transpose(0, 2, 1))  # (G, N·Ho·Wo, O/G)
    out = out.reshape(groups, n, ho, wo, -1).transpose(1, 0, 4, 2, 3)
    out = out.reshape(n, weight.shape[0], ho, wo)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out)


@_conv2d.defvjp
def _conv2d_vjp(g, out, x, weight, bias, *, pads, stride, dilation, groups, needs=(0, 1, 2)):
    n, o, ho, wo = g.shape
    g_cols = g.reshape(n, groups, o // groups, ho, wo).transpose(1, 0, 3, 4, 2)
    g_cols = g_cols.reshape(groups, n * ho * wo, o // groups)
    grad_x = grad_w = grad_b = None
    if 1 in needs:
        cols, _ = _columns(x, weight, pads, stride, dilation, groups)
        grad_w = _per_group(g_cols.transpose(0, 2, 1), cols).reshape(weight.shape)
    if 0 in needs:
        c_g, kh, kw = weight.shape[1:]
        w = weight.reshape(groups, o // groups, -1)
        d_cols = _per_group(g_cols, w).reshape(groups, n, ho, wo, c_g, kh, kw)
        d_cols = d_cols.transpose(1, 0, 4, 2, 3, 5, 6).reshape(n, groups * c_g, ho, wo, kh, kw)
        padded = (n, x.shape[1], x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1]))
        grad_x = _unpad(col2im(d_cols, padded, stride, dilation, g.dtype), pads)
    if bias is not None and 2 in needs:
        grad_b = g.sum(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


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


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Shapes: input (N, C_in, H, W); weight (C_out, C_in/groups, kh, kw); bias (C_out,)
    -> (N, C_out, H_out, W_out), H_out = ⌊(H + 2p − d(kh − 1) − 1)/s⌋ + 1.
    ``padding`` is ints, 'valid' (none) or 'same' (stride 1; the odd pixel at the end).
    """
    stride = _pair(stride, "stride", "conv2d")
    dilation = _pair(dilation, "dilation", "conv2d")
    x_shape, w_shape = shape_of(input), shape_of(weight)
    _check_conv("conv2d", x_shape, w_shape, int(groups), 2)
    pads = _resolve_pads(padding, w_shape[2:], stride, dilation, "conv2d")
    for axis in (0, 1):
        size = x_shape[2 + axis] + sum(pads[axis])
        if _out_size(size, w_shape[2 + axis], stride[axis], dilation[axis]) < 1:
            raise ValueError(
                f"conv2d expected the padded input {size} to hold the dilated kernel "
                f"{dilation[axis] * (w_shape[2 + axis] - 1) + 1}, got input {tuple(x_shape)}"
            )
    return _conv2d(
        input, weight, bias, pads=pads, stride=stride, dilation=dilation, groups=int(groups)
    )


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
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
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
