"""Pooling layers with PyTorch's arguments (no parameters, no state)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..autodiff import Tensor
from . import functional as F
from .layers import _FunctionLayer


class _Pool(_FunctionLayer):
    """A window layer: the stride defaults to the kernel size; the repr shows ``_shown``."""

    _shown: ClassVar[tuple[str, ...]] = ("kernel_size", "stride", "padding")
    # what every window layer's model-file config holds; subclasses add their options
    _window: ClassVar[dict[str, str]] = {
        "kernel_size": "ints",
        "stride": "ints",
        "padding": "ints0",
    }

    def __init__(self, kernel_size: Any, stride: Any, **options: Any) -> None:
        super().__init__(
            kernel_size=kernel_size, stride=kernel_size if stride is None else stride, **options
        )

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._shown)


class _MaxPool(_Pool):
    _config: ClassVar[dict[str, str] | None] = {**_Pool._window, "dilation": "ints"}
    _args = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    _shown = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(
            kernel_size,
            stride,
            padding=padding,
            dilation=dilation,
            return_indices=return_indices,
            ceil_mode=ceil_mode,
        )


class MaxPool1d(_MaxPool):
    """Maximum over windows: (N, C, L) -> (N, C, L_out); stride defaults to kernel_size.
    With ``return_indices`` the result is (values, int64 indices into L)."""

    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPool):
    """Maximum over windows: (N, C, H, W) -> (N, C, H_out, W_out). With
    ``return_indices`` the result is (values, int64 indices into H·W)."""

    _fn = staticmethod(F.max_pool2d)


class _MaxUnpool(_Pool):
    _config = None  # not a layer of model files

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__(kernel_size, stride, padding=padding)

    def forward(self, input: Tensor, indices: Any = None, output_size: Any = None) -> Tensor:
        # indices defaults only so that forward(input) stays a valid override of the base's
        if indices is None:
            raise TypeError(
                f"{type(self).__name__}.forward expected the indices of a max pool "
                "with return_indices=True, got None"
            )
        return type(self)._fn(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool1d(_MaxUnpool):
    """Values back at their ``MaxPool1d`` indices, zeros elsewhere:
    (N, C, L_in) -> (N, C, L_out)."""

    _fn = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpool):
    """Values back at their ``MaxPool2d`` indices, zeros elsewhere:
    (N, C, H_in, W_in) -> (N, C, H_out, W_out)."""

    _fn = staticmethod(F.max_unpool2d)


class _AvgPool(_Pool):
    _config: ClassVar[dict[str, str] | None] = {**_Pool._window, "count_include_pad": "bool"}
    _args = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(
            kernel_size,
            stride,
            padding=padding,
            ceil_mode=ceil_mode,
            count_include_pad=count_include_pad,
        )


class AvgPool1d(_AvgPool):
    """Mean over windows: (N, C, L) -> (N, C, L_out)."""

    _fn = staticmethod(F.avg_pool1d)


class AvgPool2d(_AvgPool):
    """Mean over windows: (N, C, H, W) -> (N, C, H_out, W_out)."""

    _fn = staticmethod(F.avg_pool2d)


class AdaptiveAvgPool2d(_FunctionLayer):
    """Average over adaptive bins: (N, C, H, W) -> (N, C, *output_size)."""

    _fn = staticmethod(F.adaptive_avg_pool2d)
    _config: ClassVar[dict[str, str] | None] = {"output_size": "ints"}

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size=output_size)
