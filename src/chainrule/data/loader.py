"""Datasets and mini-batches, with PyTorch's names: ``TensorDataset`` and ``DataLoader``.

A batch is cut out of each whole array with one slice or one fancy index, never by
gathering samples one at a time in Python: that per-sample loop is what makes naive
loaders slower than the training step they feed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ._util import as_array, as_generator, child_generator

__all__ = ["DataLoader", "TensorDataset", "batch_slices"]

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class TensorDataset:
    """Samples made of rows of several arrays that share their first dimension.

    ``TensorDataset(x, y)`` with ``x`` of shape (N, ...) and ``y`` of shape (N, ...):
    ``dataset[i]`` is the tuple ``(Tensor(x[i]), Tensor(y[i]))`` and ``len(dataset) == N``.
    Arrays, Tensors and nested lists are accepted; arrays keep their dtype (float lists
    take the default dtype) and are not copied.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset expected at least one array, got none")
        converted = []
        for position, value in enumerate(arrays):
            array = as_array(value)
            if array.ndim == 0:
                raise ValueError(
                    f"TensorDataset expected arrays with a first (sample) dimension, "
                    f"got a 0-d array at position {position}"
                )
            converted.append(array)
        lengths = [a.shape[0] for a in converted]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in converted)
            raise ValueError(
                f"TensorDataset expected arrays with the same first dimension, got shapes {shapes}"
            )
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The arrays as Tensors sharing their memory (PyTorch's attribute name)."""
        return tuple(Tensor(a) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        if isinstance(index, Tensor):
            index = index.data
        return tuple(Tensor(np.asarray(a[index])) for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


def batch_slices(
    n: int, batch_size: int, *, drop_last: bool = False, merge_single: bool = False
) -> list[tuple[int, int]]:
    """(start, stop) of each mini-batch of an epoch over ``n`` samples (in the epoch's order).

    ``drop_last`` leaves out a last, smaller batch. ``merge_single`` merges a last batch
    of a single row into the one before it (what batch norm needs: one row has no batch
    variance, PyTorch raises on it): 33 rows in batches of 32 are one batch of 33.
    """
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if drop_last and bounds and bounds[-1][1] - bounds[-1][0] < batch_size:
        bounds.pop()
    if merge_single and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"DataLoader expected {name} to be a positive int, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over a dataset in mini-batches, optionally shuffled.

    ``dataset`` is a :class:`TensorDataset` (fast path: one slice or fancy index per array
    per batch), an ndarray or Tensor (batches are single Tensors, as in PyTorch), or any
    object with ``__len__`` and ``__getitem__`` (samples are stacked field by field).

    Each batch from a ``TensorDataset`` is a tuple of Tensors that do not require grad,
    of shapes ``(B, ...)`` with ``B = batch_size`` except perhaps the last. Batches are
    fresh arrays: writing to one never changes the dataset.

    ``shuffle=True`` draws a new permutation at the start of every epoch (every ``iter``)
    from ``generator``: a ``numpy.random.Generator`` or an int seed. The same seed gives
    the same sequence of epochs; without one, fresh OS entropy is used.

    ``transform`` (chainrule's addition, for augmentation) is called as
    ``transform(x_batch, rng)`` on the first array of each batch, before it becomes a
    Tensor; its random stream is derived from ``generator`` but independent of the
    shuffling, so turning augmentation on does not change the order of samples.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: np.random.Generator | int | None = None,
        *,
        transform: Transform | None = None,
    ) -> None:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(
                f"DataLoader expected a dataset with __len__ and __getitem__ "
                f"(e.g. TensorDataset), got {type(dataset).__name__}"
            )
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataLoader expected transform to be a callable (x_batch, rng) -> x_batch, "
                f"got {type(transform).__name__}"
            )
        self.dataset = dataset
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.generator = as_generator(generator, "DataLoader generator")
        # A separate stream for augmentation, so the order of samples is the same with or
        # without a transform (spawning does not advance self.generator).
        self._transform_rng = child_generator(self.generator) if transform is not None else None

        if isinstance(dataset, TensorDataset):
            self._arrays: tuple[np.ndarray, ...] | None = dataset.arrays
            self._single = False
        elif isinstance(dataset, (np.ndarray, Tensor)):
            array = as_array(dataset)
            if array.ndim == 0:
                raise ValueError("DataLoader expected an array with a sample dimension, got 0-d")
            self._arrays = (array,)
            self._single = True
        else:
            self._arrays = None
            self._single = False

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _order(self, n: int) -> np.ndarray | None:
        """This epoch's sample order, or None for the natural order (then batches are slices)."""
        return self.generator.permutation(n) if self.shuffle else None

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        order = self._order(n)
        for start, stop in batch_slices(n, self.batch_size, drop_last=self.drop_last):
            fields, single = self._fetch(start, stop, order)
            if self.transform is not None:
                fields[0] = self._apply_transform(self.transform, fields[0])
            batch = tuple(Tensor(f) for f in fields)
            yield batch[0] if single else batch

    def _fetch(
        self, start: int, stop: int, order: np.ndarray | None
    ) -> tuple[list[np.ndarray], bool]:
        """Batch ``start:stop`` of this epoch as arrays, and whether it is one array alone."""
        if self._arrays is not None:
            if order is None:
                # A slice copy is faster than a fancy index and just as fresh.
                return [a[start:stop].copy() for a in self._arrays], self._single
            index = order[start:stop]
            return [a[index] for a in self._arrays], self._single
        index = np.arange(start, stop) if order is None else order[start:stop]
        collated = _collate([self.dataset[int(i)] for i in index])
        if isinstance(collated, list):
            return collated, False
        return [collated], True

    def _apply_transform(self, transform: Transform, x: np.ndarray) -> np.ndarray:
        if self._transform_rng is None:  # a transform set after construction
            self._transform_rng = child_generator(self.generator)
        out = transform(x, self._transform_rng)
        if not isinstance(out, np.ndarray) or out.shape[0] != x.shape[0]:
            got = out.shape if isinstance(out, np.ndarray) else type(out).__name__
            raise ValueError(
                f"DataLoader transform {transform!r} expected to return an ndarray with "
                f"{x.shape[0]} rows, got {got}"
            )
        return out

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )


def _collate(samples: Sequence[Any]) -> Any:
    """Stack per-sample values into batch arrays: tuples field by field (a list comes back),
    anything else into one array. Only used for datasets other than TensorDataset."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        for sample in samples:
            if not isinstance(sample, (tuple, list)) or len(sample) != width:
                raise ValueError(
                    f"DataLoader expected every sample to be a tuple of {width} values, "
                    f"got {sample!r:.80}"
                )
        return [np.stack([as_array(s[k]) for s in samples]) for k in range(width)]
    return np.stack([as_array(s) for s in samples])
