"""one_hot: indicator rows, the default dtype, and errors for bad indices."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import one_hot


def test_values_and_default_dtype():
    out = one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert out.dtype == cr.get_default_dtype()


def test_num_classes_dtype_and_shapes():
    out = one_hot(np.array([1, 0]), num_classes=4, dtype=np.float64)
    assert out.shape == (2, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out.argmax(axis=1), [1, 0])
    assert one_hot(np.array([[0, 1], [1, 1]]), 2).shape == (2, 2, 2)
    assert one_hot(np.array([], dtype=np.int64), num_classes=3).shape == (0, 3)
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])  # CSV labels
    np.testing.assert_array_equal(one_hot(cr.tensor([1, 0])), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(one_hot(np.array([0, 2], dtype=np.uint8)), np.eye(3)[[0, 2]])


def test_rows_sum_to_one_and_argmax_inverts():
    labels = np.random.default_rng(0).integers(0, 10, size=1000)
    out = one_hot(labels, 10)
    np.testing.assert_array_equal(out.sum(axis=1), 1)
    np.testing.assert_array_equal(out.argmax(axis=1), labels)


@pytest.mark.parametrize(
    ("indices", "kwargs", "error", "message"),
    [
        ([0, -1, 2], {}, ValueError, "non-negative class indices, got -1"),
        ([0, 3], {"num_classes": 3}, ValueError, r"indices in \[0, 3\).*got 3"),
        ([0.0, 1.5], {}, ValueError, "integer class indices, got 1.5 at position"),
        ([0.0, np.nan], {}, ValueError, "integer class indices, got nan"),
        (["a", "b"], {}, TypeError, "dtype <U1"),
        ([True, False], {}, TypeError, "dtype bool"),
        ([0, 1], {"num_classes": 0}, ValueError, "num_classes >= 1, got 0"),
        ([0, 1], {"num_classes": 2.0}, TypeError, "num_classes to be an int"),
    ],
)
def test_errors(indices, kwargs, error, message):
    with pytest.raises(error, match=message):
        one_hot(np.array(indices), **kwargs)
