"""The computation graph in Graphviz DOT, and drawing it with ``dot`` when installed."""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from .records import GraphNode

if TYPE_CHECKING:  # numpy is imported when a graph is built, not with the module
    import numpy as np

    from .explanation import Explanation
    from .trace import Trace

_SHAPES = {"op": "box", "param": "ellipse", "input": "plaintext"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(explanation: Explanation) -> str:
    lines = [
        "digraph chainrule {",
        "  rankdir=BT;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    for node in explanation.graph:
        label = node.label
        if node.value:
            label += f"\\nvalue {node.value}"
        if node.grad:
            label += f"\\ngrad {node.grad}"
        lines.append(
            f"  {_quote(node.key)} [shape={_SHAPES.get(node.kind, 'box')}, label={_quote(label)}];"
        )
    for node in explanation.graph:
        lines += [f"  {_quote(parent)} -> {_quote(node.key)};" for parent in node.parents]
    lines.append("}")
    # Labels hold "\n" line breaks meant for dot: undo the doubled backslash of _quote.
    return "\n".join(lines).replace("\\\\n", "\\n") + "\n"


def render_to(explanation: Explanation, path: pathlib.Path) -> pathlib.Path:
    # Imported here: `import chainrule` should not pay for starting Graphviz's tools.
    import shutil
    import subprocess

    source = render(explanation)
    dot = shutil.which("dot")
    fmt = path.suffix.lstrip(".").lower()
    if dot is None or fmt in ("", "dot", "gv"):
        target = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
        target.write_text(source, encoding="utf-8")
        return target
    subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=source.encode(), check=True)
    return path


def graph_nodes(trace: Trace, precision: int) -> list[GraphNode]:
    """One GraphNode per recorded op and per parameter, values and gradients summarized."""
    import numpy as np

    from . import fmt as f

    def short(array: np.ndarray) -> str:
        array = np.asarray(array)
        if array.size <= 4:
            return f.vec(array, min(precision, 6))
        return f"{f.shape(array.shape)} ‖·‖={f.num(float(np.linalg.norm(array)), 4)}"

    nodes: list[GraphNode] = []
    seen: set[str] = set()
    for node in trace.nodes:
        parents = []
        for _arg, (kind, ref) in zip(node.args, node.sources, strict=True):
            if kind == "node":
                parents.append(f"v{ref}")
            elif kind == "param":
                if ref not in seen:
                    seen.add(ref)
                    nodes.append(
                        GraphNode(
                            ref, ref, "param", short(trace.params[ref]), short(trace.grads[ref])
                        )
                    )
                parents.append(ref)
        nodes.append(
            GraphNode(
                f"v{node.index}",
                f"v{node.index} = {node.name}",
                "op",
                short(node.out),
                short(node.grad_output),
                parents,
            )
        )
    return nodes
