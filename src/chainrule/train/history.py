"""What a training run records, epoch by epoch, and a picture of it."""

from __future__ import annotations

import math
import os
from typing import Any

from .callbacks import Callback


class History(Callback):
    """Per-epoch records of a ``fit`` run, in Keras's layout (and, as in Keras, a callback:
    the ``Trainer`` always has one, ``trainer.history``).

    ``history[key]`` is a list with one value per epoch for each key: ``loss``,
    ``val_loss``, every metric and its ``val_`` twin, ``lr`` and ``seconds``.
    ``epoch`` lists the epoch numbers (from 1); ``stopped_epoch`` the epoch after which
    a callback stopped the run (None when it ran to the end).
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.record(epoch, logs)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self.trainer is not None and self.trainer.stop_training and self.epoch:
            self.stopped_epoch = self.epoch[-1]

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
            from matplotlib.ticker import MaxNLocator, ScalarFormatter
        except ImportError as error:
            raise ImportError(
                "History.plot needs matplotlib: pip install 'chainrule[train]'"
            ) from error

        metrics = [
            k
            for k in self.history
            if k not in ("loss", "lr", "seconds") and not k.startswith("val_")
        ]
        keys = ["loss", *metrics] + (["lr"] if "lr" in self.history else [])
        figure = Figure(figsize=(_PANEL_WIDTH * len(keys), _HEIGHT))
        FigureCanvasAgg(figure)
        # Fixed margins instead of tight_layout: its text measuring (and the second
        # draw savefig then makes) cost more than drawing the figure once. They fit
        # tick labels of up to 8 characters, which the formatter below guarantees.
        figure.subplots_adjust(**_margins(len(keys), bool(title)))
        axes = figure.subplots(1, len(keys), squeeze=False)[0]
        marker = "o" if len(self.epoch) <= _MARKED_EPOCHS else None
        for axis, key in zip(axes, keys, strict=True):
            names = [key, f"val_{key}"] if key != "lr" else ["lr"]
            for name, style in zip(names, ("-", "--"), strict=False):
                if name in self.history:
                    axis.plot(
                        self.epoch, self.history[name], style, marker=marker, markersize=3,
                        label=name,
                    )  # fmt: skip
            axis.set_xlabel("epoch")
            # y given: matplotlib skips measuring the tick labels to place the title.
            axis.set_title("learning rate" if key == "lr" else key, y=1.0)
            axis.grid(alpha=0.3)
            axis.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))
            axis.yaxis.set_major_locator(MaxNLocator(nbins=6))
            numbers = ScalarFormatter()
            numbers.set_powerlimits((-3, 4))  # 1e-5 or 1e6: a ×10ⁿ above the axis
            axis.yaxis.set_major_formatter(numbers)
            if key != "lr":
                axis.legend()
        if title:
            figure.suptitle(title)
        figure.savefig(os.fspath(path), dpi=110)
        return os.fspath(path)


_PANEL_WIDTH, _HEIGHT = 4.5, 3.6  # inches per panel, and the figure's height
_MARKED_EPOCHS = 60  # beyond this many epochs, lines without a marker on each point


def _margins(panels: int, titled: bool) -> dict[str, float]:
    """``subplots_adjust`` fractions for ``panels`` side by side: room for y tick labels
    left of each panel, the x label below and the panel titles (and a suptitle) above."""
    width = _PANEL_WIDTH * panels
    left, right, gap = 0.85, 0.2, 1.0  # inches
    top = 0.65 if titled else 0.4
    axis_width = (width - left - right - gap * (panels - 1)) / panels
    return {
        "left": left / width,
        "right": 1 - right / width,
        "bottom": 0.55 / _HEIGHT,
        "top": 1 - top / _HEIGHT,
        "wspace": gap / axis_width,
    }
