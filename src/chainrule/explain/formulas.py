"""How each op and loss is written for people. Display only: every value shown next to
these formulas comes from the recorded backward pass, never from these strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .trace import RecordedNode, Trace


def forward_formula(node: RecordedNode, z: str) -> str:
    """The stage's output as a formula of its input name ``z``."""
    kw = node.kwargs
    return {
        "sigmoid": f"σ({z}) = 1/(1 + e^(−{z}))",
        "tanh": f"tanh({z})",
        "relu": f"max(0, {z})",
        "leaky_relu": f"max(0, {z}) + {kw.get('negative_slope')}·min(0, {z})",
        "elu": f"{z} if {z} > 0 else {kw.get('alpha')}·(e^{z} − 1)",
        "gelu": f"{z}·Φ({z})",
        "softplus": f"log(1 + e^({kw.get('beta')}·{z}))/{kw.get('beta')}",
        "dropout": f"{z} · m/(1 − p)",
        "softmax": f"e^{z} / Σ_k e^{z}_k",
        "log_softmax": f"{z} − log Σ_k e^{z}_k",
        "batch_norm": f"γ·({z} − μ)/√(σ² + ε) + β",
    }.get(node.name, f"{node.name}({z})")


# How the forward formulas above write an op's own output, where not by its name.
_SYMBOLS = {"sigmoid": "σ"}
_COMMENT = re.compile(r"\s{2,}\(.*\)$")  # "  (tanh form: ...)" after a formula


def derivative_formula(node: RecordedNode, z: str, a: str) -> str:
    """∂a/∂z of an elementwise stage, written with its input z and output a.

    Read from the op's own formula (``defop(..., formula="da = g * σ(a)(1 − σ(a))")``,
    where ``a`` is the op's input): see ``op_derivative``. An op that is not
    elementwise (its formula is no ``da = ...``) shows its formula as it stands.
    """
    return op_derivative(node.op, z, a, node.kwargs)


