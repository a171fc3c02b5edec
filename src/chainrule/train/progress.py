"""Progress display for ``fit``: a live bar on a terminal, one line per epoch elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .callbacks import Callback


def _format(logs: dict[str, Any]) -> str:
    parts = []
    for key, value in logs.items():
        if key in ("seconds",):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


class Progress:
    """Shows epoch, batch, running loss, validation metrics and the time left.

    ``verbose=0`` is silent. On a terminal (and with tqdm installed, the
    ``chainrule[train]`` extra) each epoch gets a live bar; otherwise — a log file,
    CI, a notebook capture — one plain line per epoch.
    """

    # Updating a bar's text is far slower than a training step of a small model.
    REFRESH_SECONDS = 0.1

    def __init__(
        self, epochs: int, batches: int, verbose: int = 1, stream: TextIO | None = None
    ) -> None:
        self.epochs, self.batches, self.verbose = epochs, batches, verbose
        self.stream = stream if stream is not None else sys.stderr
        self._bar = None
        self._tqdm = None
        if verbose and self._is_terminal():
            try:
                from tqdm import tqdm

                self._tqdm = tqdm
            except ImportError:
                self._tqdm = None
        self._last = 0.0

    def _is_terminal(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def epoch_begin(self, epoch: int) -> None:
        self._epoch_start = time.perf_counter()
        if self._tqdm is not None:
            self._bar = self._tqdm(
                total=self.batches,
                desc=f"epoch {epoch}/{self.epochs}",
                unit="batch",
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
            )

    def batch_end(self, batch: int, loss: float) -> None:
        if self._bar is None:
            return
        now = time.perf_counter()
        if now - self._last >= self.REFRESH_SECONDS or batch == self.batches:
            self._bar.set_postfix_str(f"loss={loss:.4g}", refresh=False)
            self._bar.update(batch - self._bar.n)
            self._last = now

    def epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if not self.verbose:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(_format(logs), refresh=False)
            self._bar.update(self.batches - self._bar.n)
            self._bar.close()
            self._bar = None
            return
        elapsed = time.perf_counter() - self._epoch_start
        print(
            f"epoch {epoch}/{self.epochs} - {elapsed:.2f}s - {_format(logs)}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ProgressBar(Callback):
    """``Progress`` as a callback: ``fit`` adds one when ``verbose`` is set.

    The running loss it shows is the trainer's (``trainer.epoch_loss``, the mean of
    the epoch's batches so far, weighted by their rows).
    """

    def __init__(self, verbose: int = 1, stream: TextIO | None = None) -> None:
        self.verbose, self.stream = verbose, stream
        self.progress: Progress | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        trainer = self.trainer
        self.progress = Progress(trainer.epochs, trainer.batches, self.verbose, self.stream)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self.progress.epoch_begin(epoch)  # type: ignore[union-attr]

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        self.progress.batch_end(batch, self.trainer.epoch_loss)  # type: ignore[union-attr]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.progress.epoch_end(epoch, logs)  # type: ignore[union-attr]

    def close(self) -> None:
        """Close a live bar (the Trainer calls it however training ends)."""
        if self.progress is not None:
            self.progress.close()
