"""``StandardScaler``: scikit-learn's feature standardization, storable in a model file."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import get_default_dtype
from ._util import as_array

__all__ = ["StandardScaler"]

_FLOAT64_EPS = np.finfo(np.float64).eps


def _finite(array: np.ndarray | None) -> bool:
    return array is not None and bool(np.isfinite(array).all())


def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean (F,), population variance (F,) and whether a column is constant
    up to rounding (F,) bool, for finite ``values`` (N, F) float64.

    The plain two-pass formulas (scikit-learn's numbers, bit for bit) overflow for
    values beyond ~1e154 (squares) or ~1e308 (sums); those columns, and ones whose
    variance underflows, are recomputed on values divided by the column's largest
    magnitude, which lie in [−1, 1]. There the mean is exact up to rounding, and the
    variance is returned multiplied back (inf when the spread is above ~1.3e154, whose
    square float64 cannot hold; ``_scale`` does not need it).
    """
    n = values.shape[0]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        mean = values.mean(axis=0)
        # Two-pass variance: mean of squared deviations, stable unlike E[x²] − E[x]².
        # In place on one temporary (N, F): a second one cost ~0.1 s and its memory.
        centered = values - mean
        np.square(centered, out=centered)
        var = centered.mean(axis=0)
        del centered
        # scikit-learn's bound for the rounding error of a two-pass variance: below it,
        # the feature is constant and must not be blown up by dividing by ~0.
        bound = n * _FLOAT64_EPS * var + (n * mean * _FLOAT64_EPS) ** 2
        constant = var <= bound
    tiny = np.finfo(np.float64).tiny
    redo = ~np.isfinite(mean) | ~np.isfinite(var) | ~np.isfinite(bound) | (var < tiny)
    if redo.any():
        largest = np.abs(values[:, redo]).max(axis=0)
        largest[largest == 0] = 1.0
        unit = values[:, redo] / largest
        unit_mean = unit.mean(axis=0)
        unit_var = np.square(unit - unit_mean).mean(axis=0)
        constant[redo] = unit_var <= (
            n * _FLOAT64_EPS * unit_var + (n * unit_mean * _FLOAT64_EPS) ** 2
        )
        with np.errstate(over="ignore", under="ignore"):
            mean[redo] = unit_mean * largest
            var[redo] = np.square(np.sqrt(unit_var) * largest)
    return mean, var, constant


