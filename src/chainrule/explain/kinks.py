"""Kinks: points where an op has no derivative (relu at 0, ties of max, clip's ends).

There the loss has two one-sided derivatives and backward() returns one of them (or
their average), by PyTorch's conventions: relu'(0) = 0, leaky_relu'(0) = the negative
slope, |x|'(0) = sign(0) = 0, clamp passes g at its ends, maximum/max share g among
ties. A central difference straddles the kink and averages the two sides, so it
disagrees with backprop without either being wrong; ``explain`` names the kink
instead of reporting a failed check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .structure import Layer, Network
from .trace import RecordedNode, Trace, replay_values


def _at(point: float) -> Callable[[RecordedNode], np.ndarray]:
    return lambda node: np.asarray(node.args[0]) == point


def _elu(node: RecordedNode) -> np.ndarray:
    # alpha = 1 joins the two branches with the same slope: no kink.
    a = np.asarray(node.args[0])
    return (a == 0) & (node.kwargs.get("alpha", 1.0) != 1.0)


def _clip(node: RecordedNode) -> np.ndarray:
    a = np.asarray(node.args[0])
    low, high = node.kwargs.get("min"), node.kwargs.get("max")
    hit = np.zeros(a.shape, dtype=bool)
    for end in (low, high):
        if end is not None:
            hit |= a == end
    return hit


def _tie(node: RecordedNode) -> np.ndarray:
    return np.asarray(node.args[0]) == np.asarray(node.args[1])


def _extreme(node: RecordedNode) -> np.ndarray:
    a = np.asarray(node.args[0])
    axis, out = node.kwargs.get("axis"), np.asarray(node.out)
    reached = a == (np.expand_dims(out, axis) if axis is not None and out.ndim < a.ndim else out)
    count = reached.sum(axis=axis, keepdims=True)
    return reached & (count > 1)


def _l1(node: RecordedNode) -> np.ndarray:
    return np.asarray(node.args[0]) == np.asarray(node.args[1])


# What a kink is, for readers of a derivation that meets one (to_html prints it).
KINK_EXPLANATION = (
    "A kink is a point where an op has no derivative: relu and leaky_relu at 0, |x| at 0, "
    "clamp at its ends, ties of max and min. There the loss has two one-sided derivatives, "
    "and backward() returns one of them (or their average), by PyTorch's conventions: "
    "relu'(0) = 0, leaky_relu'(0) = the negative slope, |x|'(0) = sign(0) = 0, clamp passes "
    "the gradient at its ends, ties share it. A central difference (E(θ + h) − E(θ − h)) / 2h "
    "straddles the kink and averages the two sides, so it disagrees with backprop without "
    "either being wrong. explain therefore also computes the one-sided differences, names "
    "the kink and the side backprop took, and does not count the check as a failure."
)

# op name -> the elements of its first argument that sit exactly on a kink.
KINK_POINTS: dict[str, Callable[[RecordedNode], np.ndarray]] = {
    "relu": _at(0.0),
    "leaky_relu": _at(0.0),
    "abs": _at(0.0),
    "elu": _elu,
    "clip": _clip,
    "maximum": _tie,
    "minimum": _tie,
    "max": _extreme,
    "min": _extreme,
    "l1_loss": _l1,
}
ELEMENTWISE = frozenset({"relu", "leaky_relu", "abs", "elu"})  # rule read from the VJP
RULES = {  # what the VJP does at the kink, for the others (the op's own formula says how)
    "clip": "clamp passes the gradient at its ends",
    "maximum": "a tie shares the gradient half and half",
    "minimum": "a tie shares the gradient half and half",
    "max": "ties share the gradient equally",
    "min": "ties share the gradient equally",
    "l1_loss": "sign(0) = 0",
}


@dataclass
class KinkSite:
    """One op whose input sits on a kink: where, and what backprop does there."""

    op: str
    where: str  # "net_h1 = 0", "v3[0,1] = 1"
    rule: str  # "relu'(0) = 0"
    node: int = 0  # the node's index in the trace
    index: tuple = ()  # the element of its first argument on the kink


def _names(net: Network | None) -> dict[int, Callable[[tuple], str]]:
    """node index -> a namer of its input elements (net_h1, …) for nodes in layers."""
    namers: dict[int, Callable[[tuple], str]] = {}
    if net is None:
        return namers
    batched = net.x.shape[0] > 1
    for layer in net.layers:
        for s, stage in enumerate(layer.post):
            namers[stage.node.index] = _stage_namer(layer, s, batched)
    return namers


def _stage_namer(layer: Layer, s: int, batched: bool) -> Callable[[tuple], str]:
    """The namer of stage ``s``'s input elements: unit quantity, plus the sample if batched."""

    def name(idx: tuple) -> str:
        return layer.names(idx[-1])[s] + (f"[sample {idx[0] + 1}]" if batched else "")

    return name


