"""``fit``, plus ``evaluate`` and ``predict`` on whole arrays.

``fit`` follows Keras's shape (epochs, batches, validation, callbacks, History)
on PyTorch's parts (a Module, a loss function, a torch.optim-style optimizer). It
checks and converts its arguments, then runs a ``Trainer`` (``train.trainer``) with
the default callbacks: ``History``, ``ProgressBar`` (when ``verbose``) and
``DivergenceGuard``, followed by the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import distributed as dist
from .. import nn, optim
from ..autodiff import Tensor
from ..data.loader import batch_slices
from ..data.reading import frame_matrix, is_frame
from ..data.subsets import random_split
from ..nn.registry import LOSSES as NN_LOSSES
from ..optim import Optimizer
from .callbacks import Callback
from .evaluation import (
    EVAL_CELLS,
    MIN_BLOCK_ROWS,
    batched_outputs,
    eval_block_rows,
    evaluate_outputs,
)
from .guard import DivergenceGuard
from .history import History
from .metrics import get_metric
from .progress import ProgressBar
from .trainer import Trainer

__all__ = [
    "EVAL_CELLS",
    "LOSSES",
    "MIN_BLOCK_ROWS",
    "Trainer",
    "eval_block_rows",
    "evaluate",
    "fit",
    "predict",
    "use_distributed",
]

# How a loss's outputs become predictions for metrics (the rest: "values").
_PREDICTIONS = {
    "cross_entropy": "argmax",
    "nll": "argmax",
    "bce_with_logits": "logit_sign",
    "bce": "half",
}
# nn's loss names -> (loss function, how outputs become predictions for metrics)
LOSSES: dict[str, tuple[Callable[..., Tensor], str]] = {
    name: (fn, _PREDICTIONS.get(name, "values")) for name, fn in NN_LOSSES.items()
}
_KIND_OF_FUNCTION = {id(fn): kind for fn, kind in LOSSES.values()}


def _resolve_loss(loss: str | Callable[..., Tensor]) -> tuple[Callable[..., Tensor], str]:
    if isinstance(loss, str):
        key = loss.lower().replace("_loss", "").replace("binary_cross_entropy", "bce")
        if key not in LOSSES:
            raise ValueError(f"fit got unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        return LOSSES[key]
    if not callable(loss):
        raise TypeError(f"fit expected loss to be a name or a callable, got {type(loss).__name__}")
    return loss, _KIND_OF_FUNCTION.get(id(loss), "auto")


def _as_array(value: Any, name: str, dtype: Any = np.float64) -> np.ndarray:
    if is_frame(value):
        # pandas / polars DataFrame, Arrow table: numbers only, in the model's dtype;
        # text columns are refused by name (cr.Pipeline encodes them).
        array, _ = frame_matrix(value, dtype=dtype, what=f"fit's {name}")
        if name.endswith("y") and array.shape[1] == 1:
            array = array[:, 0]  # a one-column target frame is a target vector
    else:
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.ndim == 0:
        raise ValueError(f"fit expected {name} with a first (sample) dimension, got a scalar")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"fit got a non-finite {name} value at index {tuple(int(i) for i in bad)}")
    return array


def _as_features(value: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``_as_array``, with floating-point features cast to the model's ``dtype``."""
    x = _as_array(value, name, dtype)
    if x.dtype.kind not in "biuf":  # text or objects would fail deep inside a layer
        raise TypeError(
            f"fit expected numbers in {name}, got an array of dtype {x.dtype}; encode text "
            "columns first (cr.Pipeline does, by column name)"
        )
    return x.astype(dtype) if x.dtype.kind == "f" and x.dtype != dtype else x


