"""Markdown rendering: headings, equations as list items, matrices in code blocks."""

from __future__ import annotations

from .records import Eq, Heading, Matrix, Note, Para, Table
from .render_text import equation


def _escape(text: str) -> str:
    # Markdown would read * and _ as emphasis inside names like out_h1.
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def render(explanation) -> str:
    out = [f"# {explanation.title}", ""]
    for block in explanation.blocks:
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
