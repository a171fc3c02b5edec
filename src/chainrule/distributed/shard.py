"""Which rows each rank reads, and each rank's part of a global batch.

Two splits, both **contiguous** (rank r gets one block, the first ``n % world_size``
ranks one row more, as ``np.array_split``):

- ``shard_rows(n, rank, world_size)`` — the rows a rank *reads* from a dataset. A
  contiguous block maps onto whole Parquet row groups and files, so a rank opens only
  its part of the data (strided rows would make every rank read every row group).
- ``local_batch(batch, rank, world_size)`` — a rank's part of one *global* batch of
  row indices: ``--batch-size`` is the global batch, N ranks × local batch = that batch.

Why the sum of local gradients equals one process's gradient: with a mean loss over
the global batch B, ∂L/∂θ = Σ_b ∂ℓ_b/∂θ / |B| = Σ_ranks (|B_r|/|B|) · ∂L_r/∂θ where L_r is
the mean loss over the rank's rows B_r. So each rank scales its local mean loss by
``local_weight(|B_r|, |B|)`` and one ``allreduce_`` (SUM) of the flat gradient gives
the global gradient — equal to one process in float64 up to the order of summation.
A rank whose part is empty (a short last batch) contributes zeros but still takes
part in the Allreduce.
"""

from __future__ import annotations

import numpy as np

__all__ = ["local_batch", "local_weight", "shard_bounds", "shard_rows"]


def _check(rank: int, world_size: int) -> None:
    if isinstance(world_size, bool) or int(world_size) != world_size or world_size < 1:
        raise ValueError(f"world_size expected a positive int, got {world_size!r}")
    if isinstance(rank, bool) or int(rank) != rank or not 0 <= rank < world_size:
        raise ValueError(f"rank expected an int in [0, {world_size}), got {rank!r}")


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s contiguous block of ``n`` rows."""
    _check(rank, world_size)
    if n < 0:
        raise ValueError(f"n expected a count of rows ≥ 0, got {n}")
    size, extra = divmod(int(n), int(world_size))
    start = rank * size + min(rank, extra)
    return start, start + size + (1 if rank < extra else 0)


def shard_rows(n: int, rank: int, world_size: int) -> np.ndarray:
    """Row indices (k,) int64 that rank ``rank`` of ``world_size`` reads out of ``n``:
    one contiguous block; the blocks of all ranks partition ``range(n)`` in order."""
    start, stop = shard_bounds(n, rank, world_size)
    return np.arange(start, stop, dtype=np.int64)


def local_batch(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous part of a global batch of row indices (B,) → (≈B/N,)."""
    start, stop = shard_bounds(len(batch), rank, world_size)
    return batch[start:stop]


def local_weight(local_rows: int, global_rows: int) -> float:
    """The factor on a rank's *mean* loss so that summing gradients over ranks gives
    the mean over the global batch: ``local_rows / global_rows``."""
    if global_rows <= 0:
        raise ValueError(f"global_rows expected a positive count, got {global_rows}")
    return local_rows / global_rows