def _value(x: float) -> str:
    return f"{x:g}".replace("-", "−")


def find_kinks(trace: Trace, net: Network | None, limit: int = 64) -> list[KinkSite]:
    """The first ``limit`` elements of the recorded pass that sit exactly on a kink."""
    namers = _names(net)
    sites: list[KinkSite] = []
    for node in trace.nodes:
        detect = KINK_POINTS.get(node.name)
        if detect is None:
            continue
        hits = np.argwhere(detect(node))
        for idx in map(tuple, hits[: limit - len(sites)]):
            at = float(np.asarray(node.args[0])[idx])
            if node.index in namers:
                where = f"{namers[node.index](idx)} = {_value(at)}"
            else:
                where = f"v{node.index}[{','.join(map(str, idx))}] = {_value(at)}"
            if node.name in ELEMENTWISE:
                slope = float(node.local_derivative()[idx])
                rule = f"{node.name}'({_value(at)}) = {_value(slope)}"
            else:
                rule = RULES.get(node.name, node.op.formula)
            sites.append(KinkSite(node.name, where, rule, node.index, idx))
        if len(sites) >= limit:
            break
    return sites


def moved_by(
    trace: Trace, sites: list[KinkSite], name: str, index: tuple, h: float
) -> list[KinkSite]:
    """The sites whose inputs move when parameter element ``name[index]`` moves by h.

    Those are the kinks this element's finite difference straddles; the others sit
    elsewhere in the graph.
    """
    if not sites:
        return []
    nudged = trace.params[name].copy()
    nudged[index] += h
    outs = replay_values(trace, {name: nudged})
    moved = []
    for site in sites:
        node = trace.nodes[site.node]
        shape = np.shape(node.args[0])
        for pos in range(min(2, len(node.args))):  # a tie has two sides
            kind, ref = node.sources[pos]
            if kind not in ("node", "param") or node.args[pos] is None:
                continue
            before = np.broadcast_to(np.asarray(node.args[pos]), shape)[site.index]
            if kind == "node":
                after = np.broadcast_to(outs[ref], shape)[site.index]
            else:
                after = np.broadcast_to(nudged if ref == name else node.args[pos], shape)[
                    site.index
                ]
            if after != before:
                moved.append(site)
                break
    return moved


def describe(sites: list[KinkSite], side: str, shown: int = 3) -> str:
    """The note printed at a kink check: no derivative, and which side backprop took."""
    sites = sites[:shown]
    at = "; ".join(f"{s.op} at {s.where}" for s in sites) or "a kink of an op"
    rules = "; ".join(dict.fromkeys(s.rule for s in sites))
    taken = {
        "left": "the left one-sided derivative",
        "right": "the right one-sided derivative",
        "average": "the average of the two sides",
    }[side]
    return (
        f"kink: not differentiable here ({at}); backprop uses {taken}"
        + (f", {rules}" if rules else "")
        + " (PyTorch's convention)"
    )
