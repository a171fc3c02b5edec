"""The result of ``chainrule.explain``: derivation blocks plus the numbers behind them."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .diagram import Diagram
from .records import Block, Check, GraphNode


@dataclass
class Explanation:
    """A generated, checked derivation of one or more training steps.

    ``blocks`` is what the renderers print. The numbers are also kept as data:
    ``gradients`` (parameter name -> array, exactly what ``backward()`` stored),
    ``checks`` (finite-difference comparisons), ``losses`` (one per step, before
    its update), ``quantities`` (named scalars of the first step: "E", "out_h1",
    "∂E/∂w5", "w5⁺", ...) and ``updated`` (parameters after the steps).
    ``diagram`` holds the layered network for ``to_html``'s drawing (None when the
    model is not a chain of layers).
    """

    title: str
    blocks: list[Block]
    gradients: dict[str, np.ndarray]
    checks: list[Check]
    losses: list[float]
    quantities: dict[str, Any]
    updated: dict[str, np.ndarray]
    graph: list[GraphNode] = field(default_factory=list)
    form: str = "scalar"
    aliases: dict[str, tuple[str, tuple]] = field(default_factory=dict)
    diagram: Diagram | None = None  # the layered network, for to_html's drawing
    precision: int = 9  # significant digits of the numbers shown

    @property
    def all_checks_pass(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_text(self) -> str:
        from .render_text import render

        return render(self)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self, math: bool = False) -> str:
        """Markdown; formulas in code spans, or with ``math=True`` as ``$LaTeX$``."""
        from .render_markdown import render

        return render(self, math=math)

    def to_latex(self) -> str:
        """A LaTeX fragment (needs ``\\usepackage{amsmath,amssymb}``) with the equations."""
        from .render_latex import render

        return render(self)

    def to_html(self, katex: bool = True) -> str:
        """A self-contained HTML page (one file, no links out, renders offline).

        The maths is set by the vendored KaTeX (its script, stylesheet and WOFF2 fonts
        inlined: about 0.7 MB); the layered network is drawn as inline SVG with each
        weight's value and ∂E/∂w on its edge, several samples get a column each, and
        checks at a kink are explained. ``katex=False`` gives a page without scripts,
        formulas in Unicode (what a reader without JavaScript sees anyway).
        """
        from .render_html import render

        return render(self, katex=katex)

    def to_dot(self) -> str:
        """The computation graph in Graphviz DOT, each node with its value and gradient."""
        from .render_dot import render

        return render(self)

    def render_graph(self, path: str | pathlib.Path) -> pathlib.Path:
        """Draw the graph with Graphviz ``dot`` (format from the suffix: .svg, .png, .pdf).

        Without ``dot`` on PATH, writes the DOT text next to it (suffix ``.dot``) and
        returns that path instead.
        """
        from .render_dot import render_to

        return render_to(self, pathlib.Path(path))
