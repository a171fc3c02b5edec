"""Numbers as the explanation prints them: a fixed count of significant digits."""

from __future__ import annotations

import numpy as np


def num(value: float, precision: int) -> str:
    """``value`` with ``precision`` significant digits, no exponent for everyday magnitudes.

    0.298371109 stays 0.298371109 (not 2.98371109e-01) so tutorial numbers can be
    compared digit for digit; very large or tiny values fall back to scientific form.
    """
    value = float(value)
    if value == 0:
        return "0"
    if not np.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if 1e-5 <= magnitude < 1e9:
        text = np.format_float_positional(
            value, precision=precision, unique=False, fractional=False, trim="-"
        )
        text = text.rstrip(".")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text.replace("-", "−")
    text = np.format_float_scientific(value, precision=max(precision - 1, 0), trim="-")
    return text.replace("-", "−")


def vec(values: np.ndarray, precision: int) -> str:
    """A 1-D array as ``[a, b, c]``; a single value prints without brackets."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 1:
        return num(flat[0], precision)
    return "[" + ", ".join(num(v, precision) for v in flat) + "]"


def matrix(values: np.ndarray, precision: int) -> list[str]:
    """A 2-D array as lines of aligned rows (for matrix form)."""
    array = np.atleast_2d(np.asarray(values, dtype=np.float64))
    cells = [[num(v, precision) for v in row] for row in array]
    width = max((len(c) for row in cells for c in row), default=1)
    return ["[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells]


def shape(s: tuple) -> str:
    return "(" + ", ".join(str(n) for n in s) + ")" if len(s) != 1 else f"({s[0]},)"
