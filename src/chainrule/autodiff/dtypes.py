"""The default floating-point dtype, float32 like PyTorch."""

from __future__ import annotations

import numpy as np

_default_dtype: list[np.dtype] = [np.dtype(np.float32)]


def set_default_dtype(dtype: type | np.dtype | str) -> None:
    """Set the dtype given to tensors made from Python floats (float32 or float64)."""
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(f"set_default_dtype expected a floating-point dtype, got {resolved}")
    _default_dtype[0] = resolved


def get_default_dtype() -> np.dtype:
    """The dtype given to tensors made from Python floats."""
    return _default_dtype[0]
