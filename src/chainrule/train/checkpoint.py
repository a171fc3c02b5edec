"""Checkpoint and resume a whole training run: the ``TrainingCheckpoint`` callback.

After every epoch it writes (atomically, through ``io.save``) the model, the optimizer,
the shuffling generator, the dropout generators, early stopping's state and the
history, with a ``fingerprint`` of the run (data, options) that a resumed run must
match. ``restore`` loads such a file back, checking every field, so that the resumed
run ends with the very weights of an uninterrupted one, bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from ..io import Checkpoint, ModelFormatError, load, save
from .callbacks import Callback, EarlyStopping
from .errors import ResumeError
from .history import History

# Non-finite history values (say an infinite validation loss) cannot be stored as
# floats in a checkpoint, whose float tensors must be finite: a code array says which.
_CODES = {0: None, 1: float("nan"), 2: float("inf"), 3: float("-inf")}

# Options that may change on resume: more epochs continue a finished run.
RESUMABLE_OPTIONS = ("epochs",)


class HistoryLog:
    """The run's history as growing arrays, one per key, kept between epochs.

    A checkpoint stores them as tensors (``extra.history.<key>``, float64, and
    ``extra.history_code.<key>``, int8: 0 finite, 1 NaN, 2 inf, 3 -inf), so writing
    one after each epoch costs the same Python work at epoch 2000 as at epoch 2;
    the JSON state only lists the keys.
    """

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: dict[str, np.ndarray] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.epochs = np.zeros(16, np.int64)
        self.count = 0

    @classmethod
    def of(cls, history: History) -> HistoryLog:
        log = cls()
        for index, epoch in enumerate(history.epoch):
            log.append(epoch, {k: v[index] for k, v in history.history.items()})
        return log

    def _grow(self) -> None:
        size = 2 * len(self.epochs)
        self.epochs = np.resize(self.epochs, size)
        for key in self.keys:
            self.values[key] = np.resize(self.values[key], size)
            self.codes[key] = np.resize(self.codes[key], size)

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.count == len(self.epochs):
            self._grow()
        for key in logs:
            if key not in self.values:
                self.keys.append(key)
                self.values[key] = np.zeros(len(self.epochs), np.float64)
                self.codes[key] = np.ones(len(self.epochs), np.int8)  # NaN before it appeared
        index = self.count
        self.epochs[index] = epoch
        for key in self.keys:
            value = float(logs.get(key, math.nan))
            finite = math.isfinite(value)
            self.values[key][index] = value if finite else 0.0
            self.codes[key][index] = 0 if finite else 1 if math.isnan(value) else 2 + (value < 0)
        self.count += 1

    def tensors(self) -> dict[str, np.ndarray]:
        found = {"history.epoch": self.epochs[: self.count]}
        for key in self.keys:
            found[f"history.{key}"] = self.values[key][: self.count]
            found[f"history_code.{key}"] = self.codes[key][: self.count]
        return found

    @classmethod
    def read(cls, tensors: dict[str, np.ndarray], keys: Any, epochs: int) -> History:
        """The History stored by ``tensors()``; ValueError naming what is inconsistent."""
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"history keys must be a list of strings, got {keys!r}")
        epoch = tensors.get("history.epoch")
        if epoch is None or epoch.dtype.kind not in "iu" or epoch.shape != (epochs,):
            got = None if epoch is None else f"{epoch.dtype} {epoch.shape}"
            raise ValueError(f"history.epoch must be {epochs} integers, got {got}")
        if not np.array_equal(epoch, np.arange(1, epochs + 1)):
            raise ValueError(f"history.epoch must count 1 to {epochs}")
        columns = {}
        for key in keys:
            values, codes = tensors.get(f"history.{key}"), tensors.get(f"history_code.{key}")
            if values is None or codes is None:
                raise ValueError(f"history {key!r} is missing")
            if values.shape != (epochs,) or codes.shape != (epochs,) or values.dtype.kind != "f":
                raise ValueError(
                    f"history {key!r} has shape {values.shape} and codes {codes.shape}; "
                    f"the checkpoint has {epochs} epochs"
                )
            if codes.dtype.kind not in "iu" or not np.all((codes >= 0) & (codes <= 3)):
                raise ValueError(f"history {key!r} codes must be integers 0 to 3")
            columns[key] = [
                float(v) if c == 0 else _CODES[int(c)] for v, c in zip(values, codes, strict=True)
            ]
        return _history_of(columns, epochs)


def _history_of(columns: dict[str, list], epochs: int) -> History:
    """A History of ``epochs`` epochs from one list per key (None read as NaN)."""
    history = History()
    for index in range(epochs):
        history.record(
            index + 1,
            {k: math.nan if v[index] is None else v[index] for k, v in columns.items()},
        )
    return history


def _legacy_history(saved: dict[str, Any], epochs: int) -> History:
    """A history stored as JSON lists (``History.to_dict()``), checked like the arrays."""
    if saved.get("epoch") != list(range(1, epochs + 1)):
        raise ValueError(f"history epochs must count 1 to {epochs}")
    columns = saved.get("history")
    if not isinstance(columns, dict):
        raise ValueError("history must map names to lists")
    for key, values in columns.items():
        if not isinstance(values, list) or len(values) != epochs:
            raise ValueError(f"history {key!r} must list {epochs} values")
        if not all(v is None or isinstance(v, (int, float)) for v in values):
            raise ValueError(f"history {key!r} holds a value that is not a number")
    return _history_of(columns, epochs)


def merge_histories(first: History, second: History) -> History:
    """The checkpointed epochs then the resumed ones; the stop is the later run's."""
    merged = History()
    for history in (first, second):
        for index, epoch in enumerate(history.epoch):
            merged.record(epoch, {k: v[index] for k, v in history.history.items()})
    merged.stopped_epoch = second.stopped_epoch if second.epoch else first.stopped_epoch
    return merged


