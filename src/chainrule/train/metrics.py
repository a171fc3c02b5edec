"""Evaluation metrics with scikit-learn's definitions, for NumPy arrays or Tensors.

Classification metrics take labels of shape (N,). For convenience in a training loop
they also take a model's scores: a 2-D ``y_pred`` (or ``y_true``) of shape (N, C) with
C >= 2 — logits, probabilities or one-hot rows — stands for its argmax along the last
axis (as Keras's "accuracy" does). A single column (N, 1) is read as labels, so a
binary model's probabilities must be thresholded first (``p > 0.5``); continuous
values where labels are expected raise an error instead of being silently compared.

Regression metrics take (N,) or (N, K) and average the K outputs uniformly
(``multioutput='raw_values'`` gives one value per output). (N,) and (N, 1) match.

Every metric has ``greater_is_better`` and ``task`` ('classification' or 'regression')
attributes, and :func:`get_metric` resolves the names a training loop is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autodiff import Tensor

__all__ = [
    "METRICS",
    "accuracy",
    "confusion_matrix",
    "confusion_pairs",
    "f1_score",
    "get_metric",
    "mean_absolute_error",
    "mean_squared_error",
    "precision",
    "r2_score",
    "recall",
]

Metric = Callable[..., Any]
_AVERAGES = ("macro", "micro", "weighted", "binary", None)


def _metric(*, greater_is_better: bool, task: str) -> Callable[[Metric], Metric]:
    def mark(function: Metric) -> Metric:
        # attributes of the function, read by fit and the CLI (a Callable type has none)
        function.__dict__.update(greater_is_better=greater_is_better, task=task)
        return function

    return mark


def _array(value: Any, metric: str, arg: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    array = np.asarray(value)
    if array.dtype.kind not in "biufUSO":
        raise TypeError(f"{metric} expected {arg} as numbers or labels, got dtype {array.dtype}")
    return array


# -- classification ----------------------------------------------------------------------
def _as_labels(value: Any, metric: str, arg: str) -> np.ndarray:
    array = _array(value, metric, arg)
    if array.ndim == 2 and array.shape[1] >= 2:
        # Scores or one-hot rows: the predicted (or true) class is the largest column.
        return np.argmax(array, axis=1)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{metric} expected {arg} as labels (N,) or scores (N, C), got shape {array.shape}"
        )
    if array.dtype.kind == "f" and not (np.isfinite(array) & (array == np.rint(array))).all():
        bad = array[~(np.isfinite(array) & (array == np.rint(array)))][0]
        raise ValueError(
            f"{metric} expected class labels in {arg}, got the continuous value {bad}; "
            f"threshold a one-column probability first (e.g. (p > 0.5).astype(int)), or pass "
            f"scores of shape (N, C) to take their argmax"
        )
    return array


def _label_pair(y_true: Any, y_pred: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    t = _as_labels(y_true, metric, "y_true")
    p = _as_labels(y_pred, metric, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"{metric} expected y_true and y_pred with the same number of samples, got "
            f"{t.shape[0]} and {p.shape[0]}"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{metric} expected at least one sample, got none")
    return t, p


def _union(t: np.ndarray, p: np.ndarray, metric: str) -> np.ndarray:
    try:
        return np.unique(np.concatenate([t, p]))
    except TypeError:
        raise TypeError(
            f"{metric} expected y_true and y_pred labels of comparable types, got "
            f"{t.dtype} and {p.dtype}"
        ) from None


def _encode(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The position of each value in ``labels`` (in any order), or -1 where absent."""
    sorter = np.argsort(labels, kind="stable")
    ordered = labels[sorter]
    position = np.clip(np.searchsorted(ordered, values), 0, max(len(labels) - 1, 0))
    if len(labels) == 0:
        return np.full(values.shape, -1, dtype=np.intp)
    return np.where(ordered[position] == values, sorter[position], -1)


