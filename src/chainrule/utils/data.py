"""``torch.utils.data``'s names over ``chainrule.data``: ``from chainrule.utils.data import
DataLoader, TensorDataset, Dataset, Subset, random_split``."""

from __future__ import annotations

from typing import Any

from ..data.loader import DataLoader as _DataLoader
from ..data.loader import TensorDataset
from ..data.subsets import Dataset, Subset, random_split

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split"]


class DataLoader(_DataLoader):
    """``chainrule.data.DataLoader`` that also accepts PyTorch's worker options.

    Batches are always made in this process: ``num_workers``, ``pin_memory`` and
    ``persistent_workers`` are accepted so scripts run unchanged, and ignored. The other
    options (``drop_last=``, ``generator=``, ``transform=``) are ``chainrule.data``'s, by
    keyword only: PyTorch's fourth positional argument is a sampler.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(dataset, batch_size, shuffle, **options)
