"""Max, average and adaptive average pooling over windows of (N, C, H, W) images.

Windows come from ``im2col`` (a strided view, no copy). The VJPs scatter the incoming
gradient back one kernel offset at a time, so no scatter with repeated indices is needed.
1-D pooling runs the 2-D op on a height-1 image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autodiff import Tensor
from ...autodiff.functions import reshape
from ...autodiff.registry import defop
from ...autodiff.tensor import shape_of
from .conv import _out_size, _pad, _pair, _unpad, im2col


def _scatter(per_offset, shape, pads, stride, dilation, kernel, dtype) -> np.ndarray:
    """Σ over kernel offsets (i, j) of per_offset(i, j) (N, C, Ho, Wo), placed on the input."""
    (sh, sw), (dh, dw) = stride, dilation
    padded = (shape[0], shape[1], shape[2] + sum(pads[0]), shape[3] + sum(pads[1]))
    grad = np.zeros(padded, dtype=dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            part = per_offset(i, j)
            ho, wo = part.shape[2:]
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            grad[:, :, rows, cols] += part
    return _unpad(grad, pads)


def _max_padded(x, pads):
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    return _pad(x, pads, fill)


def _offsets(xp, kernel, stride, dilation):
    """The (N, C, Ho, Wo) strided view of each kernel offset (i, j), in row-major order.

    Pooling folds these with elementwise ufuncs: much faster than reducing the 6-D
    window view over its last two axes.
    """
    (sh, sw), (dh, dw) = stride, dilation
    ho = _out_size(xp.shape[2], kernel[0], sh, dh)
    wo = _out_size(xp.shape[3], kernel[1], sw, dw)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            yield xp[:, :, rows, cols]


@defop("max_pool2d", formula="dx = g at each window's (first) maximum, 0 elsewhere")
def _max_pool2d(x, *, kernel, stride, pads, dilation):
    views = _offsets(_max_padded(x, pads), kernel, stride, dilation)
    out = np.array(next(views))
    for view in views:
        np.maximum(out, view, out=out)
    return out


def _tiled_max_vjp(g, out, x, kernel) -> np.ndarray:
    """Non-overlapping windows (stride = kernel, no padding or dilation): each input
    pixel sits in at most one window, so the gradient is written straight into the
    offset's strided slice, first matching offset wins a tie (as the general path)."""
    grad = np.zeros(x.shape, dtype=g.dtype)
    taken = np.zeros(out.shape, dtype=bool)
    views = _offsets(x, kernel, kernel, (1, 1))
    grads = _offsets(grad, kernel, kernel, (1, 1))
    for view, target in zip(views, grads, strict=True):
        hit = view == out
        hit &= ~taken
        taken |= hit
        np.copyto(target, g, where=hit)
    return grad


@_max_pool2d.defvjp
def _max_pool2d_vjp(g, out, x, *, kernel, stride, pads, dilation):
    tiled = stride == kernel and dilation == (1, 1) and pads == ((0, 0), (0, 0))
    if tiled and x.dtype.kind == "f" and not np.isnan(out).any():  # NaN ≠ NaN: general path
        return _tiled_max_vjp(g, out, x, kernel)
    views = _offsets(_max_padded(x, pads), kernel, stride, dilation)
    best = np.array(next(views))
    winner = np.zeros(best.shape, dtype=np.int32)
    for k, view in enumerate(views, start=1):
        better = view > best  # strict: a tie keeps the first maximum, as PyTorch does
        np.copyto(best, view, where=better)
        winner[better] = k

    def per_offset(i, j):
        return np.where(winner == i * kernel[1] + j, g, 0)

    return _scatter(per_offset, x.shape, pads, stride, dilation, kernel, g.dtype)


@defop("avg_pool2d", formula="dx = g / divisor over each window")
def _avg_pool2d(x, *, kernel, stride, pads, divisor):
    views = _offsets(_pad(x, pads), kernel, stride, (1, 1))
    total = np.array(next(views))
    for view in views:
        total += view
    return (total / divisor).astype(x.dtype, copy=False)


@_avg_pool2d.defvjp
def _avg_pool2d_vjp(g, out, x, *, kernel, stride, pads, divisor):
    share = (g / divisor).astype(g.dtype, copy=False)
    return _scatter(lambda i, j: share, x.shape, pads, stride, (1, 1), kernel, g.dtype)