def _scale(values: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """sqrt(var), or for a variance that overflowed (or underflowed), the standard
    deviation computed on values divided by the column's largest magnitude."""
    with np.errstate(under="ignore"):
        scale = np.sqrt(var)
    tiny = np.finfo(np.float64).tiny
    redo = ~np.isfinite(scale) | (var < tiny)
    if redo.any():
        largest = np.abs(values[:, redo]).max(axis=0)
        largest[largest == 0] = 1.0
        unit = values[:, redo] / largest
        scale[redo] = np.sqrt(np.square(unit - unit.mean(axis=0)).mean(axis=0)) * largest
    return scale


class StandardScaler:
    """Standardize features: ``z = (x - mean_) / scale_``, column by column.

    ``fit(x)`` with ``x`` of shape (N, F) learns ``mean_`` (F,), ``var_`` (F,) (the
    population variance, ddof=0) and ``scale_ = sqrt(var_)`` (F,), in float64 whatever
    the input dtype. Constant features get ``scale_ = 1`` so they map to 0 rather than
    to a division by zero, using scikit-learn's test for "constant up to rounding".
    ``transform`` keeps a floating input's dtype; integer input becomes the default dtype.

    ``with_mean=False`` skips centering, ``with_std=False`` skips scaling (then
    ``scale_`` and ``var_`` are None). ``to_dict()`` / ``from_dict()`` turn a fitted
    scaler into plain JSON-compatible values and back, so it can ride in a model file.
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_: np.ndarray | None = None
        self.var_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_features_in_: int | None = None
        self.n_samples_seen_: int | None = None

    # -- checks -------------------------------------------------------------------------
    def _check_input(self, x: Any, method: str) -> np.ndarray:
        array = as_array(x)
        if array.ndim != 2:
            raise ValueError(
                f"StandardScaler.{method} expected a 2-D array (samples, features), got shape "
                f"{array.shape}; reshape a single feature with x.reshape(-1, 1)"
            )
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"StandardScaler.{method} expected numbers, got an array of dtype {array.dtype}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            row, column = np.argwhere(~np.isfinite(array))[0]
            raise ValueError(
                f"StandardScaler.{method} expected finite values, got {array[row, column]} "
                f"at row {row}, column {column}"
            )
        return array

    def _check_fitted(self, method: str) -> int:
        if self.n_features_in_ is None:
            raise RuntimeError(
                f"StandardScaler.{method} called before fit: call fit(x) or fit_transform(x) first"
            )
        return self.n_features_in_

    def _check_features(self, array: np.ndarray, method: str) -> None:
        expected = self._check_fitted(method)
        if array.shape[1] != expected:
            raise ValueError(
                f"StandardScaler was fitted on {expected} features, got {array.shape[1]} "
                f"(input of shape {array.shape} to {method})"
            )

    @staticmethod
    def _float(array: np.ndarray) -> np.ndarray:
        """A floating copy of ``array``: its own dtype if floating, else the default."""
        dtype = array.dtype if array.dtype.kind == "f" else get_default_dtype()
        return array.astype(dtype, copy=True)

    # -- the estimator ------------------------------------------------------------------
    def fit(self, x: Any, y: Any = None) -> StandardScaler:
        """Learn the per-feature mean and scale from ``x`` of shape (N, F); returns self."""
        array = self._check_input(x, "fit")
        if array.shape[0] == 0:
            raise ValueError(
                f"StandardScaler.fit expected at least one sample, got shape {array.shape}"
            )
        n_samples, n_features = array.shape
        # float64 accumulators, as scikit-learn: float32 sums of many rows lose digits.
        values = array.astype(np.float64, copy=False)
        if self.with_mean or self.with_std:
            mean, var, constant = _moments(values)
            self.mean_ = mean
        else:
            self.mean_ = None
        if self.with_std:
            self.var_ = var
            scale = _scale(values, mean, var)
            scale[constant] = 1.0
            self.scale_ = scale
        else:
            self.var_ = None
            self.scale_ = None
        self.n_features_in_ = int(n_features)
        self.n_samples_seen_ = int(n_samples)
        return self

    def transform(self, x: Any) -> np.ndarray:
        """Standardize ``x`` of shape (N, F) into a new array of the same shape."""
        array = self._check_input(x, "transform")
        self._check_features(array, "transform")
        out = self._float(array)
        mean, scale = self._used_statistics()
        # Cast the statistics to the output dtype first (as scikit-learn), so float32 data
        # is standardized in float32 arithmetic and equals theirs.
        with np.errstate(over="ignore", invalid="ignore"):
            if mean is not None:
                out -= mean.astype(out.dtype)
            if scale is not None:
                out /= scale.astype(out.dtype)
        if mean is not None and scale is not None and not np.isfinite(out).all():
            # x − mean overflowed (values near ±1.8e308 on both sides of the mean): divide
            # first, x/scale − mean/scale, for the columns where it happened.
            columns = ~np.isfinite(out).all(axis=0)
            values = array[:, columns].astype(np.float64)
            with np.errstate(over="ignore"):  # still inf: far outside the fitted range
                out[:, columns] = values / scale[columns] - mean[columns] / scale[columns]
        return out

    def _used_statistics(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(mean_ if with_mean, scale_ if with_std): what transform applies (None: not)."""
        return (
            self.mean_ if self.with_mean else None,
            self.scale_ if self.with_std else None,
        )

    def fit_transform(self, x: Any, y: Any = None) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Undo ``transform``: ``x * scale_ + mean_`` for ``x`` of shape (N, F)."""
        array = self._check_input(x, "inverse_transform")
        self._check_features(array, "inverse_transform")
        out = self._float(array)
        mean, scale = self._used_statistics()
        if scale is not None:
            out *= scale.astype(out.dtype)
        if mean is not None:
            out += mean.astype(out.dtype)
        return out

    # -- storage ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fitted scaler as plain values: bools, ints, and lists of floats (or None).

        Python floats print their shortest round-trip repr, so a JSON round trip gives
        back the float64 statistics bit for bit.
        """
        self._check_fitted("to_dict")

        def listed(array: np.ndarray | None) -> list[float] | None:
            return None if array is None else [float(v) for v in array]

        return {
            "type": "StandardScaler",
            "with_mean": self.with_mean,
            "with_std": self.with_std,
            "n_features_in": self.n_features_in_,
            "n_samples_seen": self.n_samples_seen_,
            "mean": listed(self.mean_),
            # A variance above ~1.8e308 (a spread above ~1.3e154) is inf, which JSON cannot
            # hold: then "var" is left out (None); scale_, which transform uses, is finite.
            "var": listed(self.var_) if _finite(self.var_) else None,
            "scale": listed(self.scale_),
        }

    @classmethod
    def from_dict(cls, state: object) -> StandardScaler:
        """Rebuild a fitted scaler from ``to_dict()``'s output (lists or arrays), checking it."""
        if not isinstance(state, dict):
            raise TypeError(f"StandardScaler.from_dict expected a dict, got {type(state).__name__}")
        if state.get("type", "StandardScaler") != "StandardScaler":
            raise ValueError(
                f"StandardScaler.from_dict expected type 'StandardScaler', got {state['type']!r}"
            )
        required = ("with_mean", "with_std", "n_features_in", "mean", "scale")
        missing = [key for key in required if key not in state]
        if missing:
            raise ValueError(f"StandardScaler.from_dict is missing keys {missing}")
        scaler = cls(with_mean=state["with_mean"], with_std=state["with_std"])
        n_features = state["n_features_in"]
        if (
            isinstance(n_features, bool)
            or not isinstance(n_features, (int, np.integer))
            or n_features < 1
        ):
            raise ValueError(
                f"StandardScaler.from_dict expected n_features_in to be a positive int, got "
                f"{n_features!r}"
            )

        def vector(key: str, needed: bool, positive: bool = False) -> np.ndarray | None:
            value = state.get(key)
            if value is None:
                if needed:
                    raise ValueError(f"StandardScaler.from_dict expected '{key}', got None")
                return None
            array = np.array(value, dtype=np.float64)
            if array.shape != (n_features,):
                raise ValueError(
                    f"StandardScaler.from_dict expected '{key}' of shape ({n_features},), got "
                    f"{array.shape}"
                )
            if not np.isfinite(array).all() or (positive and (array <= 0).any()):
                kind = "positive finite" if positive else "finite"
                raise ValueError(f"StandardScaler.from_dict expected {kind} values in '{key}'")
            return array

        scaler.mean_ = vector("mean", scaler.with_mean)
        scaler.scale_ = vector("scale", scaler.with_std, positive=True)
        scaler.var_ = vector("var", False)
        scaler.n_features_in_ = int(n_features)
        seen = state.get("n_samples_seen")
        scaler.n_samples_seen_ = None if seen is None else int(seen)
        return scaler

    def __repr__(self) -> str:
        options = []
        if not self.with_mean:
            options.append("with_mean=False")
        if not self.with_std:
            options.append("with_std=False")
        return f"StandardScaler({', '.join(options)})"
