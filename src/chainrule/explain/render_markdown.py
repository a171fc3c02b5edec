"""Markdown rendering: headings, equations as list items, matrices in code blocks.

With ``math=True`` equations and matrices are LaTeX between ``$`` / ``$$`` (the LaTeX
renderer's translation), for pages that set maths with KaTeX or MathJax: the docs
site (pymdownx.arithmatex), GitHub, Jupyter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import Eq, Heading, Matrix, Note, Para, Table

if TYPE_CHECKING:  # explanation.py imports the renderers when it renders
    from .explanation import Explanation
from .render_text import equation


def _escape(text: str) -> str:
    # Markdown would read * and _ as emphasis inside names like out_h1.
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


MARK = {True: " ✓", False: " ✗", None: ""}


def _math_equation(block: Eq) -> str:
    """``- $LaTeX$ ✓ [comment]``: the LaTeX renderer's formula, for KaTeX or MathJax."""
    from .render_latex import equation as latex

    line = f"- ${latex(block)}$" + MARK[block.status]
    # Plain brackets: an escaped "\\[" would open display maths for arithmatex.
    return line + (f" [{_escape(block.comment)}]" if block.comment else "")


def render(explanation: Explanation, math: bool = False) -> str:
    out = [f"# {explanation.title}", ""]
    for block in explanation.blocks:
        if math and isinstance(block, Eq):
            out.append(_math_equation(block))
            continue
        if math and isinstance(block, Matrix):
            from .render_latex import matrix as latex

            out += ["", "$$", latex(block), "$$", ""]
            continue
        if isinstance(block, Heading):
            out += ["", "#" * min(block.level, 6) + " " + _escape(block.text), ""]
        elif isinstance(block, Para):
            out += [_escape(block.text), ""]
        elif isinstance(block, Eq):
            out.append(f"- `{equation(block)}`")
        elif isinstance(block, Matrix):
            out += ["", f"{_escape(block.label)} =", "", "```", *block.rows, "```", ""]
        elif isinstance(block, Note):
            out += ["", f"> **Note.** {_escape(block.text)}", ""]
        elif isinstance(block, Table):
            out += [
                "",
                "| " + " | ".join(block.header) + " |",
                "|" + "---:|" * len(block.header),
                *("| " + " | ".join(str(c) for c in row) + " |" for row in block.rows),
                "",
            ]
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"
