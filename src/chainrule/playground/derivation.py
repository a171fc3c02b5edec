"""The derivation panel's content: ``chainrule.explain`` for the clicked element on the
batch the next step trains on, its blocks as JSON with LaTeX for KaTeX, and the
optimizer's update of that element (explain's ``rules.element_step``, with the
playground's L1 term).

Nothing is derived here: every number comes from ``explain`` (forward values, chain-rule
factors, sums over paths, the finite-difference check) or from the optimizer's own
update function. Formulas are translated to LaTeX by explain's own LaTeX renderer.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from ..explain import explain, fmt
from ..explain.records import Block, Eq, Heading, Matrix, Note, Para, Table
from ..explain.render_latex import math
from ..explain.rules import element_step

if TYPE_CHECKING:  # session imports this module when a derivation is asked for
    from .session import Session, Target

PRECISION = 9


# Two spellings explain's LaTeX renderer does not turn into valid LaTeX: e^(−net_h1) and
# e^z (it writes "^" as a hat; here they are exponents) and a Greek letter with a
# subscript, δ_o1 or Σ_k (a double subscript in its output).
_SPECIAL = re.compile(
    r"\^\(([^()]*)\)|\^([A-Za-z0-9_]+)|([^\x00-\x7f])_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)"
)


def tex(text: str) -> str:
    """A Unicode formula as LaTeX (explain's translation, with exponents and subscripts)."""
    out, at = [], 0
    for match in _SPECIAL.finditer(text):
        out.append(math(text[at : match.start()]))
        if match[3] is not None:
            out.append(math(match[3]) + "_{" + match[4].replace("_", ",") + "}")
        else:
            out.append("^{" + math(match[1] if match[1] is not None else match[2]) + "}")
        at = match.end()
    out.append(math(text[at:]))
    return "".join(out)


def block_json(block: Block) -> dict[str, Any]:
    """One explain block for the page: equations carry LaTeX and their plain text."""
    if isinstance(block, Heading):
        return {"t": "h", "text": block.text, "level": block.level}
    if isinstance(block, Para):
        return {"t": "p", "text": block.text}
    if isinstance(block, Note):
        return {"t": "note", "text": block.text}
    if isinstance(block, Eq):
        text = " = ".join(block.parts)
        return {
            "t": "eq",
            "tex": tex(text),
            "text": text,
            "status": block.status,
            "comment": block.comment,
        }
    if isinstance(block, Matrix):
        return {"t": "matrix", "label": block.label, "rows": block.rows}
    if isinstance(block, Table):
        return {"t": "table", "header": block.header, "rows": block.rows}
    raise TypeError(f"unknown block {type(block).__name__}")


def derive(session: Session, target: Target) -> dict[str, Any]:
    """explain's derivation of ``target`` (a session.Target) for the session's next step."""
    started = time.perf_counter()
    name, index = session.element(target)
    rows = session.next_batch()
    x, y = session.data.x_train[rows], session.data.y_train[rows]
    element = f"{name}[{','.join(map(str, index))}]"
    names = session.preset.names if session.preset is not None else {}
    explanation = explain(
        session.model, session.loss_fn, x, y, params=[element], names=names, precision=PRECISION
    )
    check = next(c for c in explanation.checks if (c.param, c.index) == (name, index))
    label = check.label  # explain's own name for it: w5 unit by unit, 0.weight[1,0] in matrices
    grad = float(explanation.gradients[name][index])
    param = dict(session.model.named_parameters())[name]
    l1 = session.config.l1 if name in session.weights else 0.0
    update = element_step(session.optimizer, param, index, grad, label, precision=PRECISION, l1=l1)
    # The playground builds only chainrule.optim's own optimizers, whose rules explain knows.
    assert update is not None, type(session.optimizer).__name__
    loss = explanation.losses[0]
    blocks = [block_json(b) for b in explanation.blocks]
    focus = next(
        (k for k, b in enumerate(blocks) if b["t"] == "h" and b["text"].startswith(f"∂E/∂{label}")),
        None,
    )
    note = ""
    if target.kind == "unit":
        unit = "weights into it" if name.endswith(".weight") else f"bias {label}"
        note = (
            f"A unit's δ = ∂E/∂net is the gradient of its bias (∂net/∂b = 1); shown here "
            f"through its {unit}."
        )
    return {
        "type": "derivation",
        "note": note,
        "target": vars(target),
        "name": name,
        "index": list(index),
        "label": label,
        "step": session.step_count,
        "batch": len(rows),
        "form": explanation.form,
        "loss": fmt.num(loss, PRECISION),
        "value": fmt.num(update.before, PRECISION),
        "grad": fmt.num(grad, PRECISION),
        "fd": fmt.finite_difference(check.numeric, loss),
        "fd_ok": check.ok,
        "fd_error": fmt.relative_error(check.rel_error, check.ok, check.below_floor),
        "kink": check.kink,
        "after": fmt.num(update.after, PRECISION),
        "optimizer": update.kind,
        "update": [block_json(line) for line in update.lines],
        "blocks": blocks,
        "focus": focus,
        "ms": round(1000 * (time.perf_counter() - started), 1),
    }
