"""A LaTeX fragment (``\\usepackage{amsmath,amssymb}``): pure ASCII, compiles with pdflatex.

Formulas are written in Unicode once (records.py); here they are translated token by
token: names like ``out_h1`` become ``\\mathrm{out}_{h1}``, Greek letters and operators
their commands. Any character without a translation becomes ``?`` so the output
always compiles.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .records import Eq, Heading, Matrix, Note, Para, Table

if TYPE_CHECKING:  # explanation.py imports the renderers when it renders
    from .explanation import Explanation

SYMBOLS = {
    "∂": r"\partial ",
    "·": r"\cdot ",
    "−": "-",
    "⊙": r"\odot ",
    "Σ": r"\sum ",
    "σ": r"\sigma ",
    "η": r"\eta ",
    "δ": r"\delta ",
    "μ": r"\mu ",
    "ε": r"\varepsilon ",
    "β": r"\beta ",
    "γ": r"\gamma ",
    "α": r"\alpha ",
    "λ": r"\lambda ",
    "τ": r"\tau ",
    "ρ": r"\rho ",
    "Δ": r"\Delta ",
    "ḡ": r"\bar{g}",
    "ṽ": r"\tilde{v}",
    "m̂": r"\hat{m}",
    "v̂": r"\hat{v}",
    "Φ": r"\Phi ",
    "φ": r"\varphi ",
    "ℓ": r"\ell ",
    "√": r"\surd ",
    "‖": r"\| ",
    "≈": r"\approx ",
    "→": r"\to ",
    "×": r"\times ",
    "∘": r"\circ ",
    "′": "'",
    "✓": r"\checkmark ",
    "✗": r"\times ",
    "½": r"\tfrac{1}{2}",
    "⅓": r"\tfrac{1}{3}",
    "¼": r"\tfrac{1}{4}",
    "…": r"\dots ",
    "ŷ": r"\hat{y}",
    "x̂": r"\hat{x}",
    "≤": r"\leq ",
    "≥": r"\geq ",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "#": r"\#",
    "&": r"\&",
    "$": r"\$",
    "~": r"\sim ",
    "^": r"\hat{}",
    "\\": r"\backslash ",
}
SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ˡᵗ", "0123456789+-lt", strict=True))
SUPERSCRIPTS["ᵀ"] = r"\top "
SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789", strict=True))
# Letters with a combining hat come first: "m̂" is m + U+0302, not the name "m".
TOKEN = re.compile(
    r"x̂|m̂|v̂|[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*|[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ᵀˡᵗ]+|[₀₁₂₃₄₅₆₇₈₉]+|.", re.S
)


def _name(token: str) -> str:
    head, _, tail = token.partition("_")
    if len(head) == 1 and not tail:
        return head
    if len(head) > 1 and not tail:
        match = re.fullmatch(r"([A-Za-z])(\d+)", head)
        if match:  # w5 -> w_{5}
            return f"{match[1]}_{{{match[2]}}}"
        return rf"\mathrm{{{head}}}"
    base = head if len(head) == 1 else rf"\mathrm{{{head}}}"
    return f"{base}_{{{tail.replace('_', ',')}}}"


def _is_name(token: str) -> bool:
    return token[0].isalpha() and token.isascii()


def _closing(tokens: list[str], start: int) -> int | None:
    """The index of the ")" matching the "(" at ``start``, or None."""
    depth = 0
    for k in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[k], 0)
        if depth == 0:
            return k
    return None


def math(text: str) -> str:
    return _translate(TOKEN.findall(text))


def _translate(tokens: list[str]) -> str:
    out = []
    k = 0
    while k < len(tokens):
        token = tokens[k]
        k += 1
        # e^(−net_h1), e^out, δ_o1: a superscript or subscript takes the group or name
        # after it (braced, so "δ_o1" is not the double subscript "\delta _o_{1}").
        if token in "^_" and k < len(tokens):
            if tokens[k] == "(" and (end := _closing(tokens, k)) is not None:
                out.append(token + "{" + _translate(tokens[k + 1 : end]) + "}")
                k = end + 1
                continue
            if _is_name(tokens[k]):
                # δ_o1 is subscripted as net_o1 is; e^net_h1 gets \mathrm{net}_{h1}.
                name = tokens[k].replace("_", ",") if token == "_" else _name(tokens[k])
                out.append(token + "{" + name + "}")
                k += 1
                continue
        if _is_name(token):
            out.append(_name(token))
        elif token[0] in SUPERSCRIPTS:
            out.append("^{" + "".join(SUPERSCRIPTS[c] for c in token) + "}")
        elif token[0] in SUBSCRIPTS:
            out.append("_{" + "".join(SUBSCRIPTS[c] for c in token) + "}")
        elif token in SYMBOLS:
            out.append(SYMBOLS[token])
        elif token == " ":
            out.append(r"\ ")
        elif token == "_":  # a subscript of nothing would not compile
            out.append(r"\_")
        elif token.isascii():
            out.append(token)
        else:
            out.append("?")
    return "".join(out)


def text(value: str) -> str:
    """Prose: LaTeX specials escaped, Unicode math symbols set in math mode."""
    out = []
    for ch in value:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "~":
            out.append(r"\textasciitilde{}")
        elif ch == "^":
            out.append(r"\textasciicircum{}")
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        elif ch in "<>|":  # in text mode (OT1) these would print as ¡, ¿ and —
            out.append(f"${ch}$")
        elif ch.isascii():
            out.append(ch)
        else:
            out.append(f"${math(ch)}$")
    return "".join(out)


def equation(block: Eq) -> str:
    """The chain ``parts[0] = parts[1] = ...`` in math mode (no status, no comment)."""
    return " = ".join(math(p) for p in block.parts)


def matrix(block: Matrix) -> str:
    """``label = \\begin{bmatrix}...\\end{bmatrix}`` in math mode (the label's shape dropped)."""
    rows = [r.strip("[]").split() for r in block.rows]
    body = r" \\ ".join(" & ".join(math(c) for c in row) for row in rows)
    return math(block.label.split("  ")[0]) + r" = \begin{bmatrix}" + body + r"\end{bmatrix}"


def render(explanation: Explanation) -> str:
    lines = [
        f"% {text(explanation.title)} -- generated by chainrule.explain",
        r"% needs \usepackage{amsmath,amssymb}",
        rf"\section*{{{text(explanation.title)}}}",
    ]
    for block in explanation.blocks:
        if isinstance(block, Heading):
            command = "subsection*" if block.level <= 2 else "subsubsection*"
            lines.append(rf"\{command}{{{text(block.text)}}}")
        elif isinstance(block, Para):
            lines += [text(block.text), ""]
        elif isinstance(block, Eq):
            parts = equation(block)
            if block.status is True:
                parts += r"\quad\checkmark"
            elif block.status is False:
                parts += r"\quad\times"
            if block.comment:
                parts += rf"\quad\text{{{text(block.comment)}}}"
            lines.append(r"\begin{equation*}" + "\n" + parts + "\n" + r"\end{equation*}")
        elif isinstance(block, Matrix):
            lines.append(r"\begin{equation*}" + matrix(block) + r"\end{equation*}")
        elif isinstance(block, Note):
            lines += [r"\paragraph{Note.} " + text(block.text), ""]
        elif isinstance(block, Table):
            spec = "r" * len(block.header)
            lines.append(rf"\begin{{tabular}}{{{spec}}}")
            lines.append(" & ".join(text(str(h)) for h in block.header) + r" \\ \hline")
            lines += [" & ".join(text(str(c)) for c in row) + r" \\" for row in block.rows]
            lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def document(fragment: str) -> str:
    """Wrap a fragment into a standalone document (used to test that it compiles)."""
    return (
        "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
        + fragment
        + "\\end{document}\n"
    )
