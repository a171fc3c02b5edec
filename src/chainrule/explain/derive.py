"""Turn a recorded pass into derivation blocks: forward, loss, deltas, per-weight chains.

Every number here is read from the trace (the engine's events and the ops' own
VJPs); products and sums of the shown factors are recomputed only to *check* that
the factors shown multiply out to the engine's gradient, and the check is printed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import fmt
from .formulas import LossInfo, derivative_formula, forward_formula
from .kinks import describe, find_kinks, moved_by
from .records import Block, Check, Eq, Heading, Matrix, Note, Para
from .structure import Layer, Network
from .trace import Trace, nudged_losses, replay

MAX_PATHS = 8  # expand a weight's gradient path by path only up to this many paths
MAX_PATH_LAYERS = 3
MAX_SHOWN = 64  # matrices with more elements are summarized by shape and norm
FD_STEP = 1e-6
RTOL, ATOL = 1e-5, 1e-6  # the project's gradcheck tolerances
# The rounding noise of a central difference: a few ulps of E(θ ± h) over 2h. A relative
# error is printed as "< 1e−6" only when it stays below that even with this noise added
# (a gradient that is 0, or tiny next to E, cannot be resolved that finely on every CPU).
FD_NOISE = 8 * float(np.finfo(np.float64).eps) / (2 * FD_STEP)
# One-sided differences err by about h·E''/2: a kink is told from curvature only when the
# two sides differ by more than this.
ONE_SIDED_RTOL, ONE_SIDED_ATOL = 1e-3, 1e-5

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def sup(k: int) -> str:
    return str(k).translate(_SUP)


def agrees(a: np.ndarray | float, b: np.ndarray | float) -> bool:
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


class Deriver:
    """Builds the blocks of one step's derivation."""

    def __init__(self, trace: Trace, net: Network | None, loss: LossInfo, precision: int):
        self.trace = trace
        self.net = net
        self.loss = loss
        self.p = precision
        self.quantities: dict[str, np.ndarray | float] = {}

    # -- helpers ------------------------------------------------------------------
    def n(self, value: ArrayLike) -> str:
        return fmt.vec(value, self.p)

    def t(self, value: ArrayLike) -> str:
        """A number as a term of a product or sum: negatives in parentheses."""
        text = fmt.vec(value, self.p)
        return f"({text})" if text.startswith("−") else text

    def keep(self, name: str, value: ArrayLike) -> None:
        array = np.asarray(value, dtype=np.float64)
        self.quantities[name] = float(array.ravel()[0]) if array.size == 1 else array.copy()

    def label(self, name: str, index: tuple) -> str:
        alias = self.net.alias_of(name, index) if self.net is not None else None
        if alias:
            return alias
        return f"{name}[{','.join(str(i) for i in index)}]" if index else name

    def weight_name(self, layer: Layer, j: int, k: int) -> str:
        return self.label(layer.weight, (j, k))

    def single(self) -> bool:
        return self.trace.x.shape[0] == 1 if self.trace.x.ndim > 1 else True

    # -- scalar form --------------------------------------------------------------
    def forward_scalar(self) -> list[Block]:
        net = self.net
        assert net is not None
        blocks: list[Block] = [Heading("Forward pass")]
        x = net.x
        blocks.append(
            Eq([", ".join(net.inputs), ", ".join(self.n(x[:, k]) for k in range(x.shape[1]))])
        )
        for layer in net.layers:
            blocks.append(
                Heading(
                    f"Layer {layer.number} ({layer.affine.args[1].shape[1]} → {layer.width})", 3
                )
            )
            prev = net.prev_values(layer)
            W = layer.affine.args[1]
            b = layer.affine.args[2] if len(layer.affine.args) > 2 else None
            for j, unit in enumerate(layer.units):
                terms = [
                    f"{self.weight_name(layer, j, k)}·{net.prev_final(layer, k)}"
                    for k in range(W.shape[1])
                ]
                numbers = [f"{self.t(W[j, k])}·{self.t(prev[:, k])}" for k in range(W.shape[1])]
                if b is not None:
                    terms.append(self.label(layer.bias, (j,)) if layer.bias else self.n(b[j]))
                    numbers.append(self.t(b[j]))
                parts = [f"net_{unit}", " + ".join(terms)]
                if self.single() and W.shape[1] <= 6:
                    parts.append(" + ".join(numbers))
                value = layer.affine.out[:, j]
                parts.append(self.n(value))
                self.keep(f"net_{unit}", value)
                blocks.append(Eq(parts))
                names = layer.names(j)
                for s, stage in enumerate(layer.post):
                    value = stage.node.out[:, j]
                    blocks.append(
                        Eq([names[s + 1], forward_formula(stage.node, names[s]), self.n(value)])
                    )
                    self.keep(names[s + 1], value)
            blocks.extend(self.stage_notes(layer))
        return blocks

    def stage_notes(self, layer: Layer) -> list[Block]:
        notes: list[Block] = []
        for stage in layer.post:
            node = stage.node
            if node.name == "dropout":
                mask = node.args[1]
                notes.append(
                    Note(
                        f"Dropout (train mode) in layer {layer.number}: the mask drawn for this "
                        f"pass, already scaled by 1/(1 − p), is m/(1 − p) = "
                        f"{fmt.vec(mask.T.ravel() if mask.size <= MAX_SHOWN else mask[:1], self.p)}"
                        f"; the same mask is used by the backward pass and the finite-difference "
                        f"check."
                    )
                )
            if node.name == "batch_norm":
                x = node.args[0]
                if node.kwargs.get("training"):
                    mean, var = x.mean(axis=0), x.var(axis=0)
                    which = "train mode: the batch's mean and (biased) variance"
                else:
                    mean, var = node.args[3], node.args[4]
                    which = "eval mode: the running mean and variance"
                notes.append(
                    Note(
                        f"Batch norm in layer {layer.number} ({which}): μ = {self.n(mean)}, "
                        f"σ² = {self.n(var)}, ε = {node.kwargs.get('eps')}."
                    )
                )
        return notes

    def loss_blocks(self) -> list[Block]:
        blocks: list[Block] = [Heading("Loss")]
        if self.net is not None:
            last = self.net.layers[-1]
            if self.loss.per_element is not None and self.loss.per_element.ndim == 2:
                per = self.loss.per_element
                for j, unit in enumerate(last.units):
                    if j < per.shape[1]:
                        blocks.append(Eq([f"E_{unit}", self.n(per[:, j].sum())]))
        blocks.append(Eq([self.loss.formula, self.n(self.trace.loss)]))
        self.keep("E", self.trace.loss)
        blocks.extend(Note(text) for text in self.loss.notes)
        return blocks

    def local_factors(self, layer: Layer, j: int) -> list[tuple[str, np.ndarray]] | None:
        """(∂q_out/∂q_in, value) for the stages of unit j, top down; None past a coupling op."""
        names = layer.names(j)
        factors = []
        for s in range(len(layer.post) - 1, -1, -1):
            stage = layer.post[s]
            if not stage.elementwise:
                return None
            factors.append((f"∂{names[s + 1]}/∂{names[s]}", stage.node.local_derivative()[:, j]))
        return factors

    def backward_scalar(self) -> list[Block]:
        net = self.net
        assert net is not None
        blocks: list[Block] = [Heading("Backward pass")]
        layers = net.layers
        for layer in reversed(layers):
            title = "Output layer" if layer.number == len(layers) else f"Layer {layer.number}"
            blocks.append(Heading(f"{title}: δ = ∂E/∂net", 3))
            for j, unit in enumerate(layer.units):
                final = layer.final(j)
                top = (layer.post[-1].node if layer.post else layer.affine).grad_output[:, j]
                if layer.number == len(layers):
                    form = self.loss.derivative.format(o=final, t=f"target_{unit}", j=unit)
                    blocks.append(Eq([f"∂E/∂{final}", form, self.n(top)]))
                else:
                    blocks.extend(self.sum_over_paths(layer, j, top))
                self.keep(f"∂E/∂{final}", top)
                names = layer.names(j)
                upstream = top
                for s in range(len(layer.post) - 1, -1, -1):
                    stage = layer.post[s]
                    q_out, q_in = names[s + 1], names[s]
                    sent = stage.node.grad_inputs[0][:, j]
                    lhs = f"δ_{unit} = ∂E/∂{q_in}" if s == 0 else f"∂E/∂{q_in}"
                    if stage.elementwise:
                        local = stage.node.local_derivative()[:, j]
                        blocks.append(
                            Eq(
                                [
                                    f"∂{q_out}/∂{q_in}",
                                    derivative_formula(stage.node, q_in, q_out),
                                    self.n(local),
                                ]
                            )
                        )
                        self.keep(f"∂{q_out}/∂{q_in}", local)
                        parts = [lhs, f"∂E/∂{q_out} · ∂{q_out}/∂{q_in}"]
                        if self.single():
                            parts.append(f"{self.t(upstream)} · {self.t(local)}")
                        parts.append(self.n(sent))
                        blocks.append(Eq(parts, status=agrees(upstream * local, sent)))
                    else:
                        blocks.append(
                            Eq(
                                [
                                    lhs,
                                    f"Σ_k ∂E/∂{q_out[: -len(unit)]}k · ∂{q_out[: -len(unit)]}k/∂{q_in}",  # noqa: E501
                                    self.n(sent),
                                ],
                                comment=f"{stage.node.name}: {stage.node.op.formula}",
                            )
                        )
                    upstream = sent
                if not layer.post:  # the line just written, ∂E/∂net_unit, is δ itself
                    last = blocks[-1]
                    assert isinstance(last, Eq)  # both branches above end with an Eq
                    last.parts[0] = f"δ_{unit} = ∂E/∂net_{unit}"
                self.keep(f"δ_{unit}", layer.affine.grad_output[:, j])
            if layer.number < len(layers):
                blocks.append(
                    Para(
                        f"Each δ of layer {layer.number} reuses the δ of layer {layer.number + 1}"
                        " computed just above, which already holds the product of every factor "
                        "between the loss and that layer: backpropagation never multiplies out a "
                        "path twice."
                    )
                )
        return blocks

    def sum_over_paths(self, layer: Layer, j: int, total: np.ndarray) -> list[Block]:
        """∂E/∂out_h = Σ_m ∂E_m/∂out_h, one term per unit m of the next layer."""
        net = self.net
        assert net is not None
        above = net.layers[layer.number]
        final = layer.final(j)
        W = above.affine.args[1]
        blocks: list[Block] = []
        names, products = [], []
        if above.width <= 8:
            for m, unit in enumerate(above.units):
                delta = above.affine.grad_output[:, m]
                product = delta * W[m, j]
                name = f"∂E_{unit}/∂{final}"
                parts = [name, f"δ_{unit} · {self.weight_name(above, m, j)}"]
                if self.single():
                    parts.append(f"{self.t(delta)} · {self.t(W[m, j])}")
                parts.append(self.n(product))
                blocks.append(Eq(parts))
                names.append(name)
                products.append(product)
            expected = np.sum(products, axis=0)
            parts = [f"∂E/∂{final}", " + ".join(names)]
            if self.single():
                parts.append(" + ".join(self.t(v) for v in products))
            parts.append(self.n(total))
            blocks.append(Eq(parts, status=agrees(expected, total)))
        else:
            expected = above.affine.grad_output @ W[:, j]
            blocks.append(
                Eq(
                    [
                        f"∂E/∂{final}",
                        f"Σ_m δ_m · {above.weight}[m,{j}]  ({above.width} paths)",
                        self.n(total),
                    ],
                    status=agrees(expected, total),
                )
            )
        return blocks

    def param_layer(self, name: str) -> tuple[Layer, str] | None:
        if self.net is None:
            return None
        for layer in self.net.layers:
            if layer.weight == name:
                return layer, "weight"
            if layer.bias == name:
                return layer, "bias"
        return None

    def param_scalar(self, name: str, index: tuple) -> list[Block]:
        """The chain for one parameter element: delta form, then path by path."""
        grad = float(self.trace.grads[name][index])
        label = self.label(name, index)
        net = self.net
        found = self.param_layer(name)
        blocks: list[Block] = [
            Heading(
                f"∂E/∂{label}"
                + (
                    f"  ({name}[{','.join(map(str, index))}])"
                    if label != f"{name}[{','.join(map(str, index))}]"
                    else ""
                ),
                3,
            )
        ]
        if found is None or net is None:  # batch-norm scale/shift, no layers: the op's rule
            blocks.append(Eq([f"∂E/∂{label}", self.n(grad)], comment=self._owner_formula(name)))
        else:
            layer, role = found
            j = index[0]
            unit = layer.units[j]
            if role == "weight":
                k = index[1]
                source = net.prev_final(layer, k)
                inputs = net.prev_values(layer)[:, k]
            else:
                source, inputs = "1", np.ones(self.trace.x.shape[0])
            delta = layer.affine.grad_output[:, j]
            local = self.local_factors(layer, j)
            chain = [f"∂E/∂{layer.final(j)}"]
            values = [(layer.post[-1].node if layer.post else layer.affine).grad_output[:, j]]
            if local is None:
                chain, values = [f"∂E/∂net_{unit}"], [delta]
            else:
                chain += [n for n, _ in local]
                values += [v for _, v in local]
            chain.append(f"∂net_{unit}/∂{label}")
            values.append(inputs)
            parts = [f"∂E/∂{label}", " · ".join(chain), f"δ_{unit} · {source}"]
            if self.single():
                parts.append(" · ".join(self.t(v) for v in values))
            else:
                parts.append(f"Σ_n δ_{unit}[n] · {source}[n]")
            parts.append(self.n(grad))
            blocks.append(Eq(parts, status=agrees(np.sum(delta * inputs), grad)))
            blocks.extend(self.paths(layer, j, label, inputs, grad))
        self.keep(f"∂E/∂{label}", grad)
        return blocks

    def _owner_formula(self, name: str) -> str:
        for node in self.trace.nodes:
            if ("param", name) in node.sources:
                return f"{node.name}: {node.op.formula}"
        return ""

    def paths(
        self, layer: Layer, j: int, label: str, inputs: np.ndarray, grad: float
    ) -> list[Block]:
        """Every path from E down to the parameter, factor by factor, and their sum."""
        assert self.net is not None
        layers = self.net.layers
        above = layers[layer.number :]
        if not above or len(above) > MAX_PATH_LAYERS:
            return []
        if any(not s.elementwise for lay in layers[layer.number - 1 :] for s in lay.post):
            return []
        count = int(np.prod([lay.width for lay in above]))
        if count > MAX_PATHS or count < 2:
            return []
        blocks: list[Block] = [Para(f"Path by path ({count} paths from E to {label}):")]

        def local(lay: Layer, unit: int) -> list[tuple[str, np.ndarray]]:
            factors = self.local_factors(lay, unit)
            assert factors is not None  # every stage from this layer up is elementwise (above)
            return factors

        total = np.zeros_like(inputs)
        for combo in itertools.product(*(range(lay.width) for lay in above)):
            units = [j, *combo]  # unit index per layer, from this layer up
            top = layers[-1]
            factors = [
                (
                    f"∂E/∂{top.final(units[-1])}",
                    (top.post[-1].node if top.post else top.affine).grad_output[:, units[-1]],
                )
            ]
            for depth in range(len(above), 0, -1):
                lay = layers[layer.number - 1 + depth]
                factors += local(lay, units[depth])
                below = layers[layer.number - 2 + depth]
                factors.append(
                    (
                        f"∂net_{lay.units[units[depth]]}/∂{below.final(units[depth - 1])}",
                        np.full_like(inputs, lay.affine.args[1][units[depth], units[depth - 1]]),
                    )
                )
            factors += local(layer, j)
            factors.append((f"∂net_{layer.units[j]}/∂{label}", inputs))
            value = np.prod([v for _, v in factors], axis=0)
            total = total + value
            via = " → ".join(
                layers[layer.number - 1 + d].units[units[d]] for d in range(len(units))
            )
            parts = [f"via {via}", " · ".join(n for n, _ in factors)]
            if self.single():
                parts.append(" · ".join(self.t(v) for _, v in factors))
            parts.append(self.n(value.sum()))
            blocks.append(Eq(parts))
        blocks.append(
            Eq([f"∂E/∂{label}", "Σ over paths", self.n(grad)], status=agrees(total.sum(), grad))
        )
        return blocks

    # -- matrix form ---------------------------------------------------------------
    def show(self, label: str, array: np.ndarray) -> list[Block]:
        """A matrix in full when small, else its shape and norm."""
        if array.size <= MAX_SHOWN:
            return [Matrix(label, fmt.matrix(array, self.p))]
        return []

    def matrix_form(self) -> list[Block]:
        net = self.net
        assert net is not None
        L = len(net.layers)
        N = net.x.shape[0]
        blocks: list[Block] = [
            Heading("Matrix form"),
            Para(
                f"One column per sample (N = {N}): zˡ = Wˡ aˡ⁻¹ + bˡ, aˡ = f(zˡ); "
                "δˡ = ∂E/∂zˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f'(zˡ); ∂E/∂Wˡ = δˡ (aˡ⁻¹)ᵀ; ∂E/∂bˡ = δˡ 1."
            ),
        ]
        blocks += self.show(f"a{sup(0)} = x  {fmt.shape(net.x.T.shape)}", net.x.T)
        for layer in net.layers:
            l = layer.number
            W = layer.affine.args[1]
            z = layer.affine.out.T
            acts = " ∘ ".join(s.node.name for s in reversed(layer.post)) or "identity"
            blocks.append(Heading(f"Layer {l}: {W.shape[1]} → {W.shape[0]}, {acts}", 3))
            blocks.append(
                Eq(
                    [f"z{sup(l)}", f"W{sup(l)} a{sup(l - 1)} + b{sup(l)}"],
                    comment=f"{fmt.shape(W.shape)}·{fmt.shape((W.shape[1], N))} → "
                    f"{fmt.shape(z.shape)}, ‖z{sup(l)}‖ = {self.n(np.linalg.norm(z))}",
                )
            )
            blocks += self.show(f"z{sup(l)}", z)
            a = layer.output().T
            blocks.append(
                Eq(
                    [f"a{sup(l)}", f"{acts}(z{sup(l)})"],
                    comment=f"‖a{sup(l)}‖ = {self.n(np.linalg.norm(a))}",
                )
            )
            blocks += self.show(f"a{sup(l)}", a)
            for note in self.stage_notes(layer):
                blocks.append(note)
        blocks += self.loss_blocks()
        blocks.append(Heading("Backward pass, layer by layer", 3))
        for layer in reversed(net.layers):
            l = layer.number
            delta = layer.affine.grad_output.T
            elementwise = all(s.elementwise for s in layer.post)
            deriv = " ⊙ ".join(f"{s.node.name}'(z{sup(l)})" for s in layer.post)
            if l == L:
                rhs = f"∂E/∂a{sup(l)}" + (f" ⊙ {deriv}" if deriv else "")
                expected = None
                if elementwise:
                    top = (layer.post[-1].node if layer.post else layer.affine).grad_output.T
                    expected = top.copy()
                    for s in layer.post:
                        expected = expected * s.node.local_derivative().T
            else:
                above = net.layers[l]
                rhs = f"(W{sup(l + 1)})ᵀ δ{sup(l + 1)}" + (f" ⊙ {deriv}" if deriv else "")
                expected = None
                if elementwise:
                    expected = above.affine.args[1].T @ above.affine.grad_output.T
                    for s in layer.post:
                        expected = expected * s.node.local_derivative().T
            status = None if expected is None else agrees(expected, delta)
            blocks.append(
                Eq(
                    [f"δ{sup(l)}", rhs],
                    status=status,
                    comment=f"shape {fmt.shape(delta.shape)}, ‖δ{sup(l)}‖ = "
                    f"{self.n(np.linalg.norm(delta))}",
                )
            )
            blocks += self.show(f"δ{sup(l)}", delta)
            prev = net.prev_values(layer).T
            gW = self.trace.grads[layer.weight]  # every parameter of the pass has one
            blocks.append(
                Eq(
                    [f"∂E/∂W{sup(l)}", f"δ{sup(l)} (a{sup(l - 1)})ᵀ"],
                    status=agrees(delta @ prev.T, gW),
                    comment=f"{fmt.shape(delta.shape)}·{fmt.shape(prev.T.shape)} → "
                    f"{fmt.shape(gW.shape)}, ‖∂E/∂W{sup(l)}‖ = {self.n(np.linalg.norm(gW))}",
                )
            )
            blocks += self.show(f"∂E/∂W{sup(l)}  ({layer.weight}.grad)", gW)
            if layer.bias:
                gb = self.trace.grads[layer.bias]
                blocks.append(
                    Eq(
                        [f"∂E/∂b{sup(l)}", f"δ{sup(l)} 1"],
                        status=agrees(delta.sum(axis=1), gb),
                        comment=f"‖∂E/∂b{sup(l)}‖ = {self.n(np.linalg.norm(gb))}",
                    )
                )
                blocks += self.show(f"∂E/∂b{sup(l)}  ({layer.bias}.grad)", gb[:, None])
        return blocks

    # -- any graph -----------------------------------------------------------------
    def generic(self) -> list[Block]:
        """Node by node, for graphs that are not a chain of layers."""
        blocks: list[Block] = [
            Heading("Forward pass, op by op"),
            Para("The model is not a plain chain of layers, so each recorded op is listed."),
        ]

        def ref(src: tuple[str, Any], arg: Any) -> str:
            kind, value = src
            if kind == "node":
                return f"v{value}"
            if kind == "param":
                return value
            return (
                fmt.shape(np.shape(arg))
                if np.size(arg) > 1
                else self.n(arg)
                if isinstance(arg, (int, float, np.ndarray, np.generic)) and np.size(arg) == 1
                else "·"
            )

        for node in self.trace.nodes:
            args = ", ".join(
                ref(s, a) for s, a in zip(node.sources, node.args, strict=True) if a is not None
            )
            value = (
                self.n(node.out)
                if node.out.size <= 8
                else f"{fmt.shape(node.out.shape)}, ‖·‖ = {self.n(np.linalg.norm(node.out))}"
            )
            blocks.append(Eq([f"v{node.index}", f"{node.name}({args})", value]))
        self.keep("E", self.trace.loss)
        blocks.append(Heading("Loss"))
        blocks.append(Eq(["E", self.n(self.trace.loss)]))
        blocks.append(Heading("Backward pass, op by op"))
        for node in reversed(self.trace.nodes):
            g = node.grad_output
            value = self.n(g) if g.size <= 8 else f"‖·‖ = {self.n(np.linalg.norm(g))}"
            blocks.append(
                Eq([f"∂E/∂v{node.index}", value], comment=f"{node.name}: {node.op.formula}")
            )
        return blocks


