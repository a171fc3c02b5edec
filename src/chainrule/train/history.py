"""What a training run records, epoch by epoch, and a picture of it."""

from __future__ import annotations

import math
import os
from typing import Any


class History:
    """Per-epoch records of a ``fit`` run, in Keras's layout.

    ``history[key]`` is a list with one value per epoch for each key: ``loss``,
    ``val_loss``, every metric and its ``val_`` twin, ``lr`` and ``seconds``.
    ``epoch`` lists the epoch numbers (from 1).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stopped_epoch: int | None = None

    def record(self, epoch: int, logs: dict[str, Any]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        keys = ", ".join(self.history)
        return f"History(epochs={len(self.epoch)}, keys=[{keys}])"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy: non-finite numbers become None."""
        clean = {
            key: [v if math.isfinite(v) else None for v in values]
            for key, values in self.history.items()
        }
        return {"epoch": list(self.epoch), "history": clean, "stopped_epoch": self.stopped_epoch}

    def plot(self, path: str | os.PathLike, *, title: str | None = None) -> str:
        """Write a PNG of the loss curves (and metrics, and learning rate) to ``path``.

        Needs matplotlib (``pip install 'chainrule[train]'``). Returns the path.
        """
        try:
            # Figure + the Agg canvas directly, never pyplot: no global figure registry,
            # no backend switch, safe from threads, and about a second less to import.
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                "History.plot needs matplotlib: pip install 'chainrule[train]'"
            ) from error

        metrics = [
            k
            for k in self.history
            if k not in ("loss", "lr", "seconds") and not k.startswith("val_")
        ]
        panels = 1 + len(metrics) + (1 if "lr" in self.history else 0)
        figure = Figure(figsize=(4.5 * panels, 3.6))
        FigureCanvasAgg(figure)
        axes = figure.subplots(1, panels, squeeze=False)[0]
        for axis, key in zip(axes, ["loss", *metrics], strict=False):
            for name, style in ((key, "-"), (f"val_{key}", "--")):
                if name in self.history:
                    axis.plot(
                        self.epoch, self.history[name], style, marker="o", markersize=3, label=name
                    )
            axis.set_xlabel("epoch")
            axis.set_title(key)
            axis.grid(alpha=0.3)
            axis.legend()
        if "lr" in self.history:
            axes[-1].plot(self.epoch, self.history["lr"], marker="o", markersize=3)
            axes[-1].set_xlabel("epoch")
            axes[-1].set_title("learning rate")
            axes[-1].grid(alpha=0.3)
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(os.fspath(path), dpi=110)
        return os.fspath(path)
