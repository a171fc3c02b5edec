"""The training loop: ``fit``, plus ``evaluate`` and ``predict`` on whole arrays.

``fit`` follows Keras's shape (epochs, batches, validation, callbacks, History)
on PyTorch's parts (a Module, a loss function, a torch.optim-style optimizer).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import nn
from ..autodiff import Tensor, no_grad
from ..autodiff import functions as ops
from ..autodiff.compile import Compiled, CompileError
from ..data.reading import frame_matrix, is_frame
from ..nn import functional as F
from ..optim import Optimizer
from .callbacks import Callback
from .errors import TrainingDivergedError
from .history import History
from .metrics import get_metric
from .progress import Progress

# name -> (loss function, how outputs become predictions for metrics)
LOSSES: dict[str, tuple[Callable[..., Tensor], str]] = {
    "mse": (F.mse_loss, "values"),
    "l1": (F.l1_loss, "values"),
    "mae": (F.l1_loss, "values"),
    "huber": (F.huber_loss, "values"),
    "smooth_l1": (F.smooth_l1_loss, "values"),
    "cross_entropy": (F.cross_entropy, "argmax"),
    "nll": (F.nll_loss, "argmax"),
    "bce_with_logits": (F.binary_cross_entropy_with_logits, "logit_sign"),
    "bce": (F.binary_cross_entropy, "half"),
}
_KIND_OF_FUNCTION = {id(fn): kind for fn, kind in LOSSES.values()}


class Trainer:
    """What callbacks see of a running ``fit``: set ``stop_training`` to end it."""

    def __init__(self, model: Any, optimizer: Any, history: History, has_validation: bool):
        self.model = model
        self.optimizer = optimizer
        self.history = history
        self.has_validation = has_validation
        self.stop_training = False
        self.epoch = 0
        self.initial_epoch = 0


def _resolve_loss(loss: str | Callable[..., Tensor]) -> tuple[Callable[..., Tensor], str]:
    if isinstance(loss, str):
        key = loss.lower().replace("_loss", "").replace("binary_cross_entropy", "bce")
        if key not in LOSSES:
            raise ValueError(f"fit got unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        return LOSSES[key]
    if not callable(loss):
        raise TypeError(f"fit expected loss to be a name or a callable, got {type(loss).__name__}")
    return loss, _KIND_OF_FUNCTION.get(id(loss), "auto")


def _predictions(output: np.ndarray, kind: str) -> np.ndarray:
    """Turn raw model outputs into what metrics compare with the targets."""
    if kind == "auto":
        kind = "argmax" if output.ndim == 2 and output.shape[1] > 1 else "values"
    if kind == "argmax":
        return output.argmax(axis=-1)
    if kind == "logit_sign":
        return (output > 0).astype(np.int64)
    if kind == "half":
        return (output > 0.5).astype(np.int64)
    return output


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
    """(start, stop) of each mini-batch of an epoch over ``n`` samples.

    With batch norm, a last batch of a single row is merged into the one before it
    (one row has no batch variance: PyTorch raises on it, and its normalized output
    would be all zeros): 33 rows in batches of 32 train as one batch of 33.
    """
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if batch_norm and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


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


def _named_parameters(model: Any) -> list[tuple[str, Tensor]]:
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    return [(f"parameter {i}", p) for i, p in enumerate(model.parameters())]


def _reseed(model: Any, rng: np.random.Generator) -> None:
    """Give every module that draws random numbers (dropout) its own seeded generator."""
    modules = model.modules() if hasattr(model, "modules") else ()
    for module in modules:
        if isinstance(getattr(module, "generator", None), np.random.Generator):
            module.generator = np.random.default_rng(rng.integers(2**63))


def _split(x, y, fraction: float, rng: np.random.Generator):
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split expected a fraction in (0, 1), got {fraction}")
    n = len(x)
    n_val = round(n * fraction)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={fraction} leaves no samples on one side of {n}")
    order = rng.permutation(n)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


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


def _check_loss(value: float, epoch: int, batch: int) -> None:
    if not math.isfinite(value):
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch}, batch {batch}: the loss is {value}; "
            "no parameter was updated with it (lower the learning rate, clip "
            "gradients, or check the data)",
            epoch=epoch,
            batch=batch,
            tensor="loss",
        )


def _objective(model: Any, loss_fn: Callable, l1: float, weights: list[Tensor]) -> Callable:
    """What one training step computes: (objective, data loss, output), for cr.compile."""

    def objective(xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        output = model(xb)
        data_loss = loss_fn(output, yb)
        total = data_loss
        if l1 and weights:
            penalty = None
            for w in weights:
                term = ops.abs(w).sum()
                penalty = term if penalty is None else penalty + term
            total = data_loss + l1 * penalty
        return total, data_loss, output

    return objective


class _FlatGradients:
    """The compiled step's gradients by parameter name, in ``named``'s order."""

    def __init__(self, named: list[tuple[str, Tensor]]) -> None:
        self.named = named
        self.updater: Any = None
        self.views: list[tuple[str, np.ndarray]] = []
        self.flats: list[np.ndarray] = []

    def refresh(self, updater: Any) -> None:
        if updater is self.updater:
            return
        self.updater = updater
        by_id = dict(zip((id(p) for p in updater.order), updater.grads(), strict=True))
        self.views = [(name, by_id[id(p)]) for name, p in self.named if id(p) in by_id]
        self.flats = [group.gflat for group in updater.groups]

    def norm(self, exact: bool, epoch: int, batch: int) -> float:
        """The gradient norm (``_check_gradients``'s sum when ``exact``); raises if not finite.

        Without ``exact`` one dot product per flat buffer says whether all is finite.
        """
        if not exact:
            total = 0.0
            for flat in self.flats:
                total += float(np.dot(flat, flat))
            if math.isfinite(total):
                return math.sqrt(total)
        return _gradient_norm(self.views, epoch, batch)


def _compiled_step(
    step: Compiled,
    grads: _FlatGradients,
    guard: _StepGuard,
    xb: np.ndarray,
    yb: np.ndarray,
    clip_grad_norm: float | None,
    epoch: int,
    batch: int,
) -> tuple[np.ndarray, float]:
    """One compiled training step with eager fit's checks; (output, data loss)."""
    objective, data_loss, output = step.forward_backward(Tensor(xb), Tensor(yb))
    _check_loss(float(objective), epoch, batch)
    if step.updater is None:
        raise CompileError("fit: no parameter of the optimizer reaches the loss")
    grads.refresh(step.updater)
    norm = grads.norm(clip_grad_norm is not None, epoch, batch)
    if clip_grad_norm is not None and norm > clip_grad_norm:
        scale = clip_grad_norm / (norm + 1e-6)
        for _, grad in grads.views:
            grad *= scale
    guard.step(epoch, batch, step.update, step.updater)
    return output, float(data_loss)


def _check_gradients(named: list[tuple[str, Tensor]], epoch: int, batch: int) -> float:
    """The global gradient norm; raises before any update if a gradient is not finite."""
    return _gradient_norm([(name, p.grad) for name, p in named], epoch, batch)


def _gradient_norm(grads: list[tuple[str, np.ndarray | None]], epoch: int, batch: int) -> float:
    """The norm of all ``(name, gradient)`` arrays; a non-finite one raises naming it."""
    total = 0.0
    for _, grad in grads:
        if grad is not None:
            total += float(np.vdot(grad, grad))
    if math.isfinite(total):
        return math.sqrt(total)
    for name, grad in grads:
        if grad is not None and not np.all(np.isfinite(grad)):
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch}, batch {batch}: the gradient of "
                f"{name!r} is not finite; no parameter was updated with it (lower the "
                "learning rate, clip gradients, or check the data)",
                epoch=epoch,
                batch=batch,
                tensor=name,
            )
    raise TrainingDivergedError(  # finite gradients whose squares overflow
        f"training diverged at epoch {epoch}, batch {batch}: the gradient norm overflows",
        epoch=epoch,
        batch=batch,
        tensor="gradient norm",
    )