def fingerprint_differences(saved: Any, current: dict[str, Any]) -> list[str]:
    """What differs between a checkpoint's fingerprint and this run's, in words.

    A fingerprint holds ``data`` (a digest of the encoded data) or ``file_sha256``
    (the data file's bytes), ``options`` (all but ``RESUMABLE_OPTIONS`` must match)
    and ``target``.
    """
    if not isinstance(saved, dict):
        return ["everything (the checkpoint has no fingerprint)"]
    found = []
    if "data" in current and saved.get("data") != current["data"]:
        found.append("the data (its contents or encoding changed)")
    elif current.get("file_sha256") and saved.get("file_sha256") not in (
        None,
        current["file_sha256"],
    ):
        found.append("the data (the file's bytes changed)")
    saved_options = saved.get("options", {})
    if not isinstance(saved_options, dict):
        saved_options = {}
    for key, value in current["options"].items():
        if key not in RESUMABLE_OPTIONS and saved_options.get(key) != value:
            found.append(f"{key} ({saved_options.get(key)!r} in the checkpoint, {value!r} now)")
    if saved.get("processes", 1) != current.get("processes", 1):
        found.append(
            f"processes ({saved.get('processes', 1)} in the checkpoint, "
            f"{current.get('processes', 1)} now: resume with the same mpiexec -n)"
        )
    if saved.get("target") != current["target"]:
        found.append(
            f"target ({saved.get('target')!r} in the checkpoint, {current['target']!r} now)"
        )
    return found


def check_fingerprint(checkpoint: Checkpoint, path: str, current: dict[str, Any]) -> None:
    """ResumeError listing what differs, when the checkpoint is of another run."""
    differences = fingerprint_differences(checkpoint.state.get("fingerprint"), current)
    if differences:
        raise ResumeError(
            f"{path}: checkpoint does not match this run; differs in: " + "; ".join(differences)
        )


