"""Recognize a layered network in a recorded graph and name its units and weights.

A chain of recorded ops where each takes the previous one's output as its first
argument, starting with ``linear``, is read as layers: an affine map (z = a Wᵀ + b)
followed by any number of same-shape stages (activations, dropout, batch norm,
softmax). Units get the tutorials' names (i1, h1, o1; net_h1 / out_h1) and weights
the tutorials' numbering (w1 = i1→h1, w2 = i2→h1, ...: layer by layer, then target
unit, then source unit). Anything else is explained node by node instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .trace import RecordedNode, Trace

# Same-shape ops with a diagonal Jacobian: their local derivative is a number per unit.
ELEMENTWISE = frozenset(
    {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "dropout"}
)
# Same-shape ops that couple the units of a sample (their Jacobian is a full matrix).
VECTOR = frozenset({"softmax", "log_softmax", "batch_norm"})
MAX_ALIASES = 10_000  # networks up to this many parameters get the names w1…wn, b1…bm
SHORT = {
    "sigmoid": "out",
    "tanh": "out",
    "relu": "out",
    "leaky_relu": "out",
    "elu": "out",
    "gelu": "out",
    "softplus": "out",
    "dropout": "drop",
    "batch_norm": "bn",
    "softmax": "p",
    "log_softmax": "logp",
}


@dataclass
class Stage:
    node: RecordedNode
    elementwise: bool
    params: dict[str, str] = field(default_factory=dict)  # role ("weight") -> param name
    quantity: str = ""  # the name stem of what this stage produces ("out", "bn", ...)


@dataclass
class Layer:
    number: int  # 1-based
    affine: RecordedNode
    weight: str
    bias: str | None
    post: list[Stage]
    units: list[str]  # "h1", "h2", ... / "o1", ...

    @property
    def width(self) -> int:
        return len(self.units)

    def names(self, j: int) -> list[str]:
        """The quantities of unit j in order: net, then one per stage (last one 'out')."""
        unit = self.units[j]
        names = [f"net_{unit}"]
        for k, stage in enumerate(self.post):
            stem = "out" if k == len(self.post) - 1 else stage.quantity
            names.append(f"{stem}_{unit}")
        return names

    def final(self, j: int) -> str:
        return self.names(j)[-1]

    def output(self) -> np.ndarray:
        return (self.post[-1].node if self.post else self.affine).out


@dataclass
class Network:
    layers: list[Layer]
    inputs: list[str]
    x: np.ndarray  # (N, n0): what the first layer saw
    aliases: dict[str, tuple[str, tuple]]  # "w5" -> ("2.weight", (0, 0))
    _reverse: dict = field(default_factory=dict, repr=False)
    _reverse_of: object = field(default=None, repr=False)

    def alias_of(self, name: str, index: tuple) -> str | None:
        # The reverse map is rebuilt when ``aliases`` is replaced; the first alias wins.
        if self._reverse_of is not self.aliases:
            self._reverse = {}
            for alias, target in self.aliases.items():
                self._reverse.setdefault(target, alias)
            self._reverse_of = self.aliases
        return self._reverse.get((name, index))

    def prev_final(self, layer: Layer, k: int) -> str:
        if layer.number == 1:
            return self.inputs[k]
        return self.layers[layer.number - 2].final(k)

    def prev_values(self, layer: Layer) -> np.ndarray:
        if layer.number == 1:
            return self.x
        return self.layers[layer.number - 2].output()

    def param_count(self) -> int:
        count = 0
        for layer in self.layers:
            count += layer.affine.args[1].size
            if layer.bias:
                count += layer.affine.args[2].size
        return count


def _is_2d(array: np.ndarray, rows: int) -> bool:
    return array.ndim == 2 and array.shape[0] == rows


def find_layers(trace: Trace) -> Network | None:
    """The layered reading of the model part of ``trace``, or None when it is not a chain."""
    model_nodes = trace.nodes[: trace.output_index + 1]
    if not model_nodes or model_nodes[0].name != "linear":
        return None
    x = model_nodes[0].args[0]
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        return None
    rows = x.shape[0]
    layers: list[Layer] = []
    for k, node in enumerate(model_nodes):
        if not _is_2d(node.out, rows):
            return None
        if k > 0 and node.sources[0] != ("node", k - 1):
            return None
        # Every other differentiable argument must be a parameter of the model.
        extra = [s for pos, s in enumerate(node.sources) if pos > 0 and s[0] == "node"]
        if extra:
            return None
        if node.name == "linear":
            kinds = node.sources
            weight = kinds[1][1] if kinds[1][0] == "param" else None
            if weight is None:
                return None
            bias = kinds[2][1] if len(kinds) > 2 and kinds[2][0] == "param" else None
            layers.append(Layer(len(layers) + 1, node, weight, bias, [], []))
        elif node.name in ELEMENTWISE or node.name in VECTOR:
            if node.out.shape != node.args[0].shape:
                return None
            params = {}
            if node.name == "batch_norm":
                for pos, role in ((1, "weight"), (2, "bias")):
                    if node.sources[pos][0] == "param":
                        params[role] = node.sources[pos][1]
            layers[-1].post.append(
                Stage(node, node.name in ELEMENTWISE, params, SHORT.get(node.name, node.name))
            )
        else:
            return None
    _name_units(layers)
    inputs = [f"i{k + 1}" for k in range(x.shape[1])]
    return Network(layers, inputs, x, _aliases(layers))


def _name_units(layers: list[Layer]) -> None:
    hidden = len(layers) - 1
    for layer in layers:
        width = layer.affine.out.shape[1]
        if layer.number == len(layers):
            layer.units = [f"o{j + 1}" for j in range(width)]
        elif hidden == 1:
            layer.units = [f"h{j + 1}" for j in range(width)]
        elif width == 1:
            layer.units = [f"h{layer.number}"]
        else:
            layer.units = [f"h{layer.number}_{j + 1}" for j in range(width)]


def _aliases(layers: list[Layer]) -> dict[str, tuple[str, tuple]]:
    """w1…wn layer by layer, target unit then source unit (the tutorials' order); b1…bm.

    Only up to MAX_ALIASES parameters: the numbering is for networks small enough to
    read weight by weight, and a dict entry per weight of a large one costs seconds.
    """
    aliases: dict[str, tuple[str, tuple]] = {}
    count = sum(
        layer.affine.args[1].size + (layer.affine.args[2].size if layer.bias else 0)
        for layer in layers
    )
    if count > MAX_ALIASES:
        return aliases
    w = b = 0
    for layer in layers:
        rows, cols = layer.affine.args[1].shape
        for j in range(rows):
            for k in range(cols):
                w += 1
                aliases[f"w{w}"] = (layer.weight, (j, k))
    for layer in layers:
        if layer.bias:
            for j in range(layer.affine.args[2].shape[0]):
                b += 1
                aliases[f"b{b}"] = (layer.bias, (j,))
    return aliases
