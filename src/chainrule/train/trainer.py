"""The one training loop: a ``Trainer`` runs steps and epochs and calls its callbacks.

Everything a run does besides the step itself is a callback, in Keras's way: the
``History``, the progress bar, the divergence guard, early stopping, learning-rate
schedules, checkpoints and resuming (``train.checkpoint``). ``fit`` builds a Trainer
with the default ones; the CLI and the scikit-learn estimators build theirs.

Data parallelism over MPI (``distributed=True`` under ``mpiexec -n N``) is a few lines
of the same loop, not a second one: rank 0's parameters are broadcast when ``fit``
starts (also after resuming); every rank draws the same (broadcast) permutation and
takes its contiguous part of each global batch (``distributed.local_batch``); the
compiled step differentiates the local mean loss × ``local_weight`` (an input of the
step, so one trace serves every batch), and between ``forward_backward`` and
``update`` one in-place ``Allreduce`` (SUM) of each flat gradient buffer makes the
gradient of the global batch, on every rank. The loss that the guard checks and the
History records is the reduced one, and the gradient it checks is the reduced one, so
every decision (divergence, early stopping, ``stop_training``) is taken on the same
numbers on every rank: no rank steps on a NaN, none waits. BatchNorm1d layers use
synchronised statistics (``BatchNorm1d.sync_stats``) while training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import distributed as dist
from .. import nn
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
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


def _rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``array[index]`` (rows): ``take`` for a plain ndarray, several times faster than
    fancy indexing on a small batch (the same copy), else the array's own indexing."""
    if type(array) is np.ndarray:
        return array.take(index, axis=0)
    return array[index]


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


