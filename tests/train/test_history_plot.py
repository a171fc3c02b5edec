"""The loss-curve PNG (``History.plot``): drawn once with fixed margins (issue 12: the
cost of ``chainrule train``), and still a figure whose labels all fit."""

from __future__ import annotations

import struct

import pytest

from chainrule.train.history import History

pytest.importorskip("matplotlib")


def _history(epochs: int, scale: float = 1.0, metric: str | None = "accuracy") -> History:
    history = History()
    for epoch in range(1, epochs + 1):
        logs = {"loss": scale / epoch, "val_loss": scale * 1.5 / epoch, "lr": 1e-3 * 0.9**epoch}
        if metric:
            logs[metric], logs[f"val_{metric}"] = 1 - 1 / (epoch + 1), 1 - 1.2 / (epoch + 2)
        logs["seconds"] = 0.5
        history.record(epoch, logs)
    return history


def _png_size(path) -> tuple[int, int]:
    raw = open(path, "rb").read(24)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


@pytest.fixture
def drawn(monkeypatch):
    """The figures History.plot saves, and how often each was drawn and laid out."""
    from matplotlib.figure import Figure

    seen = {"figures": [], "draws": 0, "tight": 0}
    draw, savefig = Figure.draw, Figure.savefig

    def counting_draw(self, renderer):
        seen["draws"] += 1
        return draw(self, renderer)

    def keeping_savefig(self, *args, **kwargs):
        seen["figures"].append(self)
        return savefig(self, *args, **kwargs)

    def tight(self, *args, **kwargs):
        seen["tight"] += 1

    monkeypatch.setattr(Figure, "draw", counting_draw)
    monkeypatch.setattr(Figure, "savefig", keeping_savefig)
    monkeypatch.setattr(Figure, "tight_layout", tight)
    return seen


def test_the_figure_is_drawn_once_without_tight_layout(tmp_path, drawn):
    # Regression: tight_layout measured every label, and savefig then drew the figure
    # a second time before the real draw (0.3–0.6 s of each `chainrule train`).
    path = _history(3).plot(tmp_path / "curves.png")
    assert (drawn["draws"], drawn["tight"]) == (1, 0)
    assert _png_size(path) == (round(3 * 4.5 * 110), round(3.6 * 110))  # 3 panels


@pytest.mark.parametrize(
    "history, title",
    [
        (_history(1), None),
        (_history(200, scale=123456.7), "a title"),
        (_history(30, scale=1e-7, metric="r2"), None),
        (_history(5, scale=-0.00123456, metric=None), None),
    ],
    ids=["one epoch", "large losses, a title", "tiny losses", "negative, no metric"],
)
def test_every_label_fits_in_the_figure(tmp_path, drawn, history, title):
    history.plot(tmp_path / "curves.png", title=title)
    (figure,) = drawn["figures"]
    figure.canvas.draw()  # at the figure's own dpi, which the boxes below are in
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    boxes = [axis.get_tightbbox(renderer) for axis in figure.axes]  # as drawn: labels too
    for index, box in enumerate(boxes):
        assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height, box
        if index > 0:  # clear of the panel to the left, its labels included
            assert box.x0 > boxes[index - 1].x1, (box, boxes[index - 1])
    axes = figure.axes
    if title:
        top = max(a.title.get_window_extent(renderer).y1 for a in axes)
        assert figure._suptitle.get_window_extent(renderer).y0 >= top


def test_epoch_ticks_are_whole_numbers(tmp_path, drawn):
    _history(1).plot(tmp_path / "one.png")
    (figure,) = drawn["figures"]
    ticks = [t for t in figure.axes[0].get_xticks() if 0.5 <= t <= 1.5]
    assert ticks == [1.0]
