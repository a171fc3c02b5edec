"""Plain-text rendering (what ``str(explanation)`` and the CLI print)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import Eq, Heading, Matrix, Note, Para, Table

if TYPE_CHECKING:  # explanation.py imports the renderers when it renders
    from .explanation import Explanation

MARK = {True: "  ✓", False: "  ✗", None: ""}


def equation(block: Eq) -> str:
    line = " = ".join(block.parts) + MARK[block.status]
    if block.comment:
        line += f"   [{block.comment}]"
    return line


def render(explanation: Explanation) -> str:
    lines = [explanation.title, "=" * len(explanation.title), ""]
    for block in explanation.blocks:
        if isinstance(block, Heading):
            if lines and lines[-1] != "":
                lines.append("")
            underline = "-" if block.level <= 2 else "·"
            lines += [block.text, underline * len(block.text)]
        elif isinstance(block, Para):
            lines.append(block.text)
        elif isinstance(block, Eq):
            lines.append("  " + equation(block))
        elif isinstance(block, Matrix):
            lines.append(f"  {block.label} =")
            lines += ["    " + row for row in block.rows]
        elif isinstance(block, Note):
            lines.append(f"  Note: {block.text}")
        elif isinstance(block, Table):
            widths = [
                max(len(str(r[i])) for r in [block.header, *block.rows])
                for i in range(len(block.header))
            ]
            for row in [block.header, *block.rows]:
                lines.append(
                    "  " + "  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=False))
                )
    return "\n".join(lines).rstrip() + "\n"
