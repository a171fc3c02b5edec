"""Synchronised batch norm: batch statistics over the global batch, not each rank's part.

Without it each rank normalises with its own ~B/N rows, and the model differs from one
process with batch B. The forward needs the global mean and (biased) variance; the
backward needs two global sums. Functions over arrays, so a BatchNorm layer or the
Trainer can call them; with one process they are the local statistics.

The variance is the mean of squared deviations from the *global* mean (two small
Allreduces: the sums first, then the squared deviations), not E[x²] − E[x]², which
loses digits when the mean is large compared with the spread.
"""

from __future__ import annotations

import numpy as np

from .comm import allreduce_

__all__ = ["sync_batch_norm_backward_sums", "sync_batch_stats"]


def _rows(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{what} expected a batch of shape (N, F), got shape {x.shape}")
    return x


def sync_batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Global batch mean (F,), biased variance (F,) and row count over all ranks, for
    this rank's rows ``x`` (n_r, F); float64 accumulators, results in ``x``'s dtype.

    The unbiased variance for running statistics is ``var * count / (count - 1)``.
    """
    x = _rows(x, "sync_batch_stats")
    features = x.shape[1]
    sums = np.empty(features + 1, dtype=np.float64)
    sums[:features] = x.sum(axis=0, dtype=np.float64)
    sums[features] = x.shape[0]
    allreduce_(sums)
    count = int(sums[features])
    if count == 0:
        raise ValueError("sync_batch_stats expected at least one row over all ranks, got 0")
    mean = sums[:features] / count
    squares = np.square(x - mean, dtype=np.float64).sum(axis=0)
    allreduce_(squares)
    return mean.astype(x.dtype), (squares / count).astype(x.dtype), count


def sync_batch_norm_backward_sums(
    grad_out: np.ndarray, x_hat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Σ g (F,) and Σ g·x̂ (F,) over the global batch, for this rank's upstream gradient
    ``grad_out`` (n_r, F) and normalised input ``x_hat`` (n_r, F).

    With them each rank's input gradient is the single-process formula
    dx = (γ/σ) · (g − Σg/N − x̂ · Σ(g·x̂)/N) on its own rows; they are also ∂L/∂β and
    ∂L/∂γ summed over ranks (the gradient Allreduce then must not add them again:
    divide those two by the world size, or leave them out of the local gradient).
    """
    grad_out = _rows(grad_out, "sync_batch_norm_backward_sums")
    features = grad_out.shape[1]
    sums = np.empty(2 * features, dtype=np.float64)
    sums[:features] = grad_out.sum(axis=0, dtype=np.float64)
    sums[features:] = (grad_out * x_hat).sum(axis=0, dtype=np.float64)
    allreduce_(sums)
    return sums[:features].astype(grad_out.dtype), sums[features:].astype(grad_out.dtype)
