"""PyTorch's ``Dataset`` base class, ``Subset`` and ``random_split``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._util import as_generator

__all__ = ["Dataset", "Subset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__len__`` and ``__getitem__(i)``.

    ``dataset[i]`` is one sample (a value or a tuple of values); ``DataLoader`` stacks
    samples into batches.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def _lengths(lengths: Sequence[float], n: int) -> list[int]:
    """Counts from counts, or from fractions summing to 1 (PyTorch's rounding: floor each,
    then hand the remainder out one by one from the first subset on)."""
    values = list(lengths)
    if not values:
        raise ValueError("random_split expected at least one length, got none")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        if any(v < 0 for v in values) or sum(values) != n:
            raise ValueError(
                f"random_split expected non-negative lengths summing to the dataset's "
                f"length {n}, got {values}"
            )
        return [int(v) for v in values]
    if any(not 0 <= float(v) <= 1 for v in values) or not math.isclose(sum(values), 1.0):
        raise ValueError(
            f"random_split expected fractions in [0, 1] summing to 1 or integer lengths "
            f"summing to {n}, got {values}"
        )
    counts = [math.floor(n * float(v)) for v in values]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(
    dataset: Any, lengths: Sequence[float], generator: np.random.Generator | int | None = None
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths``: sample counts summing to ``len(dataset)``, or fractions summing to 1.
    ``generator``: a Generator or an int seed; without one, the default generator
    (``chainrule.manual_seed``).
    """
    n = len(dataset)
    counts = _lengths(lengths, n)
    order = as_generator(generator, "random_split generator").permutation(n)
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start : start + count]))
        start += count
    return subsets