def load_checkpoint(path: str) -> Checkpoint:
    """A checkpoint file, or ModelFormatError for anything else."""
    checkpoint = load(path)
    if not isinstance(checkpoint, Checkpoint):
        raise ModelFormatError(f"{path}: is a {type(checkpoint).__name__} file, not a checkpoint")
    return checkpoint


def _field(state: dict[str, Any], name: str, ok: Any, expected: str) -> Any:
    value = state.get(name)
    if not ok(value):
        raise ModelFormatError(f"checkpoint field {name!r}: expected {expected}, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dropouts(model: Any) -> list[Any]:
    return [m for m in model.modules() if isinstance(m, nn.Dropout)]


class TrainingCheckpoint(Callback):
    """After every epoch: model, optimizer, generators, early stopping, history -> ``path``.

    ``rng`` is the generator the run shuffles (and augments) with, given to ``fit`` as
    ``seed=``; ``epochs`` the run's target; ``fingerprint`` what ``restore`` compares
    (see ``fingerprint_differences``). To resume: ``done, finished = cb.restore(...)``,
    then ``fit(..., seed=rng, initial_epoch=done, epochs=done if finished else epochs,
    callbacks=[early_stopping, cb])`` and ``cb.merged(history)``.
    """

    def __init__(
        self,
        path: str,
        *,
        model: Any,
        optimizer: Any,
        rng: np.random.Generator,
        epochs: int,
        fingerprint: dict[str, Any],
        early_stopping: EarlyStopping | None = None,
        writes: bool = True,
    ) -> None:
        self.writes = writes  # False on the ranks other than 0 of a distributed run
        self.path, self.model, self.optimizer, self.rng = path, model, optimizer, rng
        self.epochs, self.fingerprint, self.early_stopping = epochs, fingerprint, early_stopping
        self.previous = History()
        self.log = HistoryLog()

    def merged(self, history: History) -> History:
        """The restored epochs followed by ``history`` (the resumed run's)."""
        return merge_histories(self.previous, history)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.log.append(epoch, logs)
        if not self.writes:
            return
        stopped = self.trainer.stop_training
        stopping = self.early_stopping.state_dict() if self.early_stopping else None
        tensors = dict(self.log.tensors())
        if stopping is not None:
            best = stopping.pop("best_weights") or {}
            tensors.update({f"best.{k}": v for k, v in best.items()})
            stopping["has_best_weights"] = bool(best)
        state = {
            "epoch": epoch,
            "epochs": self.epochs,
            "finished": stopped or epoch == self.epochs,
            "stopped_epoch": epoch if stopped else None,
            "rng": self.rng.bit_generator.state,
            "dropout": [m.generator.bit_generator.state for m in _dropouts(self.model)],
            "early_stopping": stopping,
            "history": {"keys": list(self.log.keys)},
            "fingerprint": self.fingerprint,
        }
        checkpoint = Checkpoint.capture(self.model, self.optimizer, None, state, tensors)
        save(checkpoint, self.path)

    # -- resuming ----------------------------------------------------------------------
    def _read_counts(self, state: dict[str, Any]) -> tuple[int, int, int | None]:
        """(epochs done, epochs the checkpointed run asked for, stopped epoch), checked."""
        done = _field(state, "epoch", lambda v: _is_int(v) and 1 <= v <= 10**7, "an epoch >= 1")
        saved = state.get("fingerprint", {}).get("options", {}).get("epochs")
        target = state.get("epochs", saved)
        target = _field(
            {"epochs": target},
            "epochs",
            lambda v: _is_int(v) and v >= done,
            f"an integer >= {done}",
        )
        stopped = _field(
            state, "stopped_epoch", lambda v: v is None or v == done, f"null or the epoch {done}"
        )
        _field(state, "finished", lambda v: isinstance(v, bool), "true or false")
        if self.epochs < done:
            raise ResumeError(
                f"the checkpoint has already trained {done} epochs; --epochs {self.epochs} is "
                f"fewer (give --epochs {done} or more to continue it)"
            )
        return done, target, stopped

    def _restore_stopping(self, checkpoint: Checkpoint, done: int) -> None:
        saved = _field(
            checkpoint.state, "early_stopping", lambda v: isinstance(v, dict), "an object"
        )
        number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        epoch_or_none = lambda v: v is None or (_is_int(v) and 1 <= v <= done)  # noqa: E731
        _field(saved, "best", number, "a number")
        _field(saved, "best_epoch", epoch_or_none, f"null or an epoch from 1 to {done}")
        _field(saved, "wait", lambda v: _is_int(v) and 0 <= v <= done, f"an integer 0 to {done}")
        _field(saved, "stopped_epoch", epoch_or_none, f"null or an epoch from 1 to {done}")
        has_best = _field(saved, "has_best_weights", lambda v: isinstance(v, bool), "true or false")
        best = {
            k[len("best.") :]: v for k, v in checkpoint.tensors.items() if k.startswith("best.")
        }
        if set(best) != (set(self.model.state_dict()) if has_best else set()):
            raise ModelFormatError("checkpoint early-stopping weights do not match the model")
        state = {k: saved[k] for k in ("best", "best_epoch", "wait", "stopped_epoch")}
        state["best_weights"] = best if has_best else None
        self.early_stopping.load_state_dict(state)  # type: ignore[union-attr]

    def _load(self, checkpoint: Checkpoint) -> tuple[int, int, int | None]:
        state = checkpoint.state
        done, target, stopped = self._read_counts(state)
        history_state = _field(state, "history", lambda v: isinstance(v, dict), "an object")
        tensors = {
            k: v
            for k, v in checkpoint.tensors.items()
            if k.startswith(("history.", "history_code."))
        }
        if "keys" in history_state:
            previous = HistoryLog.read(tensors, history_state["keys"], done)
        else:  # written before histories became arrays: lists in the JSON state
            previous = _legacy_history(history_state, done)
        previous.stopped_epoch = stopped
        dropouts = _dropouts(self.model)
        saved_dropout = _field(
            state,
            "dropout",
            lambda v: isinstance(v, list) and len(v) == len(dropouts),
            f"a list of {len(dropouts)} generator states",
        )
        self.model.load_state_dict(checkpoint.model.state_dict())
        self.optimizer.load_state_dict(checkpoint.optimizer_state)
        self.rng.bit_generator.state = _field(
            state, "rng", lambda v: isinstance(v, dict), "an object"
        )
        for module, saved in zip(dropouts, saved_dropout, strict=True):
            generator = np.random.default_rng()
            generator.bit_generator.state = saved
            module.generator = generator
        if self.early_stopping is not None:
            self._restore_stopping(checkpoint, done)
        self.previous = previous
        return done, target, stopped

    def restore(self, checkpoint: Checkpoint, path: str) -> tuple[int, bool]:
        """Load ``checkpoint`` (read from ``path``) into the run; returns (epochs done,
        whether to train no further).

        Every field is checked: a damaged or edited checkpoint is a one-line
        ModelFormatError naming the field, never a traceback; a checkpoint of another
        run (``fingerprint``) or one past ``epochs`` is a ResumeError.
        """
        check_fingerprint(checkpoint, path, self.fingerprint)
        try:
            done, target, stopped = self._load(checkpoint)
        except ModelFormatError as error:
            raise ModelFormatError(f"{path}: {error}") from None
        except ResumeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelFormatError(f"{path}: checkpoint state is invalid ({error})") from None
        self.log = HistoryLog.of(self.previous)
        # A run that stopped early ends there, unless asked for more epochs than it had:
        # then it continues from its last epoch, with early stopping's patience renewed.
        if stopped is not None and self.epochs <= target:
            return done, True
        if stopped is not None and self.early_stopping is not None:
            self.early_stopping.wait, self.early_stopping.stopped_epoch = 0, None
        return done, done == self.epochs
