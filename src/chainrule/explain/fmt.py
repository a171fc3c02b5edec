"""Numbers as the explanation prints them: a fixed count of significant digits."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


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


def vec(values: ArrayLike, precision: int) -> str:
    """A 1-D array as ``[a, b, c]``; a single value prints without brackets."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 1:
        return num(flat[0], precision)
    return "[" + ", ".join(num(v, precision) for v in flat) + "]"


def matrix(values: ArrayLike, precision: int) -> list[str]:
    """A 2-D array as lines of aligned rows (for matrix form)."""
    array = np.atleast_2d(np.asarray(values, dtype=np.float64))
    cells = [[num(v, precision) for v in row] for row in array]
    width = max((len(c) for row in cells for c in row), default=1)
    return ["[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells]


def shape(s: tuple) -> str:
    return "(" + ", ".join(str(n) for n in s) + ")" if len(s) != 1 else f"({s[0]},)"


# A central difference (E(θ + h) − E(θ − h)) / 2h carries the rounding of the two loss
# values divided by 2h: a few ulps of E over 2e-6, about 1e-10·|E| for h = 1e-6. That
# part differs between BLAS kernels and CPUs, so it is never printed: the value is
# shown to FD_DIGITS significant digits and never finer than FD_RESOLUTION·|E|, and
# its agreement with backprop as a bound, not as a noisy number.
FD_DIGITS = 6
FD_RESOLUTION = 1e-7
ERROR_FLOOR = 1e-6  # relative errors below this print as "< 1e−6"


def _resolution(loss: float) -> float:
    """The finest decimal step a finite difference of the loss ``loss`` is shown to.

    A power of ten ≈ FD_RESOLUTION·|E|, taken from round(log10|E|) so that a change of
    an ulp in E can only move it where |E| is near √10·10ᵏ, never at round values.
    """
    magnitude = abs(float(loss))
    if not np.isfinite(magnitude) or magnitude < 1e-290:
        return 0.0
    return 10.0 ** (int(np.round(np.log10(magnitude))) + int(np.log10(FD_RESOLUTION)))


def finite_difference(value: float, loss: float) -> str:
    """A central difference as the explanation prints it, in every format.

    ``value`` with at most FD_DIGITS significant digits and no digit finer than the
    resolution set by the loss ``loss`` (see ``_resolution``): the digits shown are
    those that agree on any machine. 0.000497712788 (E = 0.298) prints 0.00049771.
    """
    value = float(value)
    step = _resolution(loss)
    if not np.isfinite(value) or value == 0 or step == 0:
        return num(value, FD_DIGITS)
    leading = int(np.floor(np.log10(abs(value))))
    digits = min(FD_DIGITS, leading - int(np.round(np.log10(step))) + 1)
    if digits < 1:  # below the resolution: rounds to 0 or to one step
        rounded = round(value / step) * step
        return "0" if rounded == 0 else num(rounded, 1)
    return num(value, digits)


def relative_error(rel: float, ok: bool, below_floor: bool | None = None) -> str:
    """How far a finite difference is from the gradient, without its noise digits.

    Within the tolerance: "< 1e−6" when ``below_floor`` (the relative error is below
    ERROR_FLOOR with the difference's rounding noise added: ``Check.below_floor``; by
    default ``rel < ERROR_FLOOR``), else "within tolerance" (a zero or tiny gradient,
    where the relative error is rounding noise). Outside it: two significant digits,
    since a real disagreement is far above the noise.
    """
    if ok:
        below = rel < ERROR_FLOOR if below_floor is None else below_floor
        return "< 1e−6" if below else "within tolerance"
    return num(rel, 2)
