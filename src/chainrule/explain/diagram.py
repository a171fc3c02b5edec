"""The network as data for a drawing: layers, units, weights, gradients, values per sample.

Read from the recorded pass of a layered network (``structure.Network``), so every
number is one ``backward()`` produced; the HTML renderer draws it as inline SVG.
Weights and biases are the values *before* the update, next to ``∂E/∂w``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kinks import KinkSite
from .structure import Network


@dataclass
class DiagramLayer:
    """One affine layer and its stages. Shapes: ``weight`` (out, in), ``bias`` (out,)."""

    number: int
    units: list[str]  # "h1", "o1", ...
    activation: str  # "sigmoid", "relu ∘ dropout" (applied right to left), "identity"
    weight_name: str  # the parameter, "0.weight"
    weight: np.ndarray
    weight_grad: np.ndarray
    bias_name: str | None = None
    bias: np.ndarray | None = None
    bias_grad: np.ndarray | None = None
    # (j, k) or (j,) -> the name shown ("w5", a user's alias); others print as "0.weight[j,k]"
    weight_aliases: dict[tuple, str] = field(default_factory=dict)
    bias_aliases: dict[tuple, str] = field(default_factory=dict)
    kinked: list[bool] = field(default_factory=list)  # per unit: an input on a kink
    finals: list[str] = field(default_factory=list)  # per unit: its output's name, "out_h1"

    def weight_label(self, j: int, k: int) -> str:
        return self.weight_aliases.get((j, k)) or f"{self.weight_name}[{j},{k}]"

    def bias_label(self, j: int) -> str:
        return self.bias_aliases.get((j,)) or f"{self.bias_name}[{j}]"

    def bias_at(self, j: int) -> tuple[float, float] | None:
        """(b_j, ∂E/∂b_j) of unit j, or None for a layer without a bias."""
        if self.bias is None or self.bias_grad is None:  # ``build`` sets both or neither
            return None
        return float(self.bias[j]), float(self.bias_grad[j])


@dataclass
class Diagram:
    """What ``to_html`` draws. ``rows`` holds (quantity, values of shape (N,)) per unit."""

    inputs: list[str]
    layers: list[DiagramLayer]
    samples: int
    rows: list[tuple[str, np.ndarray]]

    @property
    def edge_count(self) -> int:
        return sum(layer.weight.size for layer in self.layers)


def build(net: Network, grads: dict, kinks: list[KinkSite]) -> Diagram:
    """The diagram of ``net`` with the gradients of the recorded pass.

    Names follow ``net.aliases`` as the derivation's do (the first alias of an element
    wins); read from the aliases, not per element, so a large layer costs nothing here.
    """
    shown: dict[tuple[str, tuple], str] = {}
    for alias, target in net.aliases.items():
        shown.setdefault(target, alias)
    kinked_nodes = {(site.node, site.index[-1]) for site in kinks if site.index}
    layers = []
    rows: list[tuple[str, np.ndarray]] = [
        (name, net.x[:, k].copy()) for k, name in enumerate(net.inputs)
    ]
    for layer in net.layers:
        W = np.array(layer.affine.args[1], dtype=np.float64)
        acts = " ∘ ".join(s.node.name for s in reversed(layer.post)) or "identity"
        item = DiagramLayer(
            layer.number,
            list(layer.units),
            acts,
            layer.weight,
            W,
            np.array(grads[layer.weight], dtype=np.float64),
        )
        item.weight_aliases = {idx: a for (p, idx), a in shown.items() if p == layer.weight}
        if layer.bias:
            item.bias_name = layer.bias
            item.bias = np.array(layer.affine.args[2], dtype=np.float64)
            item.bias_grad = np.array(grads[layer.bias], dtype=np.float64)
            item.bias_aliases = {idx: a for (p, idx), a in shown.items() if p == layer.bias}
        item.kinked = [
            any((stage.node.index, j) in kinked_nodes for stage in layer.post)
            for j in range(W.shape[0])
        ]
        item.finals = [layer.final(j) for j in range(W.shape[0])]
        layers.append(item)
        for j, unit in enumerate(layer.units):
            names = layer.names(j)
            rows.append((names[0], layer.affine.out[:, j].copy()))
            for s, stage in enumerate(layer.post):
                rows.append((names[s + 1], stage.node.out[:, j].copy()))
            rows.append((f"δ_{unit} = ∂E/∂net_{unit}", layer.affine.grad_output[:, j].copy()))
    return Diagram(list(net.inputs), layers, int(net.x.shape[0]), rows)
