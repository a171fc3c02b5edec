"""``train_test_split`` with scikit-learn's arguments, sizes and stratification rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ._util import as_array, as_generator

__all__ = ["train_test_split"]


def _check_fraction_or_count(name: str, value: Any, n_samples: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"train_test_split expected {name} to be a float in (0, 1), an int or None, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, (float, np.floating)):
        if not 0.0 < value < 1.0:
            raise ValueError(
                f"train_test_split expected {name} as a fraction in (0, 1) or a count in "
                f"[1, {n_samples - 1}], got {value}"
            )
    elif not 0 < value < n_samples:
        raise ValueError(
            f"train_test_split expected {name} as a count in [1, {n_samples - 1}] "
            f"(there are {n_samples} samples) or a fraction in (0, 1), got {value}"
        )


def _split_sizes(n_samples: int, test_size: Any, train_size: Any) -> tuple[int, int]:
    """(n_train, n_test) exactly as scikit-learn: test fractions round up, train fractions
    round down, and a missing size is the complement of the other."""
    if test_size is None and train_size is None:
        test_size = 0.25
    _check_fraction_or_count("test_size", test_size, n_samples)
    _check_fraction_or_count("train_size", train_size, n_samples)
    if (
        isinstance(test_size, (float, np.floating))
        and isinstance(train_size, (float, np.floating))
        and test_size + train_size > 1
    ):
        raise ValueError(
            f"train_test_split expected test_size + train_size <= 1, got "
            f"{test_size} + {train_size} = {test_size + train_size}"
        )
    if isinstance(test_size, (float, np.floating)):
        n_test = math.ceil(test_size * n_samples)
    elif test_size is not None:
        n_test = int(test_size)
    if isinstance(train_size, (float, np.floating)):
        n_train = math.floor(train_size * n_samples)
    elif train_size is not None:
        n_train = int(train_size)
    if train_size is None:
        n_train = n_samples - n_test
    elif test_size is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise ValueError(
            f"train_test_split expected train and test sizes that fit in {n_samples} samples, "
            f"got {n_train} + {n_test} = {n_train + n_test}"
        )
    if n_train == 0 or n_test == 0:
        raise ValueError(
            f"train_test_split with {n_samples} samples, test_size={test_size} and "
            f"train_size={train_size} leaves an empty "
            f"{'train' if n_train == 0 else 'test'} set; adjust the sizes"
        )
    return n_train, n_test


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.Generator):
    """Per-class counts summing exactly to ``n_draws``, as close as possible to the class
    proportions: floor the ideal counts, then give the leftover draws to the largest
    remainders (ties broken at random). This is scikit-learn's rule, so split sizes match."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (candidates,) = np.nonzero(remainder == value)
            add_now = min(len(candidates), need_to_add)
            floored[rng.choice(candidates, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(np.int64)


def _stratified_indices(
    y: np.ndarray, n_train: int, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if y.ndim == 2:
        # Multi-output or one-hot labels: each distinct row is a class, as in scikit-learn.
        _, y_index = np.unique(y, axis=0, return_inverse=True)
    elif y.ndim == 1:
        _, y_index = np.unique(y, return_inverse=True)
    else:
        raise ValueError(
            f"train_test_split expected stratify of shape (N,) or (N, K), got {y.shape}"
        )
    y_index = y_index.reshape(-1)
    class_counts = np.bincount(y_index)
    n_classes = class_counts.size
    if class_counts.min() < 2:
        raise ValueError(
            f"train_test_split(stratify=...) expected at least 2 samples of every class, "
            f"got a class with {class_counts.min()}"
        )
    if n_train < n_classes or n_test < n_classes:
        which, size = ("train", n_train) if n_train < n_classes else ("test", n_test)
        raise ValueError(
            f"train_test_split(stratify=...) expected a {which} set of at least the number "
            f"of classes ({n_classes}) samples, got {size}"
        )
    # Samples grouped by class, in their original order within each class.
    by_class = np.split(np.argsort(y_index, kind="stable"), np.cumsum(class_counts)[:-1])
    n_train_per_class = _approximate_mode(class_counts, n_train, rng)
    n_test_per_class = _approximate_mode(class_counts - n_train_per_class, n_test, rng)
    train, test = [], []
    for members, k_train, k_test in zip(by_class, n_train_per_class, n_test_per_class, strict=True):
        shuffled = members[rng.permutation(members.size)]
        train.append(shuffled[:k_train])
        test.append(shuffled[k_train : k_train + k_test])
    # Mix the classes, or batches taken in order would see one class at a time.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _take(value: Any, index: np.ndarray) -> Any:
    if isinstance(value, Tensor):
        return Tensor(value.data[index])
    return as_array(value)[index]


def train_test_split(
    *arrays: Any,
    test_size: float | int | None = None,
    train_size: float | int | None = None,
    shuffle: bool = True,
    stratify: Any = None,
    seed: np.random.Generator | int | None = None,
) -> list[Any]:
    """Split arrays of N samples into random train and test subsets.

    Returns ``[a_train, a_test, b_train, b_test, ...]`` in scikit-learn's order, so
    ``x_train, x_test, y_train, y_test = train_test_split(x, y, seed=0)``. Tensors come
    back as Tensors, everything else as ndarrays indexed along the first axis.

    ``test_size`` / ``train_size``: a fraction in (0, 1) or a number of samples. With
    neither given the test set is 25%; with one given the other is its complement.
    Test fractions round up and train fractions round down (scikit-learn's rule).
    ``stratify``: labels of shape (N,) (or (N, K) rows as classes); each class then keeps
    its proportion in both subsets, with per-class counts rounded so the totals are exact.
    ``shuffle=False`` takes the first samples for training and the next for testing.
    ``seed``: an int or a ``numpy.random.Generator`` for a reproducible split.
    """
    if not arrays:
        raise ValueError("train_test_split expected at least one array, got none")
    lengths = []
    for position, value in enumerate(arrays):
        shape = np.shape(value.data if isinstance(value, Tensor) else value)
        if len(shape) == 0:
            raise ValueError(
                f"train_test_split expected arrays with a sample dimension, got a scalar "
                f"at position {position}"
            )
        lengths.append(shape[0])
    if len(set(lengths)) != 1:
        raise ValueError(
            f"train_test_split expected arrays with the same number of samples, got lengths "
            f"{lengths}"
        )
    n_samples = lengths[0]
    if n_samples < 2:
        raise ValueError(f"train_test_split expected at least 2 samples, got {n_samples}")
    n_train, n_test = _split_sizes(n_samples, test_size, train_size)

    if not shuffle:
        if stratify is not None:
            raise ValueError(
                "train_test_split cannot stratify without shuffling: pass shuffle=True "
                "or stratify=None"
            )
        train = np.arange(n_train)
        test = np.arange(n_train, n_train + n_test)
    else:
        rng = as_generator(seed, "train_test_split seed")
        if stratify is None:
            permutation = rng.permutation(n_samples)
            test = permutation[:n_test]
            train = permutation[n_test : n_test + n_train]
        else:
            labels = as_array(stratify)
            if labels.ndim == 0 or labels.shape[0] != n_samples:
                raise ValueError(
                    f"train_test_split expected stratify with {n_samples} labels, got shape "
                    f"{labels.shape}"
                )
            train, test = _stratified_indices(labels, n_train, n_test, rng)

    out: list[Any] = []
    for value in arrays:
        out.extend((_take(value, train), _take(value, test)))
    return out
