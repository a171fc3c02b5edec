"""``StandardScaler``: scikit-learn's feature standardization, storable in a model file."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import get_default_dtype
from ._util import as_array

__all__ = ["StandardScaler"]

_FLOAT64_EPS = np.finfo(np.float64).eps


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
            mean = values.mean(axis=0)
            self.mean_ = mean
        else:
            self.mean_ = None
        if self.with_std:
            # Two-pass variance: mean of squared deviations, stable unlike E[x²] − E[x]².
            var = np.square(values - mean).mean(axis=0)
            self.var_ = var
            # scikit-learn's bound for the rounding error of a two-pass variance: below it,
            # the feature is constant and must not be blown up by dividing by ~0.
            constant = (
                var <= n_samples * _FLOAT64_EPS * var + (n_samples * mean * _FLOAT64_EPS) ** 2
            )
            scale = np.sqrt(var)
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
        # Cast the statistics to the output dtype first (as scikit-learn), so float32 data
        # is standardized in float32 arithmetic and equals theirs.
        if self.with_mean:
            out -= self.mean_.astype(out.dtype)
        if self.with_std:
            out /= self.scale_.astype(out.dtype)
        return out

    def fit_transform(self, x: Any, y: Any = None) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, x: Any) -> np.ndarray:
        """Undo ``transform``: ``x * scale_ + mean_`` for ``x`` of shape (N, F)."""
        array = self._check_input(x, "inverse_transform")
        self._check_features(array, "inverse_transform")
        out = self._float(array)
        if self.with_std:
            out *= self.scale_.astype(out.dtype)
        if self.with_mean:
            out += self.mean_.astype(out.dtype)
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
            "var": listed(self.var_),
            "scale": listed(self.scale_),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> StandardScaler:
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
