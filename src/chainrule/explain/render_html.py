"""A self-contained HTML page: maths rendered by the vendored KaTeX, the network as SVG.

One file with no links out, so it can be mailed and opened offline: KaTeX's script and
stylesheet are inlined and its fonts are ``data:`` URLs (WOFF2, base64). Each formula
is the LaTeX renderer's translation (``render_latex.equation``), set by KaTeX in the
browser; the Unicode formula of the text renderer sits beside it and is what a reader
without JavaScript sees. Every name and number is HTML-escaped: model names, aliases
and titles come from the user.
"""

from __future__ import annotations

import base64
import functools
import html
import re
from typing import TYPE_CHECKING

import numpy as np

from . import fmt
from .diagram import Diagram, DiagramLayer
from .kinks import KINK_EXPLANATION
from .records import Block, Eq, Heading, Matrix, Note, Para, Table
from .render_latex import equation as latex_equation
from .render_latex import matrix as latex_matrix

if TYPE_CHECKING:  # explanation.py imports the renderers when it renders
    from .explanation import Explanation

STYLE = """
body { font-family: Georgia, serif; max-width: 64rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
.eq { margin: 0.3rem 0 0.3rem 1.5rem; overflow-x: auto; overflow-y: hidden; }
.plain { font-family: "DejaVu Sans Mono", Menlo, monospace; white-space: pre-wrap; }
.katex-on .plain { display: none; }
.ok { color: #17803d; font-weight: bold; } .fail { color: #b91c1c; font-weight: bold; }
.comment { color: #666; font-size: 0.9em; }
.note { border-left: 4px solid #d97706; background: #fff7ed; padding: 0.4rem 0.8rem; }
pre { background: #f5f5f5; padding: 0.5rem; }
table { border-collapse: collapse; } td, th { padding: 0.2rem 0.8rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""
# The diagram's and the kink box's rules: the docs site adds them to its example pages.
SVG_STYLE = """
.diagram { overflow-x: auto; }
.kinks { border-left: 4px solid #c2410c; background: #fff1e6; padding: 0.4rem 0.8rem; }
svg text { font-family: Helvetica, Arial, sans-serif; font-size: 12px; fill: #222; }
svg .label { paint-order: stroke; stroke: #fff; stroke-width: 4px; }
svg .unit circle { fill: #f8fafc; stroke: #334155; stroke-width: 1.5; }
svg .unit.kink circle { fill: #fff1e6; stroke: #c2410c; stroke-width: 2.5;
                        stroke-dasharray: 4 2; }
svg .head { font-weight: bold; }
"""

# Draw every weight as an edge up to this many; label the edges up to the second.
MAX_EDGES = 2_000
MAX_LABELLED_EDGES = 64
MAX_UNITS_DRAWN = 64  # units in one column
MAX_SAMPLE_COLUMNS = 16
MAX_SAMPLE_ROWS = 300
MAX_WEIGHT_ROWS = 1_000

RENDER_MATHS = """
(function () {
  if (typeof katex === "undefined") { return; }
  var items = document.querySelectorAll("[data-tex]");
  for (var i = 0; i < items.length; i++) {
    katex.render(items[i].getAttribute("data-tex"), items[i].querySelector(".tex"),
                 {throwOnError: false, displayMode: false});
  }
  document.body.classList.add("katex-on");
})();
"""

_FONT_SOURCE = re.compile(
    r'src:url\(fonts/(?P<name>[\w-]+)\.woff2\) format\("woff2"\)'
    r'(?:,url\([^)]*\) format\("[a-z]+"\))*'
)


@functools.cache
def katex_assets() -> tuple[str, str]:
    """(stylesheet with every font inlined as a WOFF2 data URL, katex.min.js)."""
    from .._vendor import KATEX_DIR

    fonts = KATEX_DIR / "fonts"

    def inline(match: re.Match) -> str:
        data = (fonts / f"{match['name']}.woff2").read_bytes()
        encoded = base64.b64encode(data).decode("ascii")
        return f'src:url(data:font/woff2;base64,{encoded}) format("woff2")'

    css = _FONT_SOURCE.sub(inline, (KATEX_DIR / "katex.min.css").read_text(encoding="utf-8"))
    if re.search(r"url\((?!data:)", css):  # a new KaTeX with another @font-face layout
        raise RuntimeError(f"{KATEX_DIR / 'katex.min.css'} refers to files not inlined")
    script = (KATEX_DIR / "katex.min.js").read_text(encoding="utf-8")
    if "</script" in script.lower():  # would end the inline <script> element early
        raise RuntimeError(f"{KATEX_DIR / 'katex.min.js'} holds '</script'")
    return css, script


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# -- the network diagram ----------------------------------------------------------------


def _columns(diagram: Diagram) -> list[list[str]]:
    return [diagram.inputs] + [layer.units for layer in diagram.layers]


def _label_position(j: int, width: int) -> float:
    """Where along its edge the label of an edge into unit j of ``width`` units sits."""
    return 0.5 if width == 1 else 0.28 + 0.4 * j / (width - 1)


def _gap(diagram: Diagram, precision: int) -> float:
    """Columns far enough apart that the widest edge label clears the circles (r = 20)."""
    longest = 0
    for layer in diagram.layers:
        names = max(
            (len(layer.weight_label(j, k)) for j, k in np.ndindex(layer.weight.shape)), default=1
        )
        longest = max(longest, 4 + names + precision + 6)  # "∂E/∂w5 = −0.0821670406"
    half = 3.6 * longest  # about 7.2 px per character at 12 px
    nearest = min(_label_position(0, len(layer.units)) for layer in diagram.layers)
    return max(150.0, (half + 26) / nearest)


def _edge(
    layer: DiagramLayer,
    j: int,
    k: int,
    ends: tuple[tuple[float, float], tuple[float, float]],
    labelled: bool,
    p: int,
    scale: float,
) -> str:
    (x1, y1), (x2, y2) = ends
    w, g = float(layer.weight[j, k]), float(layer.weight_grad[j, k])
    name = layer.weight_label(j, k)
    where = f"{layer.weight_name}[{j},{k}]"
    value, grad = fmt.num(w, p), fmt.num(g, p)
    title = f"{name} = {value}" + (f" ({where})" if name != where else "")
    title += f"; ∂E/∂{name} = {grad}"
    colour = "#2563eb" if w >= 0 else "#dc2626"
    width = 1 + 3 * abs(w) / scale if scale > 0 else 1
    parts = [
        f'<g class="edge" data-param="{_e(layer.weight_name)}" data-index="{j},{k}" '
        f'data-value="{_e(value)}" data-grad="{_e(grad)}">',
        f"<title>{_e(title)}</title>",
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
        f'stroke-width="{width:.2f}" stroke-opacity="0.75"/>',
    ]
    if labelled:
        # Labels of edges into one unit share a position along the edges, and each unit
        # of the layer gets its own: edges from neighbouring sources then stay a row apart.
        t = _label_position(j, len(layer.units))
        lx, ly = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        parts.append(
            f'<text class="label" x="{lx:.1f}" y="{ly - 3:.1f}" text-anchor="middle">'
            f'<tspan class="w">{_e(name)} = {_e(value)}</tspan>'
            f'<tspan class="g" x="{lx:.1f}" dy="14">∂E/∂{_e(name)} = {_e(grad)}</tspan></text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _unit(name: str, x: float, y: float, head_lines: list[str], kink: bool, tip: str) -> str:
    cls = "unit kink" if kink else "unit"
    out = [
        f'<g class="{cls}" data-unit="{_e(name)}"><title>{_e(tip)}</title>',
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="20"/>',
        f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{_e(name)}</text>',
    ]
    for n, line in enumerate(head_lines):
        out.append(
            f'<text class="label" x="{x:.1f}" y="{y + 36 + 14 * n:.1f}" '
            f'text-anchor="middle">{_e(line)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def svg(diagram: Diagram, precision: int) -> str:
    """The network as inline SVG: one ``<g class="edge">`` per weight, one per unit.

    Each edge carries its weight and ``∂E/∂w`` (as a label when the network is small,
    always as a tooltip and as ``data-value`` / ``data-grad``); units show their bias
    and gradient, and, for a single sample, their output value. Units whose activation
    input sits on a kink are drawn dashed.
    """
    columns = _columns(diagram)
    labelled = diagram.edge_count <= MAX_LABELLED_EDGES
    single = diagram.samples == 1
    gap_x = _gap(diagram, precision) if labelled else 150
    gap_y = 130 if labelled else 56
    tallest = max(len(c) for c in columns)
    top, left = 50, 70

    def at(c: int, i: int) -> tuple[float, float]:
        return left + c * gap_x, top + 20 + (i + (tallest - len(columns[c])) / 2) * gap_y

    width = left * 2 + (len(columns) - 1) * gap_x
    height = top + 20 + (tallest - 1) * gap_y + (80 if labelled else 50)
    scale = max((float(np.max(np.abs(lay.weight))) for lay in diagram.layers), default=0.0)
    parts = [
        f'<svg class="network" role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        "<title>The network: weights and ∂E/∂w on the edges</title>",
    ]
    for c, layer in enumerate(diagram.layers, start=1):
        for j in range(len(layer.units)):
            for k in range(len(columns[c - 1])):
                ends = (at(c - 1, k), at(c, j))
                parts.append(_edge(layer, j, k, ends, labelled, precision, scale))
    parts.append(f'<text class="head" x="{left:.0f}" y="24" text-anchor="middle">inputs</text>')
    rows = dict(diagram.rows)
    for k, name in enumerate(diagram.inputs):
        x, y = at(0, k)
        value = [fmt.num(rows[name][0], precision)] if single and name in rows else []
        parts.append(_unit(name, x, y, value, False, f"input {name}"))
    for c, layer in enumerate(diagram.layers, start=1):
        x0 = left + c * gap_x
        parts.append(
            f'<text class="head" x="{x0:.0f}" y="24" text-anchor="middle">'
            f"layer {layer.number}: {_e(layer.activation)}</text>"
        )
        for j, unit in enumerate(layer.units):
            x, y = at(c, j)
            lines = []
            final = layer.finals[j]
            if single and final in rows:
                lines.append(f"{final} = {fmt.num(rows[final][0], precision)}")
            bias = layer.bias_at(j)
            if bias is not None and labelled:
                b = layer.bias_label(j)
                lines.append(f"{b} = {fmt.num(bias[0], precision)}")
                lines.append(f"∂E/∂{b} = {fmt.num(bias[1], precision)}")
            tip = f"unit {unit}" + (" (its activation's input sits on a kink)" * layer.kinked[j])
            if bias is not None:
                b = layer.bias_label(j)
                tip += (
                    f"; {b} = {fmt.num(bias[0], precision)}, "
                    f"∂E/∂{b} = {fmt.num(bias[1], precision)}"
                )
            parts.append(_unit(unit, x, y, lines, layer.kinked[j], tip))
    parts.append("</svg>")
    return "\n".join(parts)


def _samples_table(diagram: Diagram, precision: int) -> str:
    shown = min(diagram.samples, MAX_SAMPLE_COLUMNS)
    head = "".join(f"<th>sample {n + 1}</th>" for n in range(shown))
    body = "".join(
        f"<tr><td>{_e(name)}</td>"
        + "".join(f"<td>{_e(fmt.num(v, precision))}</td>" for v in values[:shown])
        + "</tr>"
        for name, values in diagram.rows[:MAX_SAMPLE_ROWS]
    )
    more = ""
    if diagram.samples > shown or len(diagram.rows) > MAX_SAMPLE_ROWS:
        more = (
            f"<p>The first {shown} of {diagram.samples} samples and "
            f"{min(len(diagram.rows), MAX_SAMPLE_ROWS)} of {len(diagram.rows)} quantities "
            "are shown.</p>"
        )
    return (
        "<h2>Values, one sample per column</h2>\n"
        f'<table class="samples"><thead><tr><th>quantity</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{more}"
    )


def _weights_table(diagram: Diagram, precision: int) -> str:
    total = sum(
        lay.weight.size + (0 if lay.bias is None else lay.bias.size) for lay in diagram.layers
    )
    rows: list[list[str]] = []
    for c, layer in enumerate(diagram.layers, start=1):
        sources = _columns(diagram)[c - 1]
        for j, unit in enumerate(layer.units):
            if len(rows) >= MAX_WEIGHT_ROWS:  # formatting a million numbers takes seconds
                break
            for k, source in enumerate(sources):
                rows.append(
                    [
                        layer.weight_label(j, k),
                        f"{layer.weight_name}[{j},{k}]",
                        f"{source} → {unit}",
                        fmt.num(layer.weight[j, k], precision),
                        fmt.num(layer.weight_grad[j, k], precision),
                    ]
                )
            bias = layer.bias_at(j)
            if bias is not None:
                rows.append(
                    [
                        layer.bias_label(j),
                        f"{layer.bias_name}[{j}]",
                        f"bias → {unit}",
                        fmt.num(bias[0], precision),
                        fmt.num(bias[1], precision),
                    ]
                )
    shown = rows[:MAX_WEIGHT_ROWS]
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in shown)
    more = f"<p>The first {len(shown)} of {total} are listed.</p>" if total > len(shown) else ""
    return (
        "<details><summary>Every weight and bias, its value before the update and ∂E/∂w"
        "</summary>\n<table><thead><tr><th>name</th><th>parameter</th><th>edge</th>"
        f"<th>value</th><th>∂E/∂w</th></tr></thead><tbody>{body}</tbody></table>{more}"
        "</details>"
    )


def network_section(diagram: Diagram | None, precision: int) -> str:
    """The diagram (when drawable), the per-sample values and the weights, as HTML."""
    if diagram is None:
        return ""
    parts = ["<h2>The network</h2>"]
    columns = _columns(diagram)
    if diagram.edge_count <= MAX_EDGES and max(len(c) for c in columns) <= MAX_UNITS_DRAWN:
        legend = (
            "Edges are weights (blue ≥ 0, red < 0, thicker = larger |w|), labelled with the "
            "value before the update and ∂E/∂w"
            if diagram.edge_count <= MAX_LABELLED_EDGES
            else "Edges are weights (blue ≥ 0, red < 0, thicker = larger |w|); hover over "
            "an edge for its value and ∂E/∂w"
        )
        legend += "; a dashed unit's activation input sits on a kink."
        parts += [f'<div class="diagram">{svg(diagram, precision)}</div>', f"<p>{_e(legend)}</p>"]
    else:
        parts.append(
            f"<p>{diagram.edge_count} weights in {len(diagram.layers)} layers: too many to "
            "draw; the values are listed below.</p>"
        )
    parts.append(_weights_table(diagram, precision))
    if diagram.samples > 1:
        parts.append(_samples_table(diagram, precision))
    return "\n".join(parts)


def kink_section(explanation: Explanation) -> str:
    """Why a check at a kink differs from backprop, and each such check, when any."""
    kinked = [c for c in explanation.checks if c.kink]
    if not kinked:
        return ""
    p, loss = explanation.precision, explanation.losses[0]

    def fd(value: float | None) -> str:  # the digits that hold on any machine, as elsewhere
        return "–" if value is None else fmt.finite_difference(value, loss)

    items = "".join(
        f"<li><strong>{_e(c.label)}</strong>: backprop gives {_e(fmt.num(c.grad, p))}; the "
        f"central difference {_e(fd(c.numeric))}; one-sided: right {_e(fd(c.right))}, left "
        f"{_e(fd(c.left))}. {_e(c.kink)}.</li>"
        for c in kinked
    )
    return (
        '<section class="kinks"><h2>Kinks: where the loss has no derivative</h2>'
        f"<p>{_e(KINK_EXPLANATION)}</p><ul>{items}</ul></section>"
    )


# -- the derivation ----------------------------------------------------------------------


def _maths(tex: str, plain: str, tag: str = "span") -> str:
    return (
        f'<span class="tex"></span><{tag} class="plain">{plain}</{tag}>'
        if tex
        else f'<{tag} class="plain">{plain}</{tag}>'
    )


def block_html(block: Block, katex: bool) -> str:
    """One derivation block as HTML; with ``katex`` formulas carry their LaTeX."""
    e = _e
    if isinstance(block, Heading):
        level = min(block.level, 6)
        return f"<h{level}>{e(block.text)}</h{level}>"
    if isinstance(block, Para):
        return f"<p>{e(block.text)}</p>"
    if isinstance(block, Eq):
        mark = ""
        if block.status is True:
            mark = ' <span class="ok">✓</span>'
        elif block.status is False:
            mark = ' <span class="fail">✗</span>'
        comment = f' <span class="comment">[{e(block.comment)}]</span>' if block.comment else ""
        plain = e(" = ".join(block.parts))
        if not katex:
            return f'<div class="eq"><span class="plain">{plain}</span>{mark}{comment}</div>'
        tex = e(latex_equation(block))
        return f'<div class="eq" data-tex="{tex}">{_maths(tex, plain)}{mark}{comment}</div>'
    if isinstance(block, Matrix):
        plain = f"<p>{e(block.label)} =</p><pre>{e(chr(10).join(block.rows))}</pre>"
        if not katex:
            return f'<div class="eq"><div class="plain">{plain}</div></div>'
        tex = e(latex_matrix(block))
        return f'<div class="eq" data-tex="{tex}">{_maths(tex, plain, "div")}</div>'
    if isinstance(block, Note):
        return f'<p class="note"><strong>Note.</strong> {e(block.text)}</p>'
    if isinstance(block, Table):
        head = "".join(f"<th>{e(c)}</th>" for c in block.header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    raise TypeError(f"render_html expected a derivation block, got {type(block).__name__}")


def render(explanation: Explanation, katex: bool = True) -> str:
    """The page. ``katex=False`` leaves out KaTeX (a page of ~10 kB, formulas in Unicode)."""
    e = _e
    body = [f"<h1>{e(explanation.title)}</h1>"]
    body.append(network_section(explanation.diagram, explanation.precision))
    body.append(kink_section(explanation))
    body.append("<h2>The derivation</h2>" if explanation.diagram is not None else "")
    body += [block_html(block, katex) for block in explanation.blocks]
    head = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(explanation.title)}</title>",
        f"<style>{STYLE}{SVG_STYLE}</style>",
    ]
    tail = []
    if katex:
        css, script = katex_assets()
        head.append(f"<style>{css}</style>")
        tail = [f"<script>{script}</script>", f"<script>{RENDER_MATHS}</script>"]
    return (
        "\n".join(head)
        + "\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n"
        + "\n".join(tail)
        + ("\n" if tail else "")
        + "</body>\n</html>\n"
    )