def _pool_args(fn, input, kernel_size, stride, padding, dilation, ceil_mode):
    shape = shape_of(input)
    if len(shape) != 4:
        raise ValueError(f"{fn} expected input (N, C, H, W), got shape {tuple(shape)}")
    if ceil_mode:
        raise NotImplementedError(f"{fn} supports ceil_mode=False only, got ceil_mode=True")
    kernel = _pair(kernel_size, "kernel_size", fn)
    stride = kernel if stride is None or stride == () else _pair(stride, "stride", fn)
    ph, pw = _pair(padding, "padding", fn)
    dilation = _pair(dilation, "dilation", fn)
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"{fn} expected kernel_size and stride >= 1, got {kernel}, {stride}")
    if ph > kernel[0] // 2 or pw > kernel[1] // 2 or min(ph, pw) < 0:
        raise ValueError(f"{fn} expected padding at most half the kernel {kernel}, got {(ph, pw)}")
    for axis, p in ((0, ph), (1, pw)):
        if _out_size(shape[2 + axis] + 2 * p, kernel[axis], stride[axis], dilation[axis]) < 1:
            raise ValueError(
                f"{fn} expected an input at least as large as the kernel {kernel}, "
                f"got shape {tuple(shape)}"
            )
    return kernel, stride, ((ph, ph), (pw, pw)), dilation


def max_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Maximum over each window: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults
    to the kernel. Padding counts as −∞ (never the maximum)."""
    if return_indices:
        raise NotImplementedError("max_pool2d supports return_indices=False only")
    kernel, stride, pads, dilation = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    return _max_pool2d(input, kernel=kernel, stride=stride, pads=pads, dilation=dilation)


def avg_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to
    the kernel. ``count_include_pad=False`` divides by the window's real pixels only."""
    kernel, stride, pads, _ = _pool_args(
        "avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode
    )
    shape = shape_of(input)
    if divisor_override is not None:
        divisor: Any = float(divisor_override)
    elif count_include_pad or pads == ((0, 0), (0, 0)):
        divisor = float(kernel[0] * kernel[1])
    else:
        ones = np.ones((1, 1, *shape[2:]))
        divisor = im2col(_pad(ones, pads), kernel, stride, (1, 1)).sum(axis=(4, 5))
    return _avg_pool2d(input, kernel=kernel, stride=stride, pads=pads, divisor=divisor)


def _as_2d(fn, input) -> tuple[Tensor, tuple[int, ...]]:
    shape = shape_of(input)
    if len(shape) != 3:
        raise ValueError(f"{fn} expected input (N, C, L), got shape {tuple(shape)}")
    return reshape(input, (shape[0], shape[1], 1, shape[2])), shape


def _one(value: Any, default: int) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        value = value[0]
    return (default, value)


def max_pool1d(
    input: Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Maximum over windows of (N, C, L) -> (N, C, L_out)."""
    x, _ = _as_2d("max_pool1d", input)
    out = max_pool2d(
        x,
        _one(kernel_size, 1),
        _one(stride if stride is not None else kernel_size, 1),
        _one(padding, 0),
        _one(dilation, 1),
        ceil_mode,
        return_indices,
    )
    return reshape(out, (out.shape[0], out.shape[1], out.shape[3]))


def avg_pool1d(
    input: Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over windows of (N, C, L) -> (N, C, L_out)."""
    x, _ = _as_2d("avg_pool1d", input)
    out = avg_pool2d(
        x,
        _one(kernel_size, 1),
        _one(stride if stride is not None else kernel_size, 1),
        _one(padding, 0),
        ceil_mode,
        count_include_pad,
    )
    return reshape(out, (out.shape[0], out.shape[1], out.shape[3]))


def _bins(size: int, out: int) -> list[tuple[int, int]]:
    # PyTorch's adaptive bins: [⌊i·size/out⌋, ⌈(i+1)·size/out⌉).
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


@defop("adaptive_avg_pool2d", formula="dx = g / bin size over each (possibly overlapping) bin")
def _adaptive_avg_pool2d(x, *, output_size):
    rows, cols = _bins(x.shape[2], output_size[0]), _bins(x.shape[3], output_size[1])
    out = np.empty((*x.shape[:2], len(rows), len(cols)), dtype=x.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out


@_adaptive_avg_pool2d.defvjp
def _adaptive_avg_pool2d_vjp(g, out, x, *, output_size):
    rows, cols = _bins(x.shape[2], output_size[0]), _bins(x.shape[3], output_size[1])
    grad = np.zeros(x.shape, dtype=g.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            size = (r1 - r0) * (c1 - c0)
            grad[:, :, r0:r1, c0:c1] += (g[:, :, i, j] / size)[:, :, None, None]
    return grad


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average over PyTorch's adaptive bins: (N, C, H, W) -> (N, C, *output_size).

    ``None`` in ``output_size`` keeps that dimension's size.
    """
    shape = shape_of(input)
    if len(shape) != 4:
        raise ValueError(f"adaptive_avg_pool2d expected input (N, C, H, W), got shape {shape}")
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d expected output_size of 2, got {output_size!r}")
    resolved = tuple(shape[2 + k] if s is None else int(s) for k, s in enumerate(sizes))
    if min(resolved) < 1:
        raise ValueError(f"adaptive_avg_pool2d expected output sizes >= 1, got {output_size!r}")
    return _adaptive_avg_pool2d(input, output_size=resolved)