def op_derivative(op: Any, z: str, a: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """The derivative in ``op.formula`` (``da = g * f'(a)``) as ``f'(z)``, the options
    in ``kwargs`` written as their values; when it is written with the op's own output
    (σ' = σ(1 − σ), tanh' = 1 − tanh²) also as a formula of the output ``a``:
    ``σ(z)(1 − σ(z)) = a(1 − a)``."""
    formula = op.formula
    if not formula.startswith("da = ") or ";" in formula:  # not one input's derivative
        return formula
    text = _COMMENT.sub("", formula[len("da = ") :])
    text = re.sub(r"\bg [*·] ", "", text)  # the incoming gradient g: the derivative is its factor
    text = re.sub(r"\bg\b", "1", text)
    text = _unwrap(text)
    for name, value in (kwargs or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = re.sub(rf"\b{re.escape(name)}\b", f"{value}", text)
    symbol = _SYMBOLS.get(op.name, op.name)
    in_output = None
    if f"{symbol}(a)" in text or f"{symbol}²(a)" in text:
        in_output = text.replace(f"{symbol}(a)", a).replace(f"{symbol}²(a)", f"{a}²")
    text = re.sub(r"\ba\b", z, text)
    return text if in_output is None else f"{text} = {in_output}"


def _unwrap(text: str) -> str:
    """``text`` without parentheses around all of it."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for index, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and index < len(text) - 1:
                return text  # "(a)(b)": the first pair closes early
        text = text[1:-1]
    return text


@dataclass
class LossInfo:
    """The loss as the explanation writes it: E in symbols and ∂E/∂out per unit."""

    formula: str  # e.g. "E = ½ Σ (target − out)²"
    derivative: str  # template with {o} (output name) and {t} (target name)
    per_element: np.ndarray | None  # (N, m) contributions E_o1, E_o2, ... when pointwise
    node_names: list[str]
    notes: list[str]


_POINTWISE = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy"}


def _coef(value: float) -> str:
    if value == 1:
        return ""
    for text, exact in (("½", 0.5), ("⅓", 1 / 3), ("¼", 0.25)):
        if value == exact:
            return text + " "
    return f"{float(value):.6g} · "


def _factor(value: float) -> str:
    if value == 1:
        return ""
    if value == -1:
        return "−"
    return f"{float(value):.6g} · "


def describe_loss(trace: Trace) -> LossInfo:
    """Read the loss ops after the model output: one loss op, optional constant scaling."""
    tail = trace.nodes[trace.output_index + 1 :]
    names = [n.name for n in tail]
    notes: list[str] = []
    generic = LossInfo(
        "E = loss_fn(out, target)",
        "from the loss's backward: " + "; ".join(n.op.formula for n in tail),
        None,
        names,
        notes,
    )
    if not tail:
        return generic
    loss = tail[0]
    if loss.sources[0] != ("node", trace.output_index):
        return generic
    scale = 1.0
    for node in tail[1:]:
        consts = [a for a, s in zip(node.args, node.sources, strict=True) if s[0] == "const"]
        if node.name == "mul" and len(consts) == 1 and np.size(consts[0]) == 1:
            scale *= float(np.asarray(consts[0]))
        elif node.name == "div" and node.sources[1][0] == "const" and np.size(node.args[1]) == 1:
            scale /= float(np.asarray(node.args[1]))
        elif node.name == "neg":
            scale = -scale
        else:
            return generic
    reduction = loss.kwargs.get("reduction", "mean")
    out = loss.args[0]
    n = out.shape[0] if out.ndim > 1 else 1
    count = np.size(out) if loss.name in _POINTWISE or loss.name.startswith("binary") else n
    s = scale / count if reduction == "mean" else scale
    mean = f"(1/{count}) " if reduction == "mean" else ""
    c = _coef(scale)
    per_element = None
    if loss.name in _POINTWISE or loss.name == "binary_cross_entropy_with_logits":
        kwargs = dict(loss.kwargs, reduction="none")
        per_element = (
            scale
            / (count if reduction == "mean" else 1)
            * np.asarray(loss.op.forward(*loss.args, **kwargs), dtype=np.float64)
        )
    if loss.name == "mse_loss":
        k = 2 * s
        slope = "−({t} − {o})" if k == 1 else f"{float(k):.6g}·({{o}} − {{t}})"
        return LossInfo(f"E = {c}{mean}Σ (target − out)²", slope, per_element, names, notes)
    if loss.name == "l1_loss":
        return LossInfo(
            f"E = {c}{mean}Σ |out − target|",
            f"{_factor(s)}sign({{o}} − {{t}})",
            per_element,
            names,
            notes,
        )
    if loss.name == "binary_cross_entropy":
        notes.append(
            "dE/dŷ = −y/ŷ + (1 − y)/(1 − ŷ): positive when ŷ > y, so descent lowers ŷ. "
            "Some tutorials drop the minus sign of the first term and get the direction wrong."
        )
        return LossInfo(
            f"E = −{c}{mean}Σ [target·log(out) + (1 − target)·log(1 − out)]",
            f"{_factor(s)}(−{{t}}/{{o}} + (1 − {{t}})/(1 − {{o}}))",
            per_element,
            names,
            notes,
        )
    if loss.name == "binary_cross_entropy_with_logits":
        return LossInfo(
            f"E = {c}{mean}Σ [log(1 + e^out) − target·out]",
            f"{_factor(s)}(σ({{o}}) − {{t}})",
            per_element,
            names,
            notes,
        )
    if loss.name == "cross_entropy":
        return LossInfo(
            f"E = −{c}{mean}Σ_n log softmax(out_n)[target_n]",
            f"{_factor(s)}(softmax(out)_{{j}} − [{{j}} = target])",
            None,
            names,
            notes,
        )
    if loss.name == "nll_loss":
        return LossInfo(
            f"E = −{c}{mean}Σ_n out_n[target_n]",
            f"−{_factor(s)}[{{j}} = target]",
            None,
            names,
            notes,
        )
    if loss.name in ("huber_loss", "smooth_l1_loss"):
        return LossInfo(
            f"E = {c}{mean}Σ {loss.name}(out − target)",
            f"{_factor(s)}ℓ'({{o}} − {{t}}),  {loss.op.formula}",
            per_element,
            names,
            notes,
        )
    return generic
