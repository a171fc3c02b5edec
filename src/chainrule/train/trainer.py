"""The one training loop: a ``Trainer`` runs steps and epochs and calls its callbacks.

Everything a run does besides the step itself is a callback, in Keras's way: the
``History``, the progress bar, the divergence guard, early stopping, learning-rate
schedules, checkpoints and resuming (``train.checkpoint``). ``fit`` builds a Trainer
with the default ones; the CLI and the scikit-learn estimators build theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ..autodiff.compile import Compiled, CompileError
from ..data.loader import batch_slices
from ..nn.utils import clip_grad_norm_, l1_penalty
from .callbacks import Callback
from .evaluation import evaluate_outputs, predictions, squeeze
from .guard import DivergenceGuard
from .history import History

Metric = tuple[str, Callable[..., Any]]


def _named_parameters(model: Any) -> list[tuple[str, Tensor]]:
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    return [(f"parameter {i}", p) for i, p in enumerate(model.parameters())]


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class _FlatGradients:
    """The compiled step's gradients by parameter name, in ``named``'s order, and as
    gradient holders for ``clip_grad_norm_`` (Tensors whose ``.grad`` is the view)."""

    def __init__(self, named: list[tuple[str, Tensor]]) -> None:
        self.named = named
        self.updater: Any = None
        self.views: list[tuple[str, np.ndarray]] = []
        self.holders: list[Tensor] = []
        self.flats: list[np.ndarray] = []

    def refresh(self, updater: Any) -> None:
        if updater is self.updater:
            return
        self.updater = updater
        by_id = dict(zip((id(p) for p in updater.order), updater.grads(), strict=True))
        self.views = [(name, by_id[id(p)]) for name, p in self.named if id(p) in by_id]
        self.holders = []
        for _, view in self.views:
            holder = Tensor(view)
            holder.grad = view
            self.holders.append(holder)
        self.flats = [group.gflat for group in updater.groups]


class Trainer:
    """One training loop: a step (compiled through ``cr.compile``, or eager), an epoch
    loop over seeded mini-batches, and a list of callbacks (Keras's protocol).

    Shapes: ``x`` (N, ...) inputs and ``y`` (N, ...) targets as ``fit`` prepared them.
    ``loss_fn(output, target) -> scalar Tensor``; ``kind`` says how outputs become
    predictions for ``metrics`` (``(name, fn(y_true, y_pred))`` pairs). The objective is
    the loss plus ``l1`` · Σ|w| over the weight matrices (``nn.utils.l1_penalty``);
    ``clip_grad_norm`` rescales gradients with ``nn.utils.clip_grad_norm_``; ``augment``
    transforms each training batch with ``rng``, which also shuffles.

    Callbacks see the run through ``self.trainer``: ``model``, ``optimizer``,
    ``history``, ``stop_training`` (set it to end after this epoch), ``epoch``,
    ``initial_epoch``, ``epochs``, ``batches``, ``has_validation`` and ``epoch_loss``
    (the running mean loss of the epoch). The ``History`` and the ``DivergenceGuard``
    in ``callbacks`` (if any) are the ones the loop uses. Only callbacks that override
    ``on_batch_begin`` / ``on_batch_end`` are called per batch; a callback's ``close()``
    method, if it has one, runs however training ends.
    """

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Callable[..., Tensor],
        *,
        kind: str = "auto",
        callbacks: Sequence[Callback] = (),
        metrics: Sequence[Metric] = (),
        l1: float = 0.0,
        clip_grad_norm: float | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        rng: np.random.Generator | None = None,
        compile: bool = True,
    ) -> None:
        self.model, self.optimizer, self.loss_fn, self.kind = model, optimizer, loss_fn, kind
        self.callbacks = list(callbacks)
        self.metrics = list(metrics)
        self.l1, self.clip_grad_norm, self.augment = l1, clip_grad_norm, augment
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = rng if rng is not None else np.random.default_rng()
        self.named = _named_parameters(model)
        self.weights = [p for _, p in self.named if p.data.ndim >= 2]
        history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if history is None:
            history = History()
            self.callbacks.insert(0, history)
        self.history: History = history
        self.guard = next((c for c in self.callbacks if isinstance(c, DivergenceGuard)), None)
        self.batch_hooks = [c for c in self.callbacks if _overrides(c, "on_batch_end")]
        self.begin_hooks = [c for c in self.callbacks if _overrides(c, "on_batch_begin")]
        self.step_fn: Compiled | None = None
        if compile and hasattr(optimizer, "param_groups"):
            self.step_fn = Compiled(self._objective, optimizer)
        self.flat_grads = _FlatGradients(self.named)
        self.stop_training = False
        self.epoch = self.initial_epoch = self.epochs = self.batches = 0
        self.has_validation = False
        self.loss_sum, self.seen = 0.0, 0
        for callback in self.callbacks:
            callback.trainer = self

    @property
    def epoch_loss(self) -> float:
        """The mean loss of the epoch's batches so far (weighted by their rows)."""
        return self.loss_sum / max(self.seen, 1)

    # -- one step --------------------------------------------------------------------
    def _objective(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(objective, data loss, output) of a batch: what the step differentiates."""
        output = self.model(xb)
        data_loss = self.loss_fn(output, yb)
        if self.l1 and self.weights:
            return data_loss + self.l1 * l1_penalty(self.weights), data_loss, output
        return data_loss, data_loss, output

    def train_step(self, xb: np.ndarray, yb: np.ndarray, batch: int) -> tuple[np.ndarray, float]:
        """Forward, backward, checks, clipping and the optimizer step; (output, data loss)."""
        if self.step_fn is not None:
            try:
                return self._compiled_step(xb, yb, batch)
            except CompileError:
                self.step_fn = None  # fn reads values while tracing: go on eagerly
        return self._eager_step(xb, yb, batch)

    def _compiled_step(self, xb: np.ndarray, yb: np.ndarray, batch: int):
        step, guard, epoch = self.step_fn, self.guard, self.epoch
        assert step is not None
        objective, data_loss, output = step.forward_backward(Tensor(xb), Tensor(yb))
        if guard is not None:
            guard.check_loss(float(objective), epoch, batch)
        updater = step.updater
        if updater is None:
            raise CompileError("fit: no parameter of the optimizer reaches the loss")
        grads = self.flat_grads
        grads.refresh(updater)
        norm = 0.0
        if guard is not None:
            norm = guard.check_gradients(grads.views, grads.flats, epoch, batch)
        if self.clip_grad_norm is not None:
            clip_grad_norm_(grads.holders, self.clip_grad_norm)
        if guard is not None:
            guard.step(step.update, norm, epoch, batch, updater)
        else:
            step.update()
        return output, float(data_loss)

    def _eager_step(self, xb: np.ndarray, yb: np.ndarray, batch: int):
        guard, epoch = self.guard, self.epoch
        self.optimizer.zero_grad()
        objective, data_loss, output = self._objective(Tensor(xb), Tensor(yb))
        if guard is not None:
            guard.check_loss(float(objective.data), epoch, batch)
        objective.backward()
        norm = 0.0
        if guard is not None:
            grads = [(name, p.grad) for name, p in self.named]
            norm = guard.check_gradients(grads, None, epoch, batch)
        if self.clip_grad_norm is not None:
            clip_grad_norm_([p for _, p in self.named], self.clip_grad_norm)
        if guard is not None:
            guard.step(self.optimizer.step, norm, epoch, batch)
        else:
            self.optimizer.step()
        return output.data, float(data_loss.data)

    # -- epochs ------------------------------------------------------------------------
    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int,
        initial_epoch: int = 0,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        batch_norm: bool = False,
    ) -> History:
        """Train epochs ``initial_epoch + 1`` to ``epochs`` on ``(x, y)``; the History.

        ``validation`` (x, y) is evaluated after each epoch (``val_`` keys).
        ``batch_norm``: merge a last batch of one row into the one before it.
        """
        n = len(x)
        bounds = batch_slices(n, self.batch_size, merge_single=batch_norm)
        self.epochs, self.batches, self.initial_epoch = epochs, len(bounds), initial_epoch
        self.has_validation = validation is not None
        self.stop_training = False
        callbacks = self.callbacks
        logs: dict[str, Any] = {}
        try:
            for callback in callbacks:
                callback.on_train_begin(logs)
            for epoch in range(initial_epoch + 1, epochs + 1):
                logs = self._epoch(epoch, x, y, bounds, validation)
                if self.stop_training:
                    break
        finally:
            for callback in callbacks:
                close = getattr(callback, "close", None)
                if close is not None:
                    close()
        for callback in callbacks:
            callback.on_train_end(logs)
        self.model.eval()
        return self.history

    def _epoch(self, epoch, x, y, bounds, validation) -> dict[str, Any]:
        self.epoch = epoch
        started = time.perf_counter()
        logs: dict[str, Any] = {}
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)
        self.model.train()
        n = len(x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        outputs: list[np.ndarray] | None = [] if self.metrics else None
        self.loss_sum, self.seen = 0.0, 0
        batch_hooks, begin_hooks = self.batch_hooks, self.begin_hooks
        for batch, (start, stop) in enumerate(bounds, start=1):
            for callback in begin_hooks:
                callback.on_batch_begin(batch, {})
            index = order[start:stop]
            xb, yb = x[index], y[index]
            if self.augment is not None:
                xb = self.augment(xb, self.rng)
            output, batch_loss = self.train_step(xb, yb, batch)
            self.loss_sum += batch_loss * len(index)
            self.seen = stop
            if outputs is not None:
                outputs.append(predictions(output, self.kind))
            for callback in batch_hooks:
                callback.on_batch_end(batch, {"loss": batch_loss})
        logs = {"loss": self.loss_sum / n}
        if outputs is not None:
            predicted, truth = squeeze(np.concatenate(outputs)), squeeze(y[order])
            for name, metric in self.metrics:
                logs[name] = float(metric(truth, predicted))
        if validation is not None:
            x_val, y_val = validation
            logs.update(
                evaluate_outputs(
                    self.model,
                    x_val,
                    y_val,
                    self.loss_fn,
                    self.kind,
                    self.metrics,
                    self.batch_size,
                    "val_",
                )
            )
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        logs["seconds"] = time.perf_counter() - started
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)
        return logs