class _StepGuard:
    """``optimizer.step()``, checked: parameters must be finite after it.

    Finite gradients can still make a non-finite update (``SGD(lr=1e38)``, an Adam
    denominator underflowing). Before each step the parameters and the optimizer's
    state are copied into buffers kept from step to step (no allocation); after it,
    one sum per parameter tells whether all its values are finite (a sum of finite
    values is finite or overflows, and any NaN or inf makes it non-finite), and only
    then is the exact check made. A bad step is undone — parameters and optimizer
    state both — before ``TrainingDivergedError`` is raised.
    """

    def __init__(self, named: list[tuple[str, Tensor]], optimizer: Any) -> None:
        self.named, self.optimizer = named, optimizer
        self.saved_params = [np.empty_like(p.data) for _, p in named]
        self.pairs = [(buffer, p) for buffer, (_, p) in zip(self.saved_params, named, strict=True)]
        self.owns_state = isinstance(optimizer, Optimizer)
        # The optimizer's own parameter order: its state_dict's positions.
        seen: dict[int, Tensor] = {}
        for group in getattr(optimizer, "param_groups", ()):
            for parameter in group["params"]:
                seen.setdefault(id(parameter), parameter)
        self.positions = list(seen.values())
        self.saved_state: dict[int, dict[str, Any]] = {}
        # The compiled step's flat snapshot: its buffers, their copies, the step counts.
        self.flat_saved: list[tuple[np.ndarray, np.ndarray]] = []
        self.flat_counts: Any = None

    def _snapshot_flat(self, arrays: list[np.ndarray], updater: Any) -> None:
        """Copy the compiled update's flat buffers (a few calls, not one per array)."""
        saved = self.flat_saved
        if len(saved) != len(arrays) or any(
            a is not s[0] for a, s in zip(arrays, saved, strict=False)
        ):
            saved[:] = [(a, np.empty_like(a)) for a in arrays]
        for array, copy in saved:
            np.copyto(copy, array)
        self.flat_counts = (updater, updater.counts())

    def _snapshot(self) -> None:
        # p.data is read each time: a flat optimizer may re-point it into its buffer.
        for buffer, parameter in self.pairs:
            np.copyto(buffer, parameter.data)
        if not self.owns_state:
            return
        state = self.optimizer.state
        if not any(state.values()):  # plain SGD: no state to keep
            self.saved_state = {}
            return
        snapshot: dict[int, dict[str, Any]] = {}
        for index, parameter in enumerate(self.positions):
            entries = state.get(parameter)  # .get: a defaultdict must not grow here
            if not entries:
                continue
            kept = self.saved_state.get(index, {})
            copied: dict[str, Any] = {}
            for name, value in entries.items():
                if isinstance(value, np.ndarray):
                    buffer = kept.get(name)
                    if not isinstance(buffer, np.ndarray) or buffer.shape != value.shape:
                        buffer = np.empty_like(value)
                    np.copyto(buffer, value)
                    copied[name] = buffer
                else:
                    copied[name] = value
            snapshot[index] = copied
        self.saved_state = snapshot

    def _rollback(self) -> None:
        if self.flat_counts is not None:
            for array, copy in self.flat_saved:
                np.copyto(array, copy)
            updater, counts = self.flat_counts
            updater.restore_counts(counts)
            return
        for buffer, parameter in self.pairs:
            np.copyto(parameter.data, buffer)
        # Only chainrule's optimizers are known to keep their state by position as
        # state_dict() shows it; another object keeps what its step left.
        if self.owns_state:
            groups = self.optimizer.state_dict()["param_groups"]
            self.optimizer.load_state_dict({"state": self.saved_state, "param_groups": groups})

    def _non_finite(self) -> str | None:
        for name, parameter in self.named:
            if not np.all(np.isfinite(parameter.data)):
                return name
        return None

    def step(
        self, epoch: int, batch: int, update: Callable[[], Any] | None = None, flat: Any = None
    ) -> None:
        """Run ``update`` (default ``optimizer.step``), undoing it if it overflowed.

        ``flat``, a compiled step's updater, says which flat buffers its update
        writes: then only those are copied (parameters and state in a few calls).
        """
        update = self.optimizer.step if update is None else update
        arrays = None if flat is None else flat.flat_arrays()
        if arrays is not None:
            self._snapshot_flat(arrays, flat)
        else:
            self.flat_counts = None
            self._snapshot()
        try:
            # The floating-point flags make the check free: a step that overflows
            # raises here, and only then is anything inspected.
            with np.errstate(over="raise", invalid="raise"):
                update()
            return
        except FloatingPointError:
            self._rollback()
        # Some overflow inside the update need not reach the parameters (say, a
        # square in a denominator): redo the same step and look at the result itself.
        with np.errstate(over="ignore", invalid="ignore"):
            update()
        bad = self._non_finite()
        if bad is None:
            return
        self._rollback()
        raise TrainingDivergedError(
            f"training diverged at epoch {epoch}, batch {batch}: the optimizer step "
            f"overflowed and made {bad!r} non-finite; the step was undone (parameters and "
            "optimizer state are as before it; lower the learning rate or clip gradients)",
            epoch=epoch,
            batch=batch,
            tensor=bad,
        )


