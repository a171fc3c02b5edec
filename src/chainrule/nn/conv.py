"""Convolution layers with PyTorch's arguments, shapes, initialization and state names."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from . import init
from .functional.conv import _same_pads
from .layers import _add_weight_and_bias, _float_dtype, _set_sizes
from .module import Module


def _tuple(value: Any, n: int, name: str, layer: str) -> tuple[int, ...]:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{layer} expected {name} an int or {n} ints, got {value!r}")
    return tuple(int(v) for v in values)


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _config: ClassVar[dict[str, str] | None] = {
        "in_channels": "size",
        "out_channels": "size",
        "kernel_size": "ints",
        "stride": "ints",
        "padding": "padding",
        "dilation": "ints",
        "groups": "size",
        "bias": "bool",
    }
    _dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        layer, n = type(self).__name__, self._dims
        _set_sizes(self, in_channels=in_channels, out_channels=out_channels)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{layer} expected in_channels and out_channels divisible by groups, got "
                f"{in_channels}, {out_channels} and groups={groups}"
            )
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{layer} expected padding_mode one of {', '.join(_PADDING_MODES)}, "
                f"got {padding_mode!r}"
            )
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", layer)
        self.stride = _tuple(stride, n, "stride", layer)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{layer} expected padding 'same', 'valid' or ints, got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{layer} padding='same' expected stride 1, got {self.stride}")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, n, "padding", layer)
        self.dilation = _tuple(dilation, n, "dilation", layer)
        self.groups = int(groups)
        self.padding_mode = padding_mode
        dtype = _float_dtype(layer, dtype)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        _add_weight_and_bias(self, shape, dtype, bias, generator)

    def reset_parameters(self, generator: Any = None) -> None:
        """Draw fresh weights (and bias) with PyTorch's default scheme (``init._default_``)."""
        init._default_(self.weight, self.bias, generator)

    def _padded(self, input: Tensor) -> tuple[Tensor, Any]:
        """PyTorch's way for a non-zero ``padding_mode``: pad with F.pad, then convolve
        without padding. Returns the input and the padding the convolution still does."""
        if self.padding_mode == "zeros":
            return input, self.padding
        n = self._dims
        if self.padding == "valid":
            pairs = [(0, 0)] * n
        elif self.padding == "same":
            pairs = [_same_pads(k, d) for k, d in zip(self.kernel_size, self.dilation, strict=True)]
        else:
            pairs = [(p, p) for p in self.padding]
        flat = [v for lo, hi in reversed(pairs) for v in (lo, hi)]  # last dim first
        return F.pad(input, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * self._dims:
            text += f", padding={self.padding!r}"
        if self.dilation != (1,) * self._dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation): (N, C_in, L) -> (N, C_out, L_out).

    weight (out_channels, in_channels/groups, kernel_size); bias (out_channels,).
    """

    _dims = 1

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._padded(input)
        return F.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    weight (out_channels, in_channels/groups, kh, kw); bias (out_channels,);
    H_out = ⌊(H + 2·padding − dilation·(kh − 1) − 1)/stride⌋ + 1. ``padding`` may be
    'same' (stride 1) or 'valid'; ``padding_mode`` 'zeros', 'reflect', 'replicate' or
    'circular'. One im2col copy and one matrix product per group.
    """

    _dims = 2

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._padded(input)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)
