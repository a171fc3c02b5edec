"""BatchNorm2d, LayerNorm and GroupNorm with PyTorch's arguments, init and state names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from ..autodiff.functions import reshape
from . import functional as F
from .layers import _check_size, _float_dtype, _set_sizes
from .module import Module
from .normalization import BatchNorm1d, add_affine


class BatchNorm2d(BatchNorm1d):
    """Batch norm over (N, C, H, W): each channel's statistics over batch and pixels."""

    def forward(self, input: Tensor) -> Tensor:
        shape = input.shape if isinstance(input, Tensor) else np.shape(input)
        if len(shape) != 4 or shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d expected input (N, {self.num_features}, H, W), "
                f"got shape {tuple(shape)}"
            )
        # The parent's checks want (N, C) or (N, C, L): pixels are a length dimension.
        n, c, h, w = shape
        out = super().forward(reshape(input, (n, c, h * w)))
        return reshape(out, (n, c, h, w))


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims; weight ones, bias zeros."""

    _config: ClassVar[dict[str, str] | None] = {
        "normalized_shape": "ints",
        "eps": "float",
        "elementwise_affine": "bool",
        "bias": "bool",
    }

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dims = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(_check_size("LayerNorm", "normalized_shape", d) for d in dims)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = _float_dtype("LayerNorm", dtype)
        add_affine(self, self.normalized_shape, dtype, elementwise_affine, bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Normalize each sample's ``num_groups`` channel groups: (N, C, *) -> same shape."""

    _config: ClassVar[dict[str, str] | None] = {
        "num_groups": "size",
        "num_channels": "size",
        "eps": "float",
        "affine": "bool",
    }

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        _set_sizes(self, num_groups=num_groups, num_channels=num_channels)
        if num_groups == 0 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm expected num_channels divisible by num_groups, got {num_channels} "
                f"and {num_groups}"
            )
        self.eps = eps
        self.affine = affine
        dtype = _float_dtype("GroupNorm", dtype)
        add_affine(self, (num_channels,), dtype, affine)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 64) -> (N, 1, 8, 8)."""

    _config: ClassVar[dict[str, str] | None] = {"dim": "int", "unflattened_size": "ints"}

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = int(dim)
        self.unflattened_size = tuple(int(s) for s in unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape)
        dim = self.dim % len(shape) if shape else 0
        known = int(np.prod([s for s in self.unflattened_size if s != -1]))
        if (-1 not in self.unflattened_size and known != shape[dim]) or (
            known == 0 or shape[dim] % known
        ):
            raise ValueError(
                f"Unflatten expected dimension {self.dim} of size "
                f"{int(np.prod(self.unflattened_size))}, got shape {shape}"
            )
        return reshape(input, (*shape[:dim], *self.unflattened_size, *shape[dim + 1 :]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