class StepObjective:
    """(objective, data loss, output) of a batch: what a step differentiates.

    The model's output for ``xb`` (B, ...), ``loss_fn(output, yb)`` and, with ``l1``,
    ``data loss + l1 · Σ|w|`` over ``weights``. It holds those parts and not the
    ``Trainer``, so that a step compiled on it (``Trainer.step_fn``) can serve a later
    Trainer over the same parts (``Trainer(step=...)``) without keeping the first one
    (its callbacks, its data) alive.
    """

    __slots__ = ("l1", "loss_fn", "model", "weights")

    def __init__(
        self, model: Any, loss_fn: Callable[..., Tensor], l1: float, weights: list[Tensor]
    ) -> None:
        self.model, self.loss_fn, self.l1, self.weights = model, loss_fn, l1, weights

    def __call__(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        output = self.model(xb)
        data_loss = self.loss_fn(output, yb)
        if self.l1 and self.weights:
            return data_loss + self.l1 * l1_penalty(self.weights), data_loss, output
        return data_loss, data_loss, output


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

    ``distributed``: data-parallel over the MPI world (see the module doc); every rank
    builds the same Trainer and calls ``fit`` (or ``fit_batches``) with the same data.

    ``step``: the ``step_fn`` of an earlier Trainer over the very same ``model``,
    ``optimizer``, ``loss_fn`` and ``l1`` (one process, compiled), to reuse: its traces
    are kept, so batches of shapes it has seen are not traced again. The caller
    vouches that nothing a trace freezes changed in between (the loss's constants, the
    parameters' ``requires_grad``); the parameters' values and the optimizer's state
    may (``optimizer.state.clear()`` starts it afresh).
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
        distributed: bool = False,
        step: Compiled | None = None,
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
        # set again when a run starts (callbacks may be added in between)
        self.epoch_begin_hooks = [c for c in self.callbacks if _overrides(c, "on_epoch_begin")]
        self.epoch_end_hooks = [c for c in self.callbacks if _overrides(c, "on_epoch_end")]
        self.mode_modules: list[Any] | None = None
        self.world, self.rank = (dist.world_size(), dist.rank()) if distributed else (1, 0)
        self.dtype = self.named[0][1].data.dtype if self.named else np.dtype(np.float32)
        self.objective = StepObjective(model, loss_fn, l1, self.weights)
        self.step_fn: Compiled | None = None
        if compile and hasattr(optimizer, "param_groups"):
            if step is not None and self.world == 1:
                self.step_fn = self._reusable(step)
            else:
                objective = self._scaled_objective if self.world > 1 else self.objective
                self.step_fn = Compiled(objective, optimizer)
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

    def _reusable(self, step: Compiled) -> Compiled:
        """``step`` if it was compiled on this Trainer's parts (see ``step``), else an error."""
        fn = step.fn
        same = (
            isinstance(fn, StepObjective)
            and step.optimizer is self.optimizer
            and fn.model is self.model
            and fn.loss_fn is self.loss_fn
            and fn.l1 == self.l1
        )
        if not same:
            raise ValueError(
                "Trainer's step expected the step_fn of a Trainer over the same model, "
                "optimizer, loss_fn and l1, got one compiled on other parts"
            )
        return step

    # -- one step --------------------------------------------------------------------
    def _objective(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(objective, data loss, output) of a batch: what the step differentiates."""
        return self.objective(xb, yb)

    def _scaled_objective(
        self, xb: Tensor, yb: Tensor, weight: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The objective × this rank's ``local_weight`` (a 0-d input): summed over the
        ranks, its gradient is that of the global batch's mean."""
        objective, data_loss, output = self._objective(xb, yb)
        return objective * weight, data_loss, output

    def train_step(
        self, xb: np.ndarray, yb: np.ndarray, batch: int, weight: float = 1.0
    ) -> tuple[np.ndarray, float]:
        """Forward, backward, checks, clipping and the optimizer step; (output, data loss).

        Distributed, ``weight`` is ``local_weight(rows here, rows of the global batch)``
        and the data loss returned is the global batch's (reduced over the ranks).
        """
        if self.step_fn is not None:
            try:
                return self._compiled_step(xb, yb, batch, weight)
            except CompileError:
                self.step_fn = None  # fn reads values while tracing: go on eagerly
        return self._eager_step(xb, yb, batch, weight)

    def _reduced(self, objective: float, data_loss: float, weight: float) -> tuple[float, float]:
        """(objective, data loss) of the global batch: Σ over ranks of weight × local mean
        (one small Allreduce; the same numbers on every rank)."""
        if self.world == 1:
            return objective, data_loss
        # The objective arrives already weighted (the step differentiates it so).
        total = dist.allreduce_scalars(objective, data_loss * weight)
        return float(total[0]), float(total[1])

    def _compiled_step(self, xb: np.ndarray, yb: np.ndarray, batch: int, weight: float = 1.0):
        step, guard, epoch = self.step_fn, self.guard, self.epoch
        assert step is not None
        if self.world > 1:
            scale = Tensor(np.asarray(weight, dtype=self.dtype))
            objective, data_loss, output = step.forward_backward(Tensor(xb), Tensor(yb), scale)
        else:
            objective, data_loss, output = step.forward_backward(Tensor(xb), Tensor(yb))
        updater = step.updater
        if updater is None:
            raise CompileError("fit: no parameter of the optimizer reaches the loss")
        grads = self.flat_grads
        grads.refresh(updater)
        if self.world > 1:
            # Σ over ranks: the global batch's gradient and (objective, data loss), the
            # loss riding along the gradient's Allreduce (one wait for the slowest rank).
            # The objective arrives already weighted (the step differentiates it so).
            total = dist.allreduce_with_scalars_(
                grads.flats, float(objective), float(data_loss) * weight
            )
            objective, data_loss = float(total[0]), float(total[1])
        else:
            objective, data_loss = float(objective), float(data_loss)
        norm = 0.0
        if guard is not None:
            guard.check_loss(objective, epoch, batch)
            norm = guard.check_gradients(grads.views, grads.flats, epoch, batch)
        if self.clip_grad_norm is not None:
            clip_grad_norm_(grads.holders, self.clip_grad_norm)
        if guard is not None:
            guard.step(step.update, norm, epoch, batch, updater)
        else:
            step.update()
        return output, data_loss

    def _eager_step(self, xb: np.ndarray, yb: np.ndarray, batch: int, weight: float = 1.0):
        guard, epoch = self.guard, self.epoch
        self.optimizer.zero_grad()
        objective, data_loss, output = self._objective(Tensor(xb), Tensor(yb))
        if self.world > 1:
            objective = objective * Tensor(np.asarray(weight, dtype=self.dtype))
        total, loss = self._reduced(float(objective.data), float(data_loss.data), weight)
        if guard is not None:
            guard.check_loss(total, epoch, batch)
        objective.backward()
        if self.world > 1:
            for _, p in self.named:  # one Allreduce per parameter: the eager fallback
                if p.grad is not None and p.grad.flags.c_contiguous:
                    dist.allreduce_(p.grad)  # in place: a fused optimizer's flat view
                elif p.grad is not None:
                    p.grad = dist.allreduce_(np.ascontiguousarray(p.grad))
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
        return output.data, loss

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
        if self.world > 1:
            bounds = self._check_world(bounds)
        return self._run(epochs, initial_epoch, len(bounds), validation, (x, y, bounds))

    def fit_batches(
        self,
        batches: Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]],
        *,
        epochs: int,
        initial_epoch: int = 0,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        steps: int = 0,
    ) -> History:
        """Train on a stream: ``batches(epoch)`` gives that epoch's ``(x (b, ...), y (b,))``
        batches (e.g. ``data.StreamingDataset.batches``), never all in memory. ``steps``:
        the expected batches per epoch, for the progress display (``self.batches``).
        Training metrics are not computed on a stream (the loss is; ``validation``
        gives ``val_`` metrics).

        Distributed, each rank streams its own shard's batches (local batches: the global
        batch is their union); before each step one small Allreduce asks whether every
        rank still has a batch, so the ranks stay in lockstep: the epoch ends when the
        first rank's shard is exhausted (the other ranks' remaining rows of that epoch
        are left out: balanced shards lose at most a batch or so). The loss weights are
        ``local rows / global rows`` of each step, so uneven batches stay exact.
        """
        return self._run(epochs, initial_epoch, steps, validation, batches)

    def _check_world(self, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Every global batch must give each rank at least one row: the batch size at
        least the world size, and a shorter last batch merged into the one before."""
        if self.batch_size < self.world:
            raise ValueError(
                f"distributed training expected a global batch size of at least the "
                f"{self.world} processes, got {self.batch_size}"
            )
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < self.world:
            bounds = [*bounds[:-2], (bounds[-2][0], bounds[-1][1])]
        return bounds

    def _batch_norms(self) -> list[Any]:
        modules = self.model.modules() if hasattr(self.model, "modules") else ()
        return [m for m in modules if isinstance(m, nn.BatchNorm1d)]

    def _run(self, epochs, initial_epoch, batches, validation, data) -> History:
        self.epochs, self.batches, self.initial_epoch = epochs, batches, initial_epoch
        self.has_validation = validation is not None
        self.stop_training = False
        callbacks = self.callbacks
        # Only the callbacks that do something at an epoch's ends are called there
        # (most do nothing then; a one-batch epoch costs microseconds).
        self.epoch_begin_hooks = [c for c in callbacks if _overrides(c, "on_epoch_begin")]
        self.epoch_end_hooks = [c for c in callbacks if _overrides(c, "on_epoch_end")]
        self.mode_modules = self._mode_modules()
        logs: dict[str, Any] = {}
        synced = self._batch_norms() if self.world > 1 else []
        try:
            if self.world > 1:  # rank 0's weights everywhere (also after a resume)
                dist.broadcast_parameters(self.model)
            for module in synced:
                module.sync_stats = True
            for callback in callbacks:
                callback.on_train_begin(logs)
            for epoch in range(initial_epoch + 1, epochs + 1):
                if isinstance(data, tuple):
                    x, y, bounds = data
                    logs = self._epoch(epoch, x, y, bounds, validation)
                else:
                    logs = self._stream_epoch(epoch, data, validation)
                if self.stop_training:
                    break
        finally:
            for module in synced:
                module.sync_stats = False
            for callback in callbacks:
                close = getattr(callback, "close", None)
                if close is not None:
                    close()
        for callback in callbacks:
            callback.on_train_end(logs)
        self.model.eval()
        return self.history

    def _mode_modules(self) -> list[Any] | None:
        """The modules whose ``training`` flag ``model.train()`` sets, when that is all it
        does (``nn.Module.train`` not overridden); None: call ``model.train()`` always."""
        model = self.model
        if not isinstance(model, nn.Module) or type(model).train is not nn.Module.train:
            return None
        return list(model.modules())

    def _train_mode(self) -> None:
        """``model.train()``, skipped when every module is in training mode already (a
        walk of the module tree each epoch is a few microseconds)."""
        modules = self.mode_modules
        if modules is not None:
            for module in modules:
                if not module.training:
                    break
            else:
                return
        self.model.train()

    def _begin_epoch(self, epoch: int) -> tuple[float, dict[str, Any]]:
        self.epoch = epoch
        started = time.perf_counter()
        logs: dict[str, Any] = {}
        for callback in self.epoch_begin_hooks:
            callback.on_epoch_begin(epoch, logs)
        self._train_mode()
        self.loss_sum, self.seen = 0.0, 0
        return started, logs

    def _epoch(self, epoch, x, y, bounds, validation) -> dict[str, Any]:
        started, logs = self._begin_epoch(epoch)
        n = len(x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        if self.world > 1:  # the same global batches on every rank, whatever augment drew
            dist.broadcast_array_(order)
        outputs: list[np.ndarray] | None = [] if self.metrics else None
        batch_hooks, begin_hooks = self.batch_hooks, self.begin_hooks
        for batch, (start, stop) in enumerate(bounds, start=1):
            for callback in begin_hooks:
                callback.on_batch_begin(batch, {})
            index = order[start:stop]
            weight = 1.0
            if self.world > 1:
                local = dist.local_batch(index, self.rank, self.world)
                weight = dist.local_weight(len(local), len(index))
                index = local
            xb, yb = _rows(x, index), _rows(y, index)
            if self.augment is not None:
                xb = self.augment(xb, self.rng)
            output, batch_loss = self.train_step(xb, yb, batch, weight)
            self.loss_sum += batch_loss * (stop - start)
            self.seen = stop
            if outputs is not None:
                outputs.append(predictions(output, self.kind))
            for callback in batch_hooks:
                callback.on_batch_end(batch, {"loss": batch_loss})
        logs = {"loss": self.loss_sum / n}
        if outputs is not None:
            predicted = self._gathered(outputs, bounds, n)
            predicted, truth = squeeze(predicted), squeeze(y[order])
            for name, metric in self.metrics:
                logs[name] = float(metric(truth, predicted))
        return self._end_epoch(epoch, logs, started, validation)

    def _gathered(
        self, outputs: list[np.ndarray], bounds: list[tuple[int, int]], n: int
    ) -> np.ndarray:
        """The predictions (n, ...) of the epoch's rows in batch order: this rank's, or,
        distributed, every rank's parts put in place and summed over the ranks."""
        local = np.concatenate(outputs)
        if self.world == 1:
            return local
        full = np.zeros((n, *local.shape[1:]), dtype=np.float64)
        at = 0
        for start, stop in bounds:
            first, last = dist.shard_bounds(stop - start, self.rank, self.world)
            full[start + first : start + last] = local[at : at + last - first]
            at += last - first
        dist.allreduce_(full)
        return full.astype(local.dtype)

    def _stream_epoch(self, epoch, batches, validation) -> dict[str, Any]:
        started, logs = self._begin_epoch(epoch)
        batch_hooks, begin_hooks = self.batch_hooks, self.begin_hooks
        stream = iter(batches(epoch))
        batch = 0
        while True:
            item = next(stream, None)
            rows = 0 if item is None else len(item[0])
            if self.world > 1:  # does every rank still have a batch? (lockstep)
                have, total = dist.allreduce_scalars(float(rows > 0), float(rows))
                if have < self.world:
                    break
            elif item is None:
                break
            else:
                total = float(rows)
            assert item is not None  # every rank has a batch (the check above)
            batch += 1
            for callback in begin_hooks:
                callback.on_batch_begin(batch, {})
            xb, yb = item
            if self.augment is not None:
                xb = self.augment(xb, self.rng)
            _, batch_loss = self.train_step(xb, yb, batch, rows / total)
            self.loss_sum += batch_loss * total
            self.seen += int(total)
            for callback in batch_hooks:
                callback.on_batch_end(batch, {"loss": batch_loss})
        logs = {"loss": self.epoch_loss}
        return self._end_epoch(epoch, logs, started, validation)

    def _end_epoch(self, epoch, logs, started, validation) -> dict[str, Any]:
        if validation is not None:
            # Every rank evaluates the same rows with the same weights: the same
            # numbers, so early stopping decides the same everywhere.
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
        for callback in self.epoch_end_hooks:
            callback.on_epoch_end(epoch, logs)
        return logs
