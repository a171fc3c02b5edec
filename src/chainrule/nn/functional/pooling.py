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
from .conv import _out_size, _pad, _pair, _unpad, window_view


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


def _is_tiled(kernel, stride, pads, dilation) -> bool:
    return stride == kernel and dilation == (1, 1) and pads == ((0, 0), (0, 0))


def _tiled_row_max(x, kernel):
    """Non-overlapping windows, first stage: the maximum of each window's row pieces,
    (N, C, Ho·kh, Wo), read as kw strided column views of whole rows (long inner runs)."""
    kh, kw = kernel
    ho, wo = x.shape[2] // kh, x.shape[3] // kw
    x = x[:, :, : ho * kh, : wo * kw]
    best = x[:, :, :, 0::kw]
    if kw > 1:
        best = np.maximum(best, x[:, :, :, 1::kw])
        for j in range(2, kw):
            np.maximum(best, x[:, :, :, j::kw], out=best)
    return np.ascontiguousarray(best)


@defop("max_pool2d", formula="dx = g at each window's (first) maximum, 0 elsewhere")
def _max_pool2d(x, *, kernel, stride, pads, dilation):
    if _is_tiled(kernel, stride, pads, dilation):
        rows = _tiled_row_max(x, kernel)  # then the maximum over each window's kh rows
        out = np.array(rows[:, :, 0 :: kernel[0]])
        for i in range(1, kernel[0]):
            np.maximum(out, rows[:, :, i :: kernel[0]], out=out)
        return out
    views = _offsets(_max_padded(x, pads), kernel, stride, dilation)
    out = np.array(next(views))
    for view in views:
        np.maximum(out, view, out=out)
    return out


def _first_max_masks(views) -> list[np.ndarray]:
    """One boolean mask per view: where that view holds the elementwise maximum and no
    earlier view does (a tie keeps the first, as PyTorch does)."""
    if len(views) == 1:
        return [np.ones(views[0].shape, dtype=bool)]
    if len(views) == 2:
        second = views[1] > views[0]
        return [~second, second]
    best = np.array(views[0])
    winner = np.zeros(best.shape, dtype=np.int32)
    for k in range(1, len(views)):
        better = views[k] > best
        np.copyto(best, views[k], where=better)
        np.copyto(winner, k, where=better)
    return [winner == k for k in range(len(views))]


def _route(target: np.ndarray, g: np.ndarray, mask: np.ndarray, finite: bool) -> None:
    """target = g where mask, else 0 (target starts at zero)."""
    if finite:  # a product by the mask is 3× faster than a masked copy
        np.multiply(g, mask, out=target)
    else:  # 0·inf would be NaN where PyTorch gives 0
        np.copyto(target, g, where=mask)


def _tiled_max_vjp(g, x, kernel) -> np.ndarray:
    """Non-overlapping windows in two stages, the forward's order backwards: first the
    row of the window holding its maximum (the first such row), then the column
    within that row (the first such column) — together PyTorch's first maximum in
    row-major order. Each stage writes kh (or kw) strided slices; no scatter."""
    kh, kw = kernel
    ho, wo = g.shape[2:]
    finite = bool(np.isfinite(g).all())
    rows = _tiled_row_max(x, kernel)
    g_rows = np.zeros(rows.shape, dtype=g.dtype)
    row_masks = _first_max_masks([rows[:, :, i::kh] for i in range(kh)])
    for i, mask in enumerate(row_masks):
        _route(g_rows[:, :, i::kh], g, mask, finite)
    crop = x[:, :, : ho * kh, : wo * kw]
    col_masks = _first_max_masks([crop[:, :, :, j::kw] for j in range(kw)])
    grad = np.zeros(x.shape, dtype=g.dtype)
    for j, mask in enumerate(col_masks):
        _route(grad[:, :, : ho * kh, j : wo * kw : kw], g_rows, mask, finite)
    return grad


@_max_pool2d.defvjp
def _max_pool2d_vjp(g, out, x, *, kernel, stride, pads, dilation):
    tiled = _is_tiled(kernel, stride, pads, dilation)
    if tiled and not (x.dtype.kind == "f" and np.isnan(out).any()):  # NaN wins: general path
        return _tiled_max_vjp(g, x, kernel)
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