def _close(a: float, b: float) -> bool:
    """One-sided differences are accurate to O(h): a looser tolerance than the central one."""
    return abs(a - b) <= ONE_SIDED_ATOL + ONE_SIDED_RTOL * max(abs(a), abs(b))


def fd_checks(
    trace: Trace,
    elements: Iterable[tuple[str, tuple]],
    label: Callable[[str, tuple], str],
    net: Network | None = None,
) -> list[Check]:
    """Each element's gradient against its central difference, kinks told apart.

    Where the central difference disagrees (or an op of the pass sits exactly on a
    kink), the one-sided differences (E(θ + h) − E(θ))/h and (E(θ) − E(θ − h))/h are
    compared too: if they differ, E has no derivative there, and a gradient equal to
    one of them (or to their average) is backprop's convention, not a failure.
    """
    sites = find_kinks(trace, net)
    center: list[float] = []  # E(θ), replayed once, only when a kink is suspected
    checks = []
    for name, index in elements:
        grad = float(trace.grads[name][index])
        below, above = nudged_losses(trace, name, index, FD_STEP)
        numeric = (above - below) / (2 * FD_STEP)
        diff = abs(numeric - grad)
        scale = max(abs(numeric), abs(grad))
        rel = diff / scale if scale > 0 else 0.0
        ok = diff <= ATOL + RTOL * abs(grad)
        noise = FD_NOISE * max(abs(below), abs(above))
        floor = grad != 0 and rel + noise / abs(grad) < fmt.ERROR_FLOOR
        check = Check(name, index, label(name, index), grad, numeric, rel, ok, below_floor=floor)
        if not ok or sites:
            if not center:
                center.append(replay(trace, {}))
            check.left = (center[0] - below) / FD_STEP
            check.right = (above - center[0]) / FD_STEP
            if not _close(check.left, check.right):
                side = next(
                    (
                        side
                        for side, value in (
                            ("left", check.left),
                            ("right", check.right),
                            ("average", numeric),
                        )
                        if _close(grad, value)
                    ),
                    None,
                )
                here = moved_by(trace, sites, name, index, FD_STEP)
                # A passing check is called a kink only where a known kink moves with it:
                # elsewhere, two differing sides are just curvature.
                if side is not None and (here or not ok):
                    check.ok = True
                    check.kink = describe(here, side)
        checks.append(check)
    return checks


def check_block(check: Check, precision: int, loss: float) -> Eq:
    """The check line under a parameter's chain, in every format (see fmt for the digits)."""
    lhs = f"(E({check.label} + h) − E({check.label} − h)) / 2h"
    shown = fmt.finite_difference(check.numeric, loss)
    if check.kink:
        # A kink is only named after both one-sided differences were computed.
        assert check.left is not None and check.right is not None
        sides = (
            f"one-sided: right {fmt.finite_difference(check.right, loss)}, "
            f"left {fmt.finite_difference(check.left, loss)}"
        )
        return Eq([lhs, shown], comment=f"{check.kink}; {sides}")
    return Eq(
        [lhs, shown],
        status=check.ok,
        comment="finite difference, h = 1e−6: relative error "
        + fmt.relative_error(check.rel_error, check.ok, check.below_floor),
    )
