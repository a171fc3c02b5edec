"""A self-contained HTML page: inline CSS, Unicode formulas, no scripts, no links out."""

from __future__ import annotations

import html

from .records import Eq, Heading, Matrix, Note, Para, Table

STYLE = """
body { font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
.eq { font-family: "DejaVu Sans Mono", Menlo, monospace; margin: 0.2rem 0 0.2rem 1.5rem;
      white-space: pre-wrap; }
.ok { color: #17803d; font-weight: bold; } .fail { color: #b91c1c; font-weight: bold; }
.comment { color: #666; }
.note { border-left: 4px solid #d97706; background: #fff7ed; padding: 0.4rem 0.8rem; }
pre { background: #f5f5f5; padding: 0.5rem; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.8rem; text-align: right; }
"""


def render(explanation) -> str:
    e = html.escape
    body = [f"<h1>{e(explanation.title)}</h1>"]
    for block in explanation.blocks:
        if isinstance(block, Heading):
            level = min(block.level, 6)
            body.append(f"<h{level}>{e(block.text)}</h{level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{e(block.text)}</p>")
        elif isinstance(block, Eq):
            mark = ""
            if block.status is True:
                mark = ' <span class="ok">✓</span>'
            elif block.status is False:
                mark = ' <span class="fail">✗</span>'
            comment = f' <span class="comment">[{e(block.comment)}]</span>' if block.comment else ""
            body.append(f'<div class="eq">{e(" = ".join(block.parts))}{mark}{comment}</div>')
        elif isinstance(block, Matrix):
            body.append(f"<p>{e(block.label)} =</p><pre>{e(chr(10).join(block.rows))}</pre>")
        elif isinstance(block, Note):
            body.append(f'<p class="note"><strong>Note.</strong> {e(block.text)}</p>')
        elif isinstance(block, Table):
            head = "".join(f"<th>{e(str(c))}</th>" for c in block.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(explanation.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