def _ceil_extra(size: int, pad: int, kernel: int, stride: int, dilation: int) -> int:
    """Pixels ceil_mode adds past the end padding so the last, partial window fits.

    PyTorch's rule: ⌈(size + 2p − d(k − 1) − 1)/s⌉ + 1 windows, less one when the last
    would start past the input and its left padding.
    """
    span = dilation * (kernel - 1) + 1
    out = -(-(size + 2 * pad - span) // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return max(0, (out - 1) * stride + span - (size + 2 * pad))


def _pool_args(fn, input, kernel_size, stride, padding, dilation, ceil_mode):
    shape = shape_of(input)
    if len(shape) != 4:
        raise ValueError(f"{fn} expected input (N, C, H, W), got shape {tuple(shape)}")
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
    extra = [0, 0]
    if ceil_mode:
        for axis, p in ((0, ph), (1, pw)):
            extra[axis] = _ceil_extra(
                shape[2 + axis], p, kernel[axis], stride[axis], dilation[axis]
            )
    return kernel, stride, ((ph, ph + extra[0]), (pw, pw + extra[1])), dilation


def _max_indices(x: np.ndarray, kernel, stride, pads, dilation) -> np.ndarray:
    """PyTorch's ``return_indices``: each window's first maximum as a flat index into H·W."""
    views = list(_offsets(_max_padded(x, pads), kernel, stride, dilation))
    masks = _first_max_masks(views)
    ho, wo = views[0].shape[2:]
    (sh, sw), (dh, dw), (top, left) = stride, dilation, (pads[0][0], pads[1][0])
    rows = np.arange(ho)[:, None] * sh - top
    cols = np.arange(wo)[None, :] * sw - left
    indices = np.zeros(views[0].shape, dtype=np.int64)
    for k, mask in enumerate(masks):
        i, j = divmod(k, kernel[1])
        np.copyto(indices, (rows + i * dh) * x.shape[3] + cols + j * dw, where=mask)
    return indices


def max_pool2d(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Maximum over each window: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults
    to the kernel. Padding counts as −∞ (never the maximum). ``ceil_mode`` keeps a
    last, partial window; ``return_indices`` also returns each maximum's flat index
    into H·W (int64, as ``max_unpool2d`` takes it)."""
    kernel, stride, pads, dilation = _pool_args(
        "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode
    )
    out = _max_pool2d(input, kernel=kernel, stride=stride, pads=pads, dilation=dilation)
    if return_indices:
        data = input.data if isinstance(input, Tensor) else np.asarray(input)
        return out, Tensor(_max_indices(data, kernel, stride, pads, dilation))
    return out


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
    (top, bottom), (left, right) = pads
    ceil_extra = (bottom - top, right - left)
    if divisor_override is not None:
        divisor: Any = float(divisor_override)
    elif (count_include_pad or pads == ((0, 0), (0, 0))) and ceil_extra == (0, 0):
        divisor = float(kernel[0] * kernel[1])
    else:  # each window's count of what it covers: padding or not; never ceil_mode's extra
        if count_include_pad:
            ones = np.ones((1, 1, shape[2] + 2 * top, shape[3] + 2 * left))
            counted = _pad(ones, ((0, ceil_extra[0]), (0, ceil_extra[1])))
        else:
            counted = _pad(np.ones((1, 1, *shape[2:])), pads)
        divisor = window_view(counted, kernel, stride, (1, 1)).sum(axis=(4, 5))
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


def _window_2d(kernel_size: Any, stride: Any, padding: Any) -> tuple[Any, Any, Any]:
    """A 1-d window (kernel, stride defaulting to the kernel, padding) as the 2-d
    window over (1, L) that the 1-d pools run."""
    if stride is None:
        stride = kernel_size
    return _one(kernel_size, 1), _one(stride, 1), _one(padding, 0)


def _drop_height(out: Tensor) -> Tensor:
    """(N, C, 1, L) -> (N, C, L)."""
    return reshape(out, (out.shape[0], out.shape[1], out.shape[3]))


def max_pool1d(
    input: Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Maximum over windows of (N, C, L) -> (N, C, L_out) (and indices into L)."""
    x, _ = _as_2d("max_pool1d", input)
    window = _window_2d(kernel_size, stride, padding)
    dilation_2d = _one(dilation, 1)
    assert dilation_2d is not None  # _one gives None only for a None value
    result = max_pool2d(x, *window, dilation_2d, ceil_mode, return_indices)
    if isinstance(result, tuple):  # return_indices
        out, indices = result
        n, c, _, length = out.shape
        return reshape(out, (n, c, length)), Tensor(indices.data.reshape(n, c, length))
    return _drop_height(result)


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
    window = _window_2d(kernel_size, stride, padding)
    return _drop_height(avg_pool2d(x, *window, ceil_mode, count_include_pad))


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


@defop("max_unpool2d", formula="dx = g read back at each index")
def _max_unpool2d(x, *, indices, size):
    n, c = x.shape[:2]
    out = np.zeros((n, c, size[0] * size[1]), dtype=x.dtype)
    np.put_along_axis(out, indices.reshape(n, c, -1), x.reshape(n, c, -1), axis=2)
    return out.reshape(n, c, *size)


@_max_unpool2d.defvjp
def _max_unpool2d_vjp(g, out, x, *, indices, size):
    n, c = x.shape[:2]
    flat = np.take_along_axis(g.reshape(n, c, -1), indices.reshape(n, c, -1), axis=2)
    return flat.reshape(x.shape)


def _unpool_size(fn, shape, kernel, stride, padding, output_size) -> tuple[int, ...]:
    spatial = len(shape) - 2
    default = tuple(
        (shape[2 + k] - 1) * stride[k] - 2 * padding[k] + kernel[k] for k in range(spatial)
    )
    if output_size is None:
        return default
    size = tuple(int(v) for v in output_size)[-spatial:]
    if len(size) != spatial:
        raise ValueError(f"{fn} expected output_size of {spatial} sizes, got {output_size!r}")
    for k in range(spatial):
        low, high = default[k] - stride[k], default[k] + stride[k]
        if not low < size[k] < high:
            raise ValueError(
                f"{fn} expected output_size between {low} and {high} (exclusive) in dim "
                f"{k}, got {size}"
            )
    return size


def max_unpool2d(
    input: Tensor,
    indices: Any,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    output_size: Any = None,
) -> Tensor:
    """The inverse of ``max_pool2d(..., return_indices=True)``: each value put back at its
    index into H·W, zeros elsewhere. (N, C, H_in, W_in) -> (N, C, H_out, W_out) with
    H_out = (H_in − 1)·stride − 2·padding + kernel, unless ``output_size`` says otherwise."""
    shape = shape_of(input)
    if len(shape) != 4:
        raise ValueError(f"max_unpool2d expected input (N, C, H, W), got shape {tuple(shape)}")
    kernel = _pair(kernel_size, "kernel_size", "max_unpool2d")
    stride = kernel if stride is None else _pair(stride, "stride", "max_unpool2d")
    pads = _pair(padding, "padding", "max_unpool2d")
    size = _unpool_size("max_unpool2d", shape, kernel, stride, pads, output_size)
    index = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if index.shape != tuple(shape) or index.dtype.kind not in "iu":
        raise ValueError(
            f"max_unpool2d expected integer indices of the input's shape {tuple(shape)}, got "
            f"{index.dtype} {index.shape}"
        )
    if index.size and (index.min() < 0 or index.max() >= size[0] * size[1]):
        raise ValueError(
            f"max_unpool2d expected indices in [0, {size[0] * size[1]}) for output {size}, "
            f"got {index.min()}..{index.max()}"
        )
    return _max_unpool2d(input, indices=index.astype(np.int64, copy=False), size=size)


def max_unpool1d(
    input: Tensor,
    indices: Any,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    output_size: Any = None,
) -> Tensor:
    """The inverse of ``max_pool1d(..., return_indices=True)``: (N, C, L_in) -> (N, C, L_out)."""
    x, (n, c, length_in) = _as_2d("max_unpool1d", input)
    index = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    k, p = int(kernel_size), int(padding)
    s = k if stride is None else int(stride)
    (length,) = _unpool_size("max_unpool1d", (n, c, length_in), (k,), (s,), (p,), output_size)
    out = max_unpool2d(x, index.reshape(n, c, 1, length_in), (1, k), (1, s), (0, p), (1, length))
    return reshape(out, (n, c, length))