def _counts(t: np.ndarray, p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Confusion counts (len(labels), len(labels)); samples with a label outside are dropped."""
    k = len(labels)
    ti, pi = _encode(t, labels), _encode(p, labels)
    keep = (ti >= 0) & (pi >= 0)
    # One bincount over the flattened (true, pred) cell index instead of a loop over classes.
    flat = np.bincount(ti[keep] * k + pi[keep], minlength=k * k)
    return flat.reshape(k, k)


def _check_labels(labels: Any, metric: str) -> np.ndarray:
    array = _array(labels, metric, "labels").reshape(-1)
    if array.size == 0:
        raise ValueError(f"{metric} expected at least one label in labels, got none")
    if np.unique(array).size != array.size:
        raise ValueError(f"{metric} expected distinct labels, got {array.tolist()}")
    return array


@_metric(greater_is_better=True, task="classification")
def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted label equals the true one, in [0, 1].

    ``y_true``, ``y_pred``: labels (N,) or scores (N, C) (argmax taken).
    """
    t, p = _label_pair(y_true, y_pred, "accuracy")
    return float(np.mean(t == p))


def confusion_matrix(
    y_true: Any, y_pred: Any, labels: Any = None, normalize: str | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of true class ``labels[i]`` predicted as ``labels[j]``.

    Rows are true classes, columns predicted ones (scikit-learn's layout); ``labels``
    defaults to the sorted union of both label sets. Samples whose true or predicted
    label is not in ``labels`` are left out. Returns an int64 array (K, K), or a float
    array with ``normalize='true'`` (rows sum to 1), ``'pred'`` (columns) or ``'all'``.
    """
    t, p = _label_pair(y_true, y_pred, "confusion_matrix")
    labels = (
        _union(t, p, "confusion_matrix")
        if labels is None
        else _check_labels(labels, "confusion_matrix")
    )
    counts = _counts(t, p, labels).astype(np.int64)
    if normalize is None:
        return counts
    if normalize not in ("true", "pred", "all"):
        raise ValueError(
            f"confusion_matrix expected normalize 'true', 'pred', 'all' or None, got {normalize!r}"
        )
    axis = {"true": 1, "pred": 0, "all": None}[normalize]
    totals = counts.sum(axis=axis, keepdims=axis is not None)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Empty rows / columns give 0/0: scikit-learn reports them as 0.
        return np.nan_to_num(counts / totals)


def confusion_pairs(
    y_true: Any, y_pred: Any, labels: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero cells of :func:`confusion_matrix`, as three arrays (M,): row index,
    column index and count, ordered by row then column.

    Same arguments and cells as ``confusion_matrix``, but the memory and time grow with
    the number of samples N (O(N log N)), not with the number of classes squared: with
    10,000 classes the dense matrix would hold 10⁸ counts.
    """
    t, p = _label_pair(y_true, y_pred, "confusion_pairs")
    labels = (
        _union(t, p, "confusion_pairs")
        if labels is None
        else _check_labels(labels, "confusion_pairs")
    )
    k = len(labels)
    ti, pi = _encode(t, labels), _encode(p, labels)
    keep = (ti >= 0) & (pi >= 0)
    cells, counts = np.unique(
        ti[keep].astype(np.int64) * k + pi[keep].astype(np.int64), return_counts=True
    )
    return cells // k, cells % k, counts.astype(np.int64)


def _divide(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(numerator.shape, float(zero_division))
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _precision_recall_f1(
    y_true: Any,
    y_pred: Any,
    labels: Any,
    average: str | None,
    pos_label: Any,
    zero_division: float,
    metric: str,
) -> tuple[Any, Any, Any]:
    if average not in _AVERAGES:
        raise ValueError(
            f"{metric} expected average 'macro', 'micro', 'weighted', 'binary' or None, "
            f"got {average!r}"
        )
    t, p = _label_pair(y_true, y_pred, metric)
    present = _union(t, p, metric)
    if average == "binary":
        if present.size > 2:
            raise ValueError(
                f"{metric}(average='binary') expected at most 2 classes, got {present.size} "
                f"({present.tolist()}); choose average='macro', 'micro', 'weighted' or None"
            )
        if pos_label not in present.tolist() and present.size >= 2:
            raise ValueError(
                f"{metric} expected pos_label to be one of {present.tolist()}, got {pos_label!r}"
            )
        selected = np.asarray([pos_label])
    elif labels is None:
        selected = present
    else:
        selected = _check_labels(labels, metric)
    # Count over every label that occurs, so that a sample whose label is not selected
    # still counts as a false positive / negative for the selected ones (scikit-learn's rule).
    known = set(present.tolist())
    extra = [label for label in selected.tolist() if label not in known]
    everything = np.concatenate([present, np.asarray(extra)]) if extra else present
    # Per-class tp, predicted and actual counts straight from the labels: O(N + K), where
    # the diagonal and margins of a K×K confusion matrix would cost K² (10⁸ at 10⁴ classes).
    k = len(everything)
    ti, pi = _encode(t, everything), _encode(p, everything)
    index = _encode(selected, everything)
    tp = np.bincount(ti[ti == pi], minlength=k)[index].astype(np.float64)
    predicted = np.bincount(pi, minlength=k)[index].astype(np.float64)
    actual = np.bincount(ti, minlength=k)[index].astype(np.float64)
    if average == "micro":
        tp, predicted, actual = (
            tp.sum(keepdims=True),
            predicted.sum(keepdims=True),
            actual.sum(keepdims=True),
        )
    precision_ = _divide(tp, predicted, zero_division)
    recall_ = _divide(tp, actual, zero_division)
    # F1 from counts, 2·tp / (2·tp + fp + fn), which stays defined when one of P, R is 0/0.
    f1_ = _divide(2 * tp, predicted + actual, zero_division)
    if average is None:
        return precision_, recall_, f1_
    if average == "weighted":
        if actual.sum() == 0:
            zero = float(zero_division)
            return zero, zero, zero
        weights = actual
    else:
        weights = None
    p_avg, r_avg, f_avg = (
        float(np.average(v, weights=weights)) for v in (precision_, recall_, f1_)
    )
    return p_avg, r_avg, f_avg


def _precision_recall_metric(name: str, position: int, doc: str) -> Metric:
    """``precision``, ``recall`` or ``f1_score``: one signature, and the ``position`` of
    the value in ``_precision_recall_f1``'s (precision, recall, F1)."""

    def metric(
        y_true: Any,
        y_pred: Any,
        average: str | None = "macro",
        *,
        labels: Any = None,
        pos_label: Any = 1,
        zero_division: float = 0.0,
    ) -> Any:
        return _precision_recall_f1(
            y_true, y_pred, labels, average, pos_label, zero_division, name
        )[position]

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = doc
    return _metric(greater_is_better=True, task="classification")(metric)


precision = _precision_recall_metric(
    "precision",
    0,
    """Precision tp / (tp + fp): of the samples predicted as a class, the fraction that are.

    ``average``: 'macro' (unweighted mean over classes, the default), 'micro' (from
    counts pooled over classes; equals accuracy for single-label data), 'weighted'
    (mean weighted by each class's support), 'binary' (``pos_label`` only) or None
    (an array (K,) per class, ordered as ``labels`` or the sorted labels present).
    A class never predicted has 0/0 precision, reported as ``zero_division`` (0).
    """,
)
recall = _precision_recall_metric(
    "recall",
    1,
    """Recall tp / (tp + fn): of the samples of a class, the fraction found.

    Arguments as :func:`precision`; a class absent from ``y_true`` has 0/0 recall,
    reported as ``zero_division`` (0).
    """,
)
f1_score = _precision_recall_metric(
    "f1_score",
    2,
    """F1, the harmonic mean of precision and recall: 2·tp / (2·tp + fp + fn) per class.

    Arguments as :func:`precision`. The macro average is the mean of per-class F1
    scores (not the F1 of the mean precision and recall), as in scikit-learn.
    """,
)


# -- regression --------------------------------------------------------------------------
def _regression_pair(y_true: Any, y_pred: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for value, arg in ((y_true, "y_true"), (y_pred, "y_pred")):
        array = _array(value, metric, arg)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{metric} expected numbers in {arg}, got dtype {array.dtype}")
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            raise ValueError(f"{metric} expected {arg} of shape (N,) or (N, K), got {array.shape}")
        array = array.astype(np.float64, copy=False)
        if not np.isfinite(array).all():
            raise ValueError(f"{metric} expected finite values in {arg}, got NaN or infinity")
        arrays.append(array)
    t, p = arrays
    if t.shape != p.shape:
        raise ValueError(
            f"{metric} expected y_true and y_pred of the same shape, got "
            f"{np.shape(_array(y_true, metric, 'y_true'))} and "
            f"{np.shape(_array(y_pred, metric, 'y_pred'))}"
        )
    if t.shape[0] == 0:
        raise ValueError(f"{metric} expected at least one sample, got none")
    return t, p


def _reduce_outputs(per_output: np.ndarray, multioutput: str, metric: str) -> Any:
    if multioutput == "raw_values":
        return per_output
    if multioutput != "uniform_average":
        raise ValueError(
            f"{metric} expected multioutput 'uniform_average' or 'raw_values', got {multioutput!r}"
        )
    return float(np.mean(per_output))


@_metric(greater_is_better=False, task="regression")
def mean_squared_error(y_true: Any, y_pred: Any, multioutput: str = "uniform_average") -> Any:
    """Mean of (y_true − y_pred)² over samples, then over outputs; (N,) or (N, K)."""
    t, p = _regression_pair(y_true, y_pred, "mean_squared_error")
    return _reduce_outputs(np.mean(np.square(t - p), axis=0), multioutput, "mean_squared_error")


@_metric(greater_is_better=False, task="regression")
def mean_absolute_error(y_true: Any, y_pred: Any, multioutput: str = "uniform_average") -> Any:
    """Mean of |y_true − y_pred| over samples, then over outputs; (N,) or (N, K)."""
    t, p = _regression_pair(y_true, y_pred, "mean_absolute_error")
    return _reduce_outputs(np.mean(np.abs(t - p), axis=0), multioutput, "mean_absolute_error")


@_metric(greater_is_better=True, task="regression")
def r2_score(y_true: Any, y_pred: Any, multioutput: str = "uniform_average") -> Any:
    """Coefficient of determination 1 − Σ(y − ŷ)² / Σ(y − ȳ)², per output then averaged.

    1 is a perfect fit, 0 is as good as predicting the mean, and it can be negative.
    For a constant ``y_true`` (zero denominator) it is 1.0 if the predictions are exact
    and 0.0 otherwise (scikit-learn's ``force_finite``); with one sample it is NaN.
    """
    t, p = _regression_pair(y_true, y_pred, "r2_score")
    if t.shape[0] < 2:
        return _reduce_outputs(np.full(t.shape[1], np.nan), multioutput, "r2_score")
    residual = np.sum(np.square(t - p), axis=0)
    total = np.sum(np.square(t - t.mean(axis=0)), axis=0)
    scores = np.where(residual == 0, 1.0, 0.0)
    np.subtract(1.0, residual / np.where(total == 0, 1.0, total), out=scores, where=total != 0)
    return _reduce_outputs(scores, multioutput, "r2_score")


# -- lookup ------------------------------------------------------------------------------
METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1_score,
    "mse": mean_squared_error,
    "mae": mean_absolute_error,
    "r2": r2_score,
}
"""The metrics a training loop can name, by their short names."""

_ALIASES = {
    "acc": "accuracy",
    "f1_score": "f1",
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "r2_score": "r2",
}


def get_metric(name: str | Metric) -> Metric:
    """The metric function for a name ("accuracy", "precision", "recall", "f1", "mse",
    "mae", "r2"; also their long names), or ``name`` itself if it is already callable.

    The result is called as ``metric(y_true, y_pred)`` and has ``greater_is_better``
    (to know whether best means max or min) and ``task``.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"get_metric expected a metric name or a callable, got {type(name).__name__}"
        )
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in METRICS:
        raise ValueError(f"get_metric expected one of {', '.join(sorted(METRICS))}, got {name!r}")
    return METRICS[key]
