"""From a model's outputs to predictions, losses and metrics, in large blocks of rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autodiff import Tensor, no_grad

# Network activations per forward block when evaluating (8 MB of float32): a few large
# matrix products rather than one per 256 rows, whose BLAS threads each wait for a CPU
# when the machine is busy (seconds, on a shared 2-core machine, for 40,000 rows).
EVAL_CELLS = 1 << 21
MIN_BLOCK_ROWS = 256  # fit's and Pipeline's own batch for predicting


def predictions(output: np.ndarray, kind: str) -> np.ndarray:
    """Turn raw model outputs (N, C) into what metrics compare with the targets.

    ``kind``: ``argmax`` (class indices (N,)), ``logit_sign`` (output > 0),
    ``half`` (output > 0.5), ``values`` (unchanged), ``auto`` (argmax for C > 1).
    """
    if kind == "auto":
        kind = "argmax" if output.ndim == 2 and output.shape[1] > 1 else "values"
    if kind == "argmax":
        return output.argmax(axis=-1)
    if kind == "logit_sign":
        return (output > 0).astype(np.int64)
    if kind == "half":
        return (output > 0.5).astype(np.int64)
    return output


def squeeze(values: np.ndarray) -> np.ndarray:
    """(N, 1) -> (N,); anything else unchanged."""
    return values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values


def eval_block_rows(model: Any, inputs: int) -> int:
    """Rows per forward block when evaluating: ``EVAL_CELLS`` over the widest activation of
    a row, for a row of ``inputs`` features (at least ``MIN_BLOCK_ROWS``)."""
    width = max(inputs, 1)
    for parameter in model.parameters():
        shape = parameter.data.shape
        if len(shape) == 2:  # Linear (out, in)
            width = max(width, shape[0])
        elif len(shape) == 4:  # Conv2d (out channels, ...): a map of about `inputs` pixels
            width = max(width, shape[0] * inputs)
    return max(MIN_BLOCK_ROWS, EVAL_CELLS // width)


def batched_outputs(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``model(x)`` without a graph, ``batch_size`` rows at a time, as one array."""
    parts = []
    with no_grad():
        for start in range(0, len(x), batch_size):
            parts.append(model(Tensor(x[start : start + batch_size])).data)
    return np.concatenate(parts)


def evaluate_outputs(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable[..., Tensor],
    kind: str,
    metrics: Sequence[tuple[str, Callable]],
    batch_size: int,
    prefix: str = "",
) -> dict[str, float]:
    """Loss and metrics of ``model`` in eval mode on ``(x, y)``, keys ``prefix + name``."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        inputs = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
        rows = max(batch_size, eval_block_rows(model, inputs))
        output = batched_outputs(model, x, rows)
        with no_grad():
            logs = {f"{prefix}loss": float(loss_fn(Tensor(output), Tensor(y)).data)}
        predicted = predictions(output, kind)
        for name, metric in metrics:
            logs[f"{prefix}{name}"] = float(metric(squeeze(y), squeeze(predicted)))
    finally:
        if was_training:
            model.train()
    return logs