def fit(
    model: Any,
    x: Any,
    y: Any,
    *,
    loss: str | Callable[..., Tensor],
    optimizer: Any,
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
) -> History:
    """Train ``model`` on ``(x, y)`` by mini-batch gradient descent; return the History.

    Shapes: x (N, ...) features; y (N,) integer classes for ``cross_entropy``, else
    (N, outputs) or (N,) values. ``loss`` is a name (``"cross_entropy"``, ``"mse"``,
    ``"bce_with_logits"``, ...) or a function ``(output, target) -> scalar``;
    ``optimizer`` a ``chainrule.optim`` optimizer over ``model.parameters()``.

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
    dtype = _model_dtype(model)
    x = _as_array(x, "x", dtype)
    y = _as_array(y, "y")
    _check_samples(x, y, "x", "y")
    if x.dtype.kind == "f" and x.dtype != dtype:
        x = x.astype(dtype)
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

    named = _named_parameters(model)
    weights = [p for _, p in named if p.data.ndim >= 2]
    metric_fns = _metric_functions(metrics)
    history = History()
    trainer = Trainer(model, optimizer, history, has_validation=x_val is not None)
    trainer.initial_epoch = initial_epoch
    for callback in callbacks:
        callback.trainer = trainer
    n = len(x)
    batch_norm = _has_batch_norm(model)
    if batch_norm and n == 1:
        raise ValueError(
            "fit cannot train a model with batch norm on a single sample: one row has "
            "no batch variance (give at least 2 rows)"
        )
    bounds = batch_bounds(n, batch_size, batch_norm)
    n_batches = len(bounds)
    guard = _StepGuard(named, optimizer)
    progress = Progress(epochs, n_batches, verbose)
    logs: dict[str, Any] = {}
    for callback in callbacks:
        callback.on_train_begin(logs)
    # Only callbacks that override on_batch_end cost anything per batch.
    batch_hooks = [c for c in callbacks if type(c).on_batch_end is not Callback.on_batch_end]
    step = None
    if compile and hasattr(optimizer, "param_groups"):
        step = Compiled(_objective(model, loss_fn, l1, weights), optimizer)
    flat_grads = _FlatGradients(named)

    try:
        for epoch in range(initial_epoch + 1, epochs + 1):
            trainer.epoch = epoch
            started = time.perf_counter()
            for callback in callbacks:
                callback.on_epoch_begin(epoch, logs)
            progress.epoch_begin(epoch)
            model.train()
            order = rng.permutation(n) if shuffle else np.arange(n)
            predictions = [] if metric_fns else None
            total_loss = 0.0
            for batch, (start, stop) in enumerate(bounds, start=1):
                index = order[start:stop]
                xb, yb = x[index], y[index]
                if augment is not None:
                    xb = augment(xb, rng)
                if step is not None:
                    try:
                        output, batch_loss = _compiled_step(
                            step, flat_grads, guard, xb, yb, clip_grad_norm, epoch, batch
                        )
                    except CompileError:
                        step = None  # fn reads values while tracing: go on eagerly
                if step is not None:
                    total_loss += batch_loss * len(index)
                    if predictions is not None:
                        predictions.append(_predictions(output, kind))
                    progress.batch_end(batch, total_loss / stop)
                    for callback in batch_hooks:
                        callback.on_batch_end(batch, {"loss": batch_loss})
                    continue
                optimizer.zero_grad()
                output = model(Tensor(xb))
                data_loss = loss_fn(output, Tensor(yb))
                objective = data_loss
                if l1:
                    penalty = None
                    for w in weights:
                        term = ops.abs(w).sum()
                        penalty = term if penalty is None else penalty + term
                    if penalty is not None:
                        objective = data_loss + l1 * penalty
                _check_loss(float(objective.data), epoch, batch)
                objective.backward()
                norm = _check_gradients(named, epoch, batch)
                if clip_grad_norm is not None and norm > clip_grad_norm:
                    scale = clip_grad_norm / (norm + 1e-6)
                    for _, parameter in named:
                        if parameter.grad is not None:
                            parameter.grad *= scale
                guard.step(epoch, batch)
                batch_loss = float(data_loss.data)
                total_loss += batch_loss * len(index)
                if predictions is not None:
                    predictions.append(_predictions(output.data, kind))
                progress.batch_end(batch, total_loss / stop)
                for callback in batch_hooks:
                    callback.on_batch_end(batch, {"loss": batch_loss})

            logs = {"loss": total_loss / n}
            if metric_fns:
                predicted = np.concatenate(predictions)
                truth = y[order]
                for name, metric in metric_fns:
                    logs[name] = float(metric(_squeeze(truth), _squeeze(predicted)))
            if x_val is not None:
                logs.update(
                    _evaluate(
                        model, x_val, y_val, loss_fn, kind, metric_fns, batch_size, prefix="val_"
                    )
                )
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            logs["seconds"] = time.perf_counter() - started
            history.record(epoch, logs)
            progress.epoch_end(epoch, logs)
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if trainer.stop_training:
                history.stopped_epoch = epoch
                break
    finally:
        progress.close()
    for callback in callbacks:
        callback.on_train_end(logs)
    model.eval()
    return history


def _squeeze(values: np.ndarray) -> np.ndarray:
    return values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values


# Network activations per forward block when evaluating (8 MB of float32): a few large
# matrix products rather than one per 256 rows, whose BLAS threads each wait for a CPU
# when the machine is busy (seconds, on a shared 2-core machine, for 40,000 rows).
EVAL_CELLS = 1 << 21
MIN_BLOCK_ROWS = 256  # fit's and Pipeline's own batch for predicting


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


def _batched_outputs(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    parts = []
    with no_grad():
        for start in range(0, len(x), batch_size):
            parts.append(model(Tensor(x[start : start + batch_size])).data)
    return np.concatenate(parts)


def _evaluate(model, x, y, loss_fn, kind, metric_fns, batch_size, prefix="") -> dict[str, float]:
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        inputs = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
        rows = max(batch_size, eval_block_rows(model, inputs))
        output = _batched_outputs(model, x, rows)
        with no_grad():
            logs = {f"{prefix}loss": float(loss_fn(Tensor(output), Tensor(y)).data)}
        predicted = _predictions(output, kind)
        for name, metric in metric_fns:
            logs[f"{prefix}{name}"] = float(metric(_squeeze(y), _squeeze(predicted)))
    finally:
        if was_training:
            model.train()
    return logs


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
    x = _as_array(x, "x", dtype)
    x = x.astype(dtype) if x.dtype.kind == "f" and x.dtype != dtype else x
    y = _prepare_targets(_as_array(y, "y"), kind, dtype)
    return _evaluate(model, x, y, loss_fn, kind, _metric_functions(metrics), batch_size)


def predict(model: Any, x: Any, *, batch_size: int = 256) -> np.ndarray:
    """The model's raw outputs for ``x`` (eval mode, no graph), as a NumPy array."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        dtype = _model_dtype(model)
        x = _as_array(x, "x", dtype)
        if x.dtype.kind == "f" and x.dtype != dtype:
            x = x.astype(dtype)
        return _batched_outputs(model, x, batch_size)
    finally:
        if was_training:
            model.train()