def _check_samples(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    """At least one sample, and as many targets as samples (an epoch divides by N)."""
    if len(x) == 0:
        raise ValueError(f"fit expected at least one sample in {x_name}, got shape {x.shape}")
    if len(x) != len(y):
        raise ValueError(
            f"fit expected as many targets as samples, got {x_name} {x.shape} and "
            f"{y_name} {y.shape}"
        )


def _has_batch_norm(model: Any) -> bool:
    modules = model.modules() if hasattr(model, "modules") else ()
    return any(isinstance(module, nn.BatchNorm1d) for module in modules)


def batch_bounds(n: int, batch_size: int, batch_norm: bool) -> list[tuple[int, int]]:
    """(start, stop) of each mini-batch of an epoch: ``data.loader.batch_slices``, with a
    last batch of a single row merged into the one before it under batch norm."""
    return batch_slices(n, batch_size, merge_single=batch_norm)


def _model_dtype(model: Any) -> np.dtype:
    for parameter in model.parameters():
        return parameter.data.dtype
    return np.dtype(np.float32)


def _prepare_targets(y: np.ndarray, kind: str, dtype: np.dtype) -> np.ndarray:
    if kind == "argmax" or (kind == "auto" and y.dtype.kind in "iub" and y.ndim == 1):
        if y.dtype.kind not in "iu":
            if y.dtype.kind == "f" and np.all(y == np.round(y)) and y.ndim == 1:
                return y.astype(np.int64)
            if y.ndim == 1:
                raise TypeError(f"class targets must be integers, got dtype {y.dtype}")
        return y if y.ndim != 1 else y.astype(np.int64, copy=False)
    y = y.astype(dtype, copy=False)
    # A 1-D target for a one-output network: give it the (N, 1) shape the output has.
    return y[:, None] if y.ndim == 1 else y


def _reseed(model: Any, rng: np.random.Generator) -> None:
    """Give every module that draws random numbers (dropout) its own seeded generator."""
    modules = model.modules() if hasattr(model, "modules") else ()
    for module in modules:
        if isinstance(getattr(module, "generator", None), np.random.Generator):
            module.generator = np.random.default_rng(rng.integers(2**63))


def _split(x, y, fraction: float, rng: np.random.Generator):
    """A seeded hold-out of ``round(N * fraction)`` rows: ``data.random_split``'s draw."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split expected a fraction in (0, 1), got {fraction}")
    n = len(x)
    n_val = round(n * fraction)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={fraction} leaves no samples on one side of {n}")
    val, train = (np.asarray(s.indices) for s in random_split(range(n), [n_val, n - n_val], rng))
    return x[train], y[train], x[val], y[val]


def _resolve_optimizer(optimizer: Any, model: Any) -> Any:
    """An optimizer over the model's parameters: ``fit``'s argument as it is, or built
    from a name (``"adam"``, Keras's way: the class's default options); one that holds
    none of the model's parameters would train nothing, so it is refused."""
    parameters = list(model.parameters()) if hasattr(model, "parameters") else None
    if isinstance(optimizer, str):
        if parameters is None:
            raise TypeError("fit's optimizer by name needs a model with parameters()")
        return optim.create(optimizer, parameters)
    if not all(hasattr(optimizer, a) for a in ("step", "zero_grad", "param_groups")):
        raise TypeError(
            "fit expected optimizer to be a chainrule.optim optimizer or a name such as "
            f"'adam', got {type(optimizer).__name__}"
        )
    if parameters:
        mine = {id(p) for p in parameters}
        held = [p for group in optimizer.param_groups for p in group["params"]]
        if not any(id(p) in mine for p in held):
            raise ValueError(
                f"fit's optimizer holds {len(held)} parameters, none of them the model's "
                f"({len(parameters)}): build it over model.parameters()"
            )
    return optimizer


def _metric_functions(metrics: Iterable[Any]) -> list[tuple[str, Callable]]:
    resolved = []
    for metric in metrics:
        if isinstance(metric, str):
            resolved.append((metric, get_metric(metric)))
        elif callable(metric):
            resolved.append((getattr(metric, "__name__", "metric"), metric))
        else:
            raise TypeError(f"metrics expected names or callables, got {metric!r}")
    return resolved


def fit(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str | Callable[..., Tensor],
    optimizer: Optimizer | str,
    epochs: int = 1,
    batch_size: int = 32,
    validation_split: float | None = None,
    validation_data: tuple[Any, Any] | None = None,
    callbacks: Sequence[Callback] = (),
    metrics: Sequence[Any] = (),
    l1: float = 0.0,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    clip_grad_norm: float | None = None,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    verbose: int = 1,
    initial_epoch: int = 0,
    compile: bool = True,
    distributed: bool | None = None,
) -> History:
    """Train ``model`` on ``(x, y)`` by mini-batch gradient descent; return the History.

    Shapes: x (N, ...) features; y (N,) integer classes for ``cross_entropy``, else
    (N, outputs) or (N,) values. ``loss`` is a name (``"cross_entropy"``, ``"mse"``,
    ``"bce_with_logits"``, ...) or a function ``(output, target) -> scalar``;
    ``optimizer`` a ``chainrule.optim`` optimizer over ``model.parameters()``, or a
    name (``"adam"``, ``"sgd"``, ... as ``optim.create``: the class's default options).

    Regularizers: weight decay through the optimizer, ``l1`` (λ·Σ|w| over weight
    matrices, not biases), dropout and batch norm in the model, ``augment`` (a
    ``chainrule.data`` transform applied to each training batch), and early
    stopping as a callback. ``validation_split`` holds out a seeded random
    fraction. ``seed`` fixes shuffling, augmentation and dropout masks: an int seeds
    them all (dropout layers get generators drawn from it); a ``numpy.random.Generator``
    is used as it is for shuffling and augmentation (its state advances) and dropout
    layers keep their own generators — what resuming from a checkpoint needs.

    ``compile`` (default True) runs each training step through ``cr.compile``: traced
    once per batch shape, replayed without building a graph, with the same results as
    ``compile=False`` (eager), bit for bit. A loss function that reads values while
    tracing (``.item()``, ``bool(tensor)``) makes the run continue eagerly.

    ``initial_epoch`` (Keras's name) resumes a run: epochs ``initial_epoch + 1`` to
    ``epochs`` are trained and recorded; the model, optimizer and generators are
    expected to hold the state they had at the end of epoch ``initial_epoch``.

    A non-finite loss or gradient raises ``TrainingDivergedError`` naming the epoch,
    the batch and the tensor, before any parameter is changed. The reported
    ``loss`` is the data loss (without the l1 term), averaged over the epoch.

    ``distributed``: data-parallel training over MPI (``mpiexec -n N python …``, every
    rank calling ``fit`` with the same arguments and data). None (default) turns it on
    when launched under MPI with more than one process; True insists (an error without
    mpi4py); False never. ``batch_size`` is then the *global* batch, each rank computes
    its part, and the gradients are summed with one Allreduce per step: the same model
    as one process (to 1e-10 in float64), BatchNorm1d with synchronised statistics.
    Dropout masks and ``augment`` draws differ from one process's (each rank draws for
    its rows). The progress bar is shown by rank 0 only.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(
            f"fit expected epochs >= 1 and batch_size >= 1, got {epochs}, {batch_size}"
        )
    if not 0 <= initial_epoch <= epochs:
        raise ValueError(f"fit expected 0 <= initial_epoch <= epochs, got {initial_epoch}")
    if validation_split is not None and validation_data is not None:
        raise ValueError("fit takes validation_split or validation_data, not both")
    loss_fn, kind = _resolve_loss(loss)
    optimizer = _resolve_optimizer(optimizer, model)
    parallel = use_distributed(distributed)
    dtype = _model_dtype(model)
    x = _as_features(x, "x", dtype)
    y = _as_array(y, "y")
    _check_samples(x, y, "x", "y")
    y = _prepare_targets(y, kind, dtype)
    rng = np.random.default_rng(seed)  # a Generator passes through unchanged
    if seed is not None and not isinstance(seed, np.random.Generator):
        _reseed(model, rng)

    x_val = y_val = None
    if validation_split:
        x, y, x_val, y_val = _split(x, y, validation_split, rng)
    elif validation_data is not None:
        x_val = _as_array(validation_data[0], "validation x", x.dtype).astype(x.dtype, copy=False)
        y_val = _as_array(validation_data[1], "validation y")
        _check_samples(x_val, y_val, "validation x", "validation y")
        y_val = _prepare_targets(y_val, kind, dtype)

    n = len(x)
    batch_norm = _has_batch_norm(model)
    if batch_norm and n == 1:
        raise ValueError(
            "fit cannot train a model with batch norm on a single sample: one row has "
            "no batch variance (give at least 2 rows)"
        )
    defaults: list[Callback] = [History()]
    if verbose and (not parallel or dist.is_main()):
        defaults.append(ProgressBar(verbose))
    defaults.append(DivergenceGuard())
    trainer = Trainer(
        model,
        optimizer,
        loss_fn,
        kind=kind,
        callbacks=[*defaults, *callbacks],
        metrics=_metric_functions(metrics),
        l1=l1,
        clip_grad_norm=clip_grad_norm,
        augment=augment,
        batch_size=batch_size,
        shuffle=shuffle,
        rng=rng,
        compile=compile,
        distributed=parallel,
    )
    validation = (x_val, y_val) if x_val is not None and y_val is not None else None
    return trainer.fit(
        x,
        y,
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation=validation,
        batch_norm=batch_norm,
    )


def use_distributed(distributed: bool | None) -> bool:
    """Whether to train data-parallel: ``fit``'s ``distributed`` (None: when launched
    under MPI with more than one process; True: insist, starting MPI; False: never)."""
    if distributed is None:
        return dist.launched_under_mpi() and dist.world_size() > 1
    if distributed:
        dist.init(force=True)
        return dist.world_size() > 1
    return False


def evaluate(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str | Callable[..., Tensor],
    metrics: Sequence[Any] = (),
    batch_size: int = 256,
) -> dict[str, float]:
    """Loss and metrics of ``model`` (in eval mode) on ``(x, y)``, without training."""
    loss_fn, kind = _resolve_loss(loss)
    dtype = _model_dtype(model)
    x = _as_features(x, "x", dtype)
    y = _prepare_targets(_as_array(y, "y"), kind, dtype)
    return evaluate_outputs(model, x, y, loss_fn, kind, _metric_functions(metrics), batch_size)


def predict(model: Any, x: Any, *, batch_size: int = 256) -> np.ndarray:
    """The model's raw outputs for ``x`` (eval mode, no graph), as a NumPy array."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        x = _as_features(x, "x", _model_dtype(model))
        return batched_outputs(model, x, batch_size)
    finally:
        if was_training:
            model.train()
