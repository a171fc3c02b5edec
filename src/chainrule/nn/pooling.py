"""Pooling layers with PyTorch's arguments (no parameters, no state)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..autodiff import Tensor
from . import functional as F
from .module import Module


class _Pool(Module):
    _config: ClassVar[dict[str, str] | None] = {
        "kernel_size": "ints",
        "stride": "ints",
        "padding": "ints0",
        "dilation": "ints",
    }

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_Pool):
    """Maximum over windows: (N, C, L) -> (N, C, L_out); stride defaults to kernel_size.
    With ``return_indices`` the result is (values, int64 indices into L)."""

    def forward(self, input: Tensor) -> Any:
        return F.max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )


class MaxPool2d(_Pool):
    """Maximum over windows: (N, C, H, W) -> (N, C, H_out, W_out). With
    ``return_indices`` the result is (values, int64 indices into H·W)."""

    def forward(self, input: Tensor) -> Any:
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )


class _MaxUnpool(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpool):
    """Values back at their ``MaxPool1d`` indices, zeros elsewhere:
    (N, C, L_in) -> (N, C, L_out)."""

    def forward(self, input: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool2d(_MaxUnpool):
    """Values back at their ``MaxPool2d`` indices, zeros elsewhere:
    (N, C, H_in, W_in) -> (N, C, H_out, W_out)."""

    def forward(self, input: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class _AvgPool(Module):
    _config: ClassVar[dict[str, str] | None] = {
        "kernel_size": "ints",
        "stride": "ints",
        "padding": "ints0",
        "count_include_pad": "bool",
    }

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPool):
    """Mean over windows: (N, C, L) -> (N, C, L_out)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AvgPool2d(_AvgPool):
    """Mean over windows: (N, C, H, W) -> (N, C, H_out, W_out)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AdaptiveAvgPool2d(Module):
    """Average over adaptive bins: (N, C, H, W) -> (N, C, *output_size)."""

    _config: ClassVar[dict[str, str] | None] = {"output_size": "ints"}

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
