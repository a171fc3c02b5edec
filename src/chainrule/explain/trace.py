"""One real forward and backward pass, recorded from the engine's backward events.

``record`` runs the model and the loss on float64 copies, calls ``backward()`` inside
``listen_backward`` and keeps, per graph node, what the engine saw and sent: the op,
its arguments, its output, the incoming gradient g and the gradient sent to each
argument. Everything ``explain`` prints is read from here, so it cannot disagree
with ``backward()``. ``replay`` re-evaluates the recorded graph with one parameter
changed (for the finite-difference check): the same op forwards on the same saved
arguments, so dropout keeps its mask and the batch its statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ..autodiff.engine import BackwardEvent, listen_backward

# Ops whose forward writes into an argument (batch norm's running statistics while
# training): replay must hand them copies, or each evaluation would drift the buffers.
_MUTATING_OPS = frozenset({"batch_norm"})


@dataclass
class RecordedNode:
    """One op application. ``sources[i]`` says where argument ``i`` came from.

    A source is ``("node", k)`` (the output of node k), ``("param", name)`` (a model
    parameter) or ``("const", None)`` (a saved array or value: inputs, targets, masks).
    """

    index: int
    op: Any
    args: list
    kwargs: dict
    out: np.ndarray
    sources: list[tuple[str, Any]]
    grad_output: np.ndarray
    grad_inputs: tuple

    @property
    def name(self) -> str:
        return self.op.name

    def local_derivative(self) -> np.ndarray:
        """∂out/∂(argument 0) elementwise, from the op's own VJP fed a seed of ones.

        Only meaningful for elementwise ops (activations, dropout): their Jacobian is
        diagonal, so a seed of ones returns its diagonal.
        """
        ones = np.ones_like(self.out)
        result = self.op.vjp(ones, self.out, *self.args, **self.kwargs)
        return np.asarray(result[0] if isinstance(result, tuple) else result)


@dataclass
class Trace:
    """The recorded pass: nodes in creation order, parameters and their gradients."""

    nodes: list[RecordedNode]
    output_index: int  # the node that produced the model's output
    loss: float
    params: dict[str, np.ndarray]  # values before any update, copied
    grads: dict[str, np.ndarray]  # what backward() stored in .grad
    x: np.ndarray
    y: np.ndarray
    output: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)

    def node_of_output(self) -> RecordedNode:
        return self.nodes[self.output_index]


def record(
    model: Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    named_params: Mapping[str, Tensor],
) -> Trace:
    """Run ``loss_fn(model(x), y).backward()`` and keep every node's event."""
    events: list[BackwardEvent] = []
    captured: dict[int, tuple] = {}

    def listen(event: BackwardEvent) -> None:
        node = event.node
        # The engine frees the node's saved values after this call: keep references.
        assert node.args is not None  # listeners run before the engine frees the node
        captured[id(node)] = (node.op, list(node.args), dict(node.kwargs), node.out, node.inputs)
        events.append(event)

    for p in named_params.values():
        p.grad = None
    output = model(x)
    loss = loss_fn(output, y)
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise ValueError(
            f"explain expected loss_fn(output, y) to return a one-element tensor, got "
            f"{getattr(loss, 'shape', type(loss).__name__)}"
        )
    if output._node is None:
        raise ValueError("explain found no parameter that requires grad in the model")
    params = {name: p.data.copy() for name, p in named_params.items()}
    with listen_backward(listen):
        loss.backward()

    by_param = {id(p): name for name, p in named_params.items()}
    ordered = sorted(events, key=lambda e: e.node.seq)
    position = {id(e.node): k for k, e in enumerate(ordered)}
    nodes = []
    for k, event in enumerate(ordered):
        op, args, kwargs, out, inputs = captured[id(event.node)]
        sources: list[tuple[str, Any]] = [("const", None)] * len(args)
        for pos, tensor in inputs:
            if tensor._node is not None and id(tensor._node) in position:
                sources[pos] = ("node", position[id(tensor._node)])
            elif id(tensor) in by_param:
                sources[pos] = ("param", by_param[id(tensor)])
        # Parameter arrays are updated in place by optimizers later: keep our own copy.
        args = [
            params[src[1]] if src[0] == "param" else arg
            for arg, src in zip(args, sources, strict=True)
        ]
        nodes.append(
            RecordedNode(k, op, args, kwargs, out, sources, event.grad_output, event.grad_inputs)
        )
    grads = {
        name: (p.grad.copy() if p.grad is not None else np.zeros_like(p.data))
        for name, p in named_params.items()
    }
    return Trace(
        nodes=nodes,
        output_index=position[id(output._node)],
        loss=float(loss.item()),
        params=params,
        grads=grads,
        x=x.data,
        y=y.data,
        output=output.data.copy(),
    )


def replay(trace: Trace, overrides: Mapping[str, np.ndarray]) -> float:
    """The loss of the recorded graph with some parameters replaced (no gradients)."""
    return float(np.asarray(replay_values(trace, overrides)[-1]).sum())


def replay_values(trace: Trace, overrides: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Every node's output, in order, with some parameters replaced (no gradients)."""
    outs: list[np.ndarray] = []
    for node in trace.nodes:
        args = []
        for arg, (kind, ref) in zip(node.args, node.sources, strict=True):
            if kind == "node":
                args.append(outs[ref])
            elif kind == "param":
                args.append(overrides.get(ref, arg))
            elif node.name in _MUTATING_OPS and isinstance(arg, np.ndarray):
                args.append(arg.copy())
            else:
                args.append(arg)
        outs.append(np.asarray(node.op.forward(*args, **node.kwargs)))
    return outs


def nudged_losses(trace: Trace, name: str, index: tuple, h: float = 1e-6) -> tuple[float, float]:
    """(E(θ − h), E(θ + h)) for one parameter element moved by ∓h, float64."""
    base = trace.params[name]
    plus, minus = base.copy(), base.copy()
    plus[index] += h
    minus[index] -= h
    return replay(trace, {name: minus}), replay(trace, {name: plus})


def finite_difference(trace: Trace, name: str, index: tuple, h: float = 1e-6) -> float:
    """Central difference (E(θ + h) − E(θ − h)) / 2h for one parameter element, float64."""
    below, above = nudged_losses(trace, name, index, h)
    return (above - below) / (2 * h)
