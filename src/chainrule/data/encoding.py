"""``one_hot``: class indices to indicator rows, as targets for per-class losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import get_default_dtype
from ._util import as_array

__all__ = ["one_hot"]


def one_hot(indices: Any, num_classes: int | None = None, dtype: Any = None) -> np.ndarray:
    """Indicator rows for class indices: ``out[..., k] = 1`` where ``indices[...] == k``.

    ``indices`` of shape (N,) (any shape works) holds integers in ``[0, num_classes)``;
    whole-valued floats (labels read from a CSV file) are accepted too. Returns an
    ndarray of shape (N, C) (``indices.shape + (C,)``) in ``dtype``, by default
    chainrule's default float dtype. ``num_classes=None`` uses ``max(indices) + 1``.
    """
    values = as_array(indices)
    if values.dtype.kind not in "iuf":
        raise TypeError(
            f"one_hot expected integer class indices, got an array of dtype {values.dtype}"
        )
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise ValueError(
                f"one_hot expected integer class indices, got {values[bad].flat[0]} "
                f"at position {tuple(int(i) for i in np.argwhere(bad)[0])}"
            )
    if values.size and values.min() < 0:
        raise ValueError(f"one_hot expected non-negative class indices, got {values.min()}")
    largest = int(values.max()) if values.size else -1
    if num_classes is None:
        num_classes = largest + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(
            f"one_hot expected num_classes to be an int or None, got {type(num_classes).__name__}"
        )
    elif num_classes < 1:
        raise ValueError(f"one_hot expected num_classes >= 1, got {num_classes}")
    elif largest >= num_classes:
        raise ValueError(
            f"one_hot expected class indices in [0, {num_classes}) for num_classes={num_classes}, "
            f"got {largest}"
        )
    out_dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    flat = values.reshape(-1).astype(np.intp)
    out = np.zeros((flat.size, int(num_classes)), dtype=out_dtype)
    out[np.arange(flat.size), flat] = 1
    return out.reshape((*values.shape, int(num_classes)))
