"""train_test_split: scikit-learn's sizes, order of outputs and stratified class counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import train_test_split


def _xy(n: int = 100):
    x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    y = np.arange(n)
    return x, y


@pytest.mark.parametrize(
    ("n", "test_size", "train_size", "expected"),
    [
        (100, None, None, (75, 25)),
        (10, None, None, (7, 3)),  # test fraction rounds up
        (10, 0.33, None, (6, 4)),
        (10, None, 0.67, (6, 4)),  # train fraction rounds down
        (10, 3, None, (7, 3)),
        (10, None, 4, (4, 6)),
        (10, 0.2, 0.5, (5, 2)),
        (10, 2, 3, (3, 2)),
    ],
)
def test_sizes_follow_scikit_learn(n, test_size, train_size, expected):
    x, y = _xy(n)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, train_size=train_size, seed=0
    )
    assert (len(x_train), len(x_test)) == expected
    assert (len(y_train), len(y_test)) == expected
    # Rows stay paired across arrays, and train and test never share a sample.
    np.testing.assert_array_equal(x_train[:, 0], 2 * y_train)
    np.testing.assert_array_equal(x_test[:, 0], 2 * y_test)
    assert not set(y_train) & set(y_test)


def test_sizes_equal_sklearns():
    model_selection = pytest.importorskip("sklearn.model_selection")
    for n in (5, 17, 100, 1797):
        for test_size in (0.1, 0.25, 0.333, 3):
            x, _ = _xy(n)
            ours = train_test_split(x, test_size=test_size, seed=0)
            theirs = model_selection.train_test_split(x, test_size=test_size, random_state=0)
            assert [len(a) for a in ours] == [len(a) for a in theirs]


def test_seeded_and_shuffled():
    x, y = _xy(50)
    first = train_test_split(x, y, seed=7)
    second = train_test_split(x, y, seed=7)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    other = train_test_split(x, y, seed=8)
    assert not np.array_equal(first[3], other[3])
    assert not np.array_equal(np.sort(first[2]), np.arange(len(first[2])))  # shuffled


def test_no_shuffle_takes_the_first_samples_for_training():
    x, y = _xy(10)
    _, _, y_train, y_test = train_test_split(x, y, test_size=0.3, shuffle=False)
    np.testing.assert_array_equal(y_train, np.arange(7))
    np.testing.assert_array_equal(y_test, [7, 8, 9])


def test_tensors_stay_tensors():
    x = cr.tensor(np.ones((8, 2)))
    x_train, x_test = train_test_split(x, seed=0)
    assert isinstance(x_train, cr.Tensor) and x_train.shape == (6, 2)
    assert isinstance(x_test, cr.Tensor) and x_test.shape == (2, 2)


def test_stratified_proportions_and_exact_totals():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    rng.shuffle(y)
    for test_size in (0.2, 0.25, 0.33, 7):
        _, _, y_train, y_test = train_test_split(
            np.zeros((100, 1)), y, test_size=test_size, stratify=y, seed=1
        )
        n_test = test_size if isinstance(test_size, int) else math.ceil(test_size * 100)
        assert len(y_test) == n_test and len(y_train) == 100 - n_test
        counts = np.bincount(y_test, minlength=4)
        ideal = np.array([50, 30, 15, 5]) * n_test / 100
        assert np.all(np.abs(counts - ideal) < 1), (counts, ideal)
        np.testing.assert_array_equal(counts + np.bincount(y_train, minlength=4), [50, 30, 15, 5])


def test_stratified_class_counts_equal_sklearns():
    model_selection = pytest.importorskip("sklearn.model_selection")
    # Distinct class sizes, so that no tie between remainders is broken at random (that
    # draw uses each library's own generator).
    for sizes, test_size in (
        ([178, 182, 177, 183, 181, 176, 185, 179, 174, 180], 0.2),
        ([50, 30, 15, 5], 0.25),
        ([13, 7, 4], 0.3),
        ([100, 11], 0.5),
    ):
        y = np.repeat(np.arange(len(sizes)), sizes)
        x = np.zeros((len(y), 1))
        ours = train_test_split(x, y, test_size=test_size, stratify=y, seed=0)
        theirs = model_selection.train_test_split(
            x, y, test_size=test_size, stratify=y, random_state=0
        )
        for mine, reference in ((ours[2], theirs[2]), (ours[3], theirs[3])):
            np.testing.assert_array_equal(
                np.bincount(mine, minlength=len(sizes)),
                np.bincount(reference, minlength=len(sizes)),
            )


def test_stratified_digits_sizes_with_ties_stay_within_one_of_sklearn():
    model_selection = pytest.importorskip("sklearn.model_selection")
    sizes = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # scikit-learn's digits
    y = np.repeat(np.arange(10), sizes)
    ours = train_test_split(y, test_size=0.2, stratify=y, seed=0)[1]
    theirs = model_selection.train_test_split(y, test_size=0.2, stratify=y, random_state=0)[1]
    assert len(ours) == len(theirs) == 360
    difference = np.bincount(ours, minlength=10) - np.bincount(theirs, minlength=10)
    assert np.abs(difference).max() <= 1


def test_stratified_one_hot_labels():
    y = np.repeat([0, 1], [20, 10])
    onehot = np.eye(2)[y]
    _, _, _, y_test = train_test_split(y, y, test_size=0.3, stratify=onehot, seed=0)
    assert np.bincount(y_test).tolist() == [6, 3]


def test_stratified_classes_are_mixed():
    y = np.repeat([0, 1], [50, 50])
    _, y_test = train_test_split(y, stratify=y, test_size=0.5, seed=0)
    assert 0 < y_test[:25].sum() < 25  # not one class first, then the other


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_size": 1.0}, r"fraction in \(0, 1\)"),
        ({"test_size": 0}, r"count in \[1, 9\]"),
        ({"test_size": 10}, r"count in \[1, 9\].*got 10"),
        ({"test_size": -0.1}, "got -0.1"),
        ({"test_size": 0.6, "train_size": 0.6}, "<= 1"),
        ({"test_size": 6, "train_size": 6}, "6 \\+ 6 = 12"),
        ({"test_size": 0.01}, None),  # ceil: one test sample is fine
        ({"test_size": "0.2"}, "float in"),
        ({"train_size": 0.05}, "empty train set"),
        ({"shuffle": False, "stratify": np.arange(10) % 2}, "cannot stratify without shuffling"),
        ({"stratify": np.arange(9)}, "stratify with 10 labels"),
        ({"stratify": np.arange(10)}, "at least 2 samples of every class"),
        ({"stratify": np.arange(10) % 5, "test_size": 0.2}, r"test set of at least.*\(5\)"),
    ],
)
def test_errors_name_the_argument(kwargs, message):
    x, y = _xy(10)
    if message is None:
        train_test_split(x, y, **kwargs)
        return
    with pytest.raises((ValueError, TypeError), match=message):
        train_test_split(x, y, **kwargs)


def test_errors_for_arrays():
    with pytest.raises(ValueError, match="at least one array"):
        train_test_split()
    with pytest.raises(ValueError, match=r"same number of samples, got lengths \[10, 9\]"):
        train_test_split(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="at least 2 samples"):
        train_test_split(np.zeros(1))
    with pytest.raises(TypeError, match="seed"):
        train_test_split(np.zeros(10), seed=1.5)
