"""Callbacks: code that runs at fixed points of a ``Trainer``'s run (Keras's protocol).

A callback sees the run through ``self.trainer`` (model, optimizer, history,
``stop_training``, ...; see ``Trainer``), set before ``on_train_begin``. ``logs`` holds
the numbers so far: after an epoch, ``loss``, ``val_loss``, metrics, ``lr``; after a
batch, its ``loss``. Per-batch hooks cost nothing unless a callback overrides them.

Here: ``EarlyStopping``, ``ModelCheckpoint`` (weights after each epoch) and
``LearningRateScheduler``. Elsewhere in ``train``: ``History``, ``ProgressBar``,
``DivergenceGuard`` and ``TrainingCheckpoint`` (checkpoint and resume a whole run).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


class Callback:
    """Base class: override the hooks you need; each receives the current logs."""

    trainer: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_begin(self, batch: int, logs: dict[str, Any]) -> None: ...

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, logs: dict[str, Any]) -> None: ...


def _improvement(mode: str, monitor: str) -> Callable[[float, float, float], bool]:
    if mode == "auto":
        higher = any(word in monitor for word in ("acc", "precision", "recall", "f1", "r2"))
        mode = "max" if higher else "min"
    if mode == "min":
        return lambda value, best, delta: value < best - delta
    if mode == "max":
        return lambda value, best, delta: value > best + delta
    raise ValueError(f"mode expected 'min', 'max' or 'auto', got {mode!r}")


def _monitored(logs: dict[str, Any], monitor: str, who: str) -> float | None:
    if monitor not in logs:
        available = ", ".join(sorted(logs)) or "none"
        warnings.warn(
            f"{who} monitors {monitor!r}, which is not logged (available: {available})",
            stacklevel=3,
        )
        return None
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` (the default) the model ends with the weights of
    its best epoch, not its last.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = True,
        baseline: float | None = None,
        verbose: int = 0,
    ) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping expected patience >= 0, got {patience}")
        self.monitor, self.min_delta, self.patience = monitor, abs(min_delta), patience
        self.restore_best_weights, self.baseline, self.verbose = (
            restore_best_weights,
            baseline,
            verbose,
        )
        self._better = _improvement(mode, monitor)
        self.best: float = math.nan
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._resumed = False

    def state_dict(self) -> dict[str, Any]:
        """What resuming needs: best value and epoch, wait count and the best weights."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the next ``fit`` continues from it instead of resetting."""
        self.best = float(state["best"])
        self.best_epoch, self.wait = state["best_epoch"], int(state["wait"])
        self.stopped_epoch, self.best_weights = state["stopped_epoch"], state["best_weights"]
        self._resumed = True

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        if self.monitor.startswith("val_") and not self.trainer.has_validation:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r} but fit has no validation data; "
                "pass validation_split= or validation_data=, or monitor='loss'"
            )
        if self._resumed:  # a resumed run keeps the state it was checkpointed with
            self._resumed = False
            return
        self.best, self.best_epoch, self.best_weights = math.nan, None, None
        self.wait, self.stopped_epoch = 0, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if value is None or not math.isfinite(value):
            return
        reference = self.baseline if math.isnan(self.best) else self.best
        if reference is None or self._better(value, reference, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.trainer.model.state_dict()
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)
        if self.verbose and self.stopped_epoch is not None:
            print(
                f"Early stopping at epoch {self.stopped_epoch}; best {self.monitor} = "
                f"{self.best:.6g} at epoch {self.best_epoch}"
            )


class ModelCheckpoint(Callback):
    """Save the model's weights after each epoch (or only when ``monitor`` improves).

    ``filepath`` may contain ``{epoch}`` and any logged value (``{val_loss:.4f}``).
    Files are safetensors, written atomically: temporary file in the same folder,
    fsync, ``os.replace``. A non-finite monitored value never overwrites a file.
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        verbose: int = 0,
    ) -> None:
        self.filepath = os.fspath(filepath)
        self.monitor, self.save_best_only, self.verbose = monitor, save_best_only, verbose
        self._better = _improvement(mode, monitor)
        self.best = math.nan
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is not None and not math.isfinite(float(value)):
            return
        if self.save_best_only:
            if value is None:
                _monitored(logs, self.monitor, "ModelCheckpoint")
                return
            if not math.isnan(self.best) and not self._better(float(value), self.best, 0.0):
                return
            self.best = float(value)
        path = self.filepath.format(epoch=epoch, **logs)
        from ..io import save_state

        save_state(
            path,
            self.trainer.model.state_dict(),
            {"epoch": epoch, "logs": {k: float(v) for k, v in logs.items()}},
        )
        self.saved.append(path)
        if self.verbose:
            print(f"Saved {path}")


class LearningRateScheduler(Callback):
    """Set the learning rate each epoch.

    ``schedule`` is either a function ``(epoch, lr) -> new lr`` (Keras style; epoch
    from 0) or a ``chainrule.optim.lr_scheduler`` object, stepped after each epoch;
    a scheduler that steps on a metric (``needs_metric``: ``ReduceLROnPlateau``)
    receives the value of ``monitor``.
    """

    def __init__(self, schedule: Any, monitor: str = "val_loss") -> None:
        self.schedule, self.monitor = schedule, monitor

    def _is_function(self) -> bool:
        return callable(self.schedule) and not hasattr(self.schedule, "step")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        if self._is_function():
            for group in self.trainer.optimizer.param_groups:
                group["lr"] = float(self.schedule(epoch - 1, group["lr"]))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self._is_function():
            return
        if getattr(self.schedule, "needs_metric", False):
            value = _monitored(logs, self.monitor, "LearningRateScheduler")
            if value is not None:
                self.schedule.step(value)
        else:
            self.schedule.step()
