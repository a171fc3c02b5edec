"""Progress display for ``fit``: a live bar on a terminal, one line per epoch elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


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
