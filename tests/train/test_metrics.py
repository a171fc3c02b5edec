"""chainrule.train.metrics: hand-computed cases, scikit-learn's numbers, get_metric."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.train.metrics import (
    METRICS,
    accuracy,
    confusion_matrix,
    f1_score,
    get_metric,
    mean_absolute_error,
    mean_squared_error,
    precision,
    r2_score,
    recall,
)

# y_true = [0, 0, 1, 1, 2, 2], y_pred = [0, 1, 1, 1, 0, 2]:
#   class 0: tp 1, fp 1 (the 2 predicted as 0), fn 1  -> P 1/2, R 1/2, F1 1/2
#   class 1: tp 2, fp 1 (the 0 predicted as 1), fn 0  -> P 2/3, R 1,   F1 4/5
#   class 2: tp 1, fp 0,                        fn 1  -> P 1,   R 1/2, F1 2/3
Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 0, 2]


def test_hand_computed_classification():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(
        confusion_matrix(Y_TRUE, Y_PRED), [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    )
    np.testing.assert_allclose(precision(Y_TRUE, Y_PRED, average=None), [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(recall(Y_TRUE, Y_PRED, average=None), [1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(f1_score(Y_TRUE, Y_PRED, average=None), [1 / 2, 4 / 5, 2 / 3])
    assert precision(Y_TRUE, Y_PRED) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert recall(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    assert f1_score(Y_TRUE, Y_PRED) == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    for metric in (precision, recall, f1_score):
        assert metric(Y_TRUE, Y_PRED, average="micro") == pytest.approx(4 / 6)
    # Weighted by support (2, 2, 2 here): equal to macro.
    assert precision(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(precision(Y_TRUE, Y_PRED))


def test_absent_classes_give_zero_not_nan():
    # Class 2 is predicted but never true (recall 0/0), class 1 is true but never predicted
    # (precision 0/0): both reported as 0, as scikit-learn does.
    y_true, y_pred = [0, 0, 1], [0, 2, 0]
    np.testing.assert_allclose(precision(y_true, y_pred, average=None), [1 / 2, 0, 0])
    np.testing.assert_allclose(recall(y_true, y_pred, average=None), [1 / 2, 0, 0])
    np.testing.assert_allclose(f1_score(y_true, y_pred, average=None), [1 / 2, 0, 0])
    assert precision(y_true, y_pred, average=None, zero_division=1.0)[1] == 1.0


def test_binary_average():
    y_true, y_pred = [0, 1, 1, 0, 1], [1, 1, 0, 0, 1]
    assert precision(y_true, y_pred, average="binary") == pytest.approx(2 / 3)
    assert recall(y_true, y_pred, average="binary") == pytest.approx(2 / 3)
    assert precision(y_true, y_pred, average="binary", pos_label=0) == pytest.approx(1 / 2)
    assert precision([0, 0], [0, 0], average="binary") == 0.0  # pos_label absent: 0/0
    with pytest.raises(ValueError, match="at most 2 classes, got 3"):
        precision(Y_TRUE, Y_PRED, average="binary")
    with pytest.raises(ValueError, match=r"pos_label to be one of \[0, 1\], got 5"):
        precision(y_true, y_pred, average="binary", pos_label=5)


def test_scores_and_one_hot_are_argmaxed_and_tensors_accepted():
    logits = np.array([[2.0, 0.1, 0.0], [0.0, 3.0, 1.0], [0.2, 0.1, 0.0], [0.0, 0.0, 5.0]])
    y = np.array([0, 1, 2, 2])
    assert accuracy(y, logits) == 0.75
    assert accuracy(cr.tensor(y), cr.tensor(logits)) == 0.75
    assert accuracy(np.eye(3)[y], logits) == 0.75
    assert accuracy(y[:, None], y) == 1.0  # a label column (N, 1)
    assert accuracy(np.array(["a", "b"]), np.array(["a", "a"])) == 0.5


def test_continuous_labels_are_rejected():
    with pytest.raises(ValueError, match=r"continuous value 0\.2.*threshold"):
        accuracy([0, 1], np.array([[0.2], [0.7]]))
    with pytest.raises(ValueError, match="same number of samples, got 2 and 3"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="at least one sample"):
        accuracy([], [])
    with pytest.raises(
        ValueError, match=r"labels \(N,\) or scores \(N, C\), got shape \(2, 2, 2\)"
    ):
        accuracy(np.zeros((2, 2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="average 'macro'"):
        precision([0, 1], [0, 1], average="samples")


def test_confusion_matrix_labels_and_normalize():
    cm = confusion_matrix(Y_TRUE, Y_PRED, labels=[2, 0])
    np.testing.assert_array_equal(cm, [[1, 1], [0, 1]])
    assert cm.dtype == np.int64
    normalized = confusion_matrix(Y_TRUE, Y_PRED, normalize="true")
    np.testing.assert_allclose(normalized.sum(axis=1), 1.0)
    np.testing.assert_allclose(confusion_matrix(Y_TRUE, Y_PRED, normalize="all").sum(), 1.0)
    with pytest.raises(ValueError, match="normalize"):
        confusion_matrix(Y_TRUE, Y_PRED, normalize="rows")


def _random_labels(seed: int, n: int = 300, k: int = 5):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, k, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k + 1, size=n))  # k: unseen
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(5))
def test_classification_equals_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = _random_labels(seed)
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred), skm.confusion_matrix(y_true, y_pred)
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels=[3, 1, 9]),
        skm.confusion_matrix(y_true, y_pred, labels=[3, 1, 9]),
    )
    for ours, theirs in (
        (precision, skm.precision_score),
        (recall, skm.recall_score),
        (f1_score, skm.f1_score),
    ):
        for average in ("macro", "micro", "weighted", None):
            np.testing.assert_allclose(
                ours(y_true, y_pred, average=average),
                theirs(y_true, y_pred, average=average, zero_division=0),
                rtol=1e-12,
            )
        np.testing.assert_allclose(
            ours(y_true, y_pred, average="macro", labels=[0, 2, 7]),
            theirs(y_true, y_pred, average="macro", labels=[0, 2, 7], zero_division=0),
            rtol=1e-12,
        )
        binary_true, binary_pred = y_true % 2, y_pred % 2
        assert ours(binary_true, binary_pred, average="binary") == pytest.approx(
            theirs(binary_true, binary_pred, zero_division=0)
        )


def test_regression_hand_computed():
    y_true, y_pred = [3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]
    assert mean_squared_error(y_true, y_pred) == pytest.approx(0.375)
    assert mean_absolute_error(y_true, y_pred) == pytest.approx(0.5)
    # Σ(y − ŷ)² = 1.5, Σ(y − ȳ)² = 29.1875
    assert r2_score(y_true, y_pred) == pytest.approx(1 - 1.5 / 29.1875)
    assert r2_score([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(0.0)
    assert r2_score([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-3.0)


def test_r2_with_constant_y_true():
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]) == 1.0
    assert r2_score([2.0, 2.0, 2.0], [2.0, 2.0, 2.5]) == 0.0
    np.testing.assert_array_equal(
        r2_score(
            np.array([[1.0, 5.0], [1.0, 6.0]]), np.array([[1.0, 5.0], [1.0, 6.5]]), "raw_values"
        ),
        [1.0, 1 - 0.25 / 0.5],
    )
    assert np.isnan(r2_score([1.0], [2.0]))


def test_regression_shapes_and_errors():
    y = np.arange(6.0)
    assert mean_squared_error(y, y[:, None] + 1) == 1.0  # (N,) and (N, 1) match
    assert mean_squared_error(cr.tensor(y), cr.tensor(y)) == 0.0
    two = np.stack([y, 2 * y], axis=1)
    np.testing.assert_allclose(
        mean_absolute_error(two, two + np.array([1, 3]), "raw_values"), [1, 3]
    )
    assert mean_absolute_error(two, two + np.array([1, 3])) == 2.0
    with pytest.raises(ValueError, match=r"same shape, got \(6,\) and \(6, 2\)"):
        mean_squared_error(y, two)
    with pytest.raises(ValueError, match="finite values in y_pred"):
        mean_squared_error(y, y * np.nan)
    with pytest.raises(ValueError, match="multioutput"):
        r2_score(y, y, multioutput="variance_weighted")


@pytest.mark.parametrize("seed", range(3))
def test_regression_equals_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    for shape in ((50,), (50, 3)):
        y_true = rng.normal(size=shape)
        y_pred = y_true + rng.normal(scale=0.5, size=shape)
        for ours, theirs in (
            (mean_squared_error, skm.mean_squared_error),
            (mean_absolute_error, skm.mean_absolute_error),
            (r2_score, skm.r2_score),
        ):
            assert ours(y_true, y_pred) == pytest.approx(theirs(y_true, y_pred), rel=1e-12)
            np.testing.assert_allclose(
                ours(y_true, y_pred, multioutput="raw_values"),
                theirs(y_true, y_pred, multioutput="raw_values"),
                rtol=1e-12,
            )
    constant = np.full(10, 3.0)
    assert r2_score(constant, constant + 1) == skm.r2_score(constant, constant + 1)


def test_get_metric():
    expected = {
        "accuracy": (accuracy, True),
        "precision": (precision, True),
        "recall": (recall, True),
        "f1": (f1_score, True),
        "mse": (mean_squared_error, False),
        "mae": (mean_absolute_error, False),
        "r2": (r2_score, True),
    }
    assert set(METRICS) == set(expected)
    for name, (function, greater) in expected.items():
        assert get_metric(name) is function
        assert function.greater_is_better is greater
        assert function.task in ("classification", "regression")
    assert get_metric("F1_score") is f1_score
    assert get_metric("mean_squared_error") is mean_squared_error
    assert get_metric(accuracy) is accuracy
    with pytest.raises(ValueError, match=r"expected one of accuracy, f1, mae.*got 'auc'"):
        get_metric("auc")
    with pytest.raises(TypeError, match="metric name or a callable"):
        get_metric(3)
