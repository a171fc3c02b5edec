"""``chainrule.explain``: a generated, checked, step-by-step backpropagation derivation."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..autodiff import Tensor
from ..autodiff.registry import REGISTRY
from ..nn import Module
from . import fmt
from .derive import Deriver, check_block, fd_checks
from .diagram import build as build_diagram
from .explanation import Explanation
from .formulas import describe_loss, op_derivative
from .kinks import find_kinks
from .records import Block, Check, Eq, Heading, Note, Para, Table
from .render_dot import graph_nodes
from .rules import element_step
from .structure import find_layers
from .trace import record
from .update import make_optimizer, update_lines

# Up to these sizes every weight is explained one by one; beyond, the matrix form.
SMALL_PARAMS = 64
SMALL_WIDTH = 8
SMALL_BATCH = 8
# What one explanation may cost. explain is a lesson, not training: it copies the model
# a few times, keeps every node's values, and each finite-difference check replays the
# forward pass twice. A forward pass costs about parameters × samples multiply-adds.
MAX_PARAMETERS = 1_000_000  # trainable parameters (8 MB each copy in float64)
MAX_WORK = 100_000_000  # parameters × samples × steps (≈ 7 s at the largest network)
MAX_DETAILED = 1_000  # parameter elements explained one by one (params=, form="scalar")
MAX_FD_CHECKS = 100  # finite-difference checks; beyond, an even sample is checked


class ExplainLimitError(ValueError):
    """The explanation asked for would cost more than ``explain``'s limits allow."""


_ELEMENT = re.compile(r"^(?P<name>[\w.]+?)(?:\[(?P<index>[\d,\s]*)\])?$")

SIGMOID_NOTE = (
    f"σ'(z) = {op_derivative(REGISTRY['sigmoid'], 'z', 'out')}: the derivative is evaluated "
    "at the activation σ(z), not at z. Tutorials that write dσ/dz = z(1 − z) get a wrong number."
)


def _as_float64(value: Any, name: str) -> Tensor:
    data = value.data if isinstance(value, Tensor) else np.asarray(value)
    if data.dtype.kind in "iub":
        return Tensor(np.array(data))  # class indices stay integers
    if data.dtype.kind != "f":
        raise TypeError(f"explain expected {name} to hold numbers, got dtype {data.dtype}")
    return Tensor(np.array(data, dtype=np.float64))


def _parse_params(
    selected: Iterable[str], shapes: Mapping[str, tuple], aliases: Mapping[str, tuple]
) -> list[tuple[str, tuple]]:
    """Names like "2.weight[0,0]", "2.weight" (every element) or aliases like "w5"."""
    if isinstance(selected, str):
        selected = [selected]
    elements: list[tuple[str, tuple]] = []
    for item in selected:
        if item in aliases:
            elements.append(aliases[item])
            continue
        match = _ELEMENT.match(item.replace(" ", ""))
        if match is None or match["name"] not in shapes:
            known = ", ".join([*shapes, *list(aliases)[:4], "…"])
            raise ValueError(f"explain got unknown parameter {item!r}; known: {known}")
        name: str = match["name"]
        shape = shapes[name]
        if match["index"] is None:
            elements.extend((name, tuple(int(i) for i in idx)) for idx in np.ndindex(shape))
            continue
        index = tuple(int(i) for i in match["index"].split(",") if i != "")
        if len(index) != len(shape) or any(
            not 0 <= i < n for i, n in zip(index, shape, strict=False)
        ):
            raise ValueError(f"explain got index {index} for {name} of shape {shape}")
        elements.append((name, index))
    return elements


def explain(
    model: Module | Callable[[Tensor], Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    x: Any,
    y: Any,
    *,
    lr: float | None = None,
    optimizer: Any = None,
    params: Iterable[str] | None = None,
    steps: int = 1,
    precision: int = 9,
    form: str = "auto",
    title: str | None = None,
    names: Mapping[str, str] | None = None,
    notes: Iterable[str] = (),
) -> Explanation:
    """Derive, check and explain backpropagation for ``loss_fn(model(x), y)``.

    The model is deep-copied and converted to float64 (the original is untouched);
    one real ``backward()`` runs with the engine's events recorded, and every number
    shown comes from them. Shapes: x (N, in) or (in,); y as ``loss_fn`` expects.

    ``lr`` alone means plain SGD; ``optimizer`` is a name ("adam"), a dict
    ``{"name": "sgd", "momentum": 0.9}`` or a ``chainrule.optim`` optimizer built on
    ``model`` (its options and state are carried over). ``params`` selects
    elements to explain ("2.weight[0,0]", "2.weight", or aliases such as "w5");
    ``form`` is "auto", "scalar" (unit by unit) or "matrix". ``names`` adds aliases
    ({"A": "0.weight[0,0]"}); ``notes`` are printed at the end.

    Raises ``ExplainLimitError`` (a ValueError naming the limit) beyond MAX_PARAMETERS
    trainable parameters, MAX_WORK parameters × samples × steps, or MAX_DETAILED
    elements explained one by one; beyond MAX_FD_CHECKS finite-difference checks, an
    even sample is checked and the summary says so.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"explain expected steps >= 1, got {steps!r}")
    if not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError(f"explain expected precision between 1 and 17, got {precision!r}")
    if form not in ("auto", "scalar", "matrix"):
        raise ValueError(f"explain expected form 'auto', 'scalar' or 'matrix', got {form!r}")
    if steps > 1 and lr is None and optimizer is None:
        raise ValueError("explain with steps > 1 needs lr= or optimizer= to take the steps")

    if not isinstance(model, Module):
        raise TypeError(f"explain expected an nn.Module, got {type(model).__name__}")
    xt, yt = _as_float64(x, "x"), _as_float64(y, "y")
    count = sum(p.data.size for p in model.parameters() if p.requires_grad)
    _check_cost(count, xt.data.shape[0] if xt.data.ndim > 1 else 1, steps)  # before copying
    originals = {id(p): name for name, p in model.named_parameters()}
    work = copy.deepcopy(model).double()
    named = {name: p for name, p in work.named_parameters() if p.requires_grad}
    if xt.data.ndim == 1:  # one sample: make it a batch of one, and its target too
        xt = Tensor(xt.data[None])
        if yt.data.dtype.kind == "f" and yt.data.ndim == 1:
            yt = Tensor(yt.data[None])
        elif yt.data.ndim == 0:
            yt = Tensor(yt.data[None])
    opt = make_optimizer(optimizer, lr, named, originals)

    trace = record(work, loss_fn, xt, yt, named)
    net = find_layers(trace)
    shapes = {name: trace.params[name].shape for name in named}
    # The user's names come first, so they win over the numbering w1…wn when labelling.
    custom = {
        alias: _parse_params([target], shapes, {})[0] for alias, target in (names or {}).items()
    }
    aliases = {
        **custom,
        **{k: v for k, v in (net.aliases if net else {}).items() if k not in custom},
    }
    if net is not None:
        net.aliases = aliases
    chosen = None if params is None else _parse_params(params, shapes, aliases)
    N = xt.data.shape[0]
    small = (
        net is not None
        and net.param_count() <= SMALL_PARAMS
        and max(layer.width for layer in net.layers) <= SMALL_WIDTH
        and N <= SMALL_BATCH
    )
    if form == "scalar" and net is None:
        form = "auto"
    resolved = (
        "generic"
        if net is None
        else ("scalar" if form == "scalar" or (form == "auto" and small) else "matrix")
    )

    if net is not None and resolved != "scalar":
        net.aliases = custom  # w1…wn numbering is for networks shown unit by unit
    loss_info = describe_loss(trace)
    deriver = Deriver(trace, net, loss_info, precision)
    blocks: list[Block] = []
    if resolved == "scalar":
        blocks += deriver.forward_scalar() + deriver.loss_blocks() + deriver.backward_scalar()
    elif resolved == "matrix":
        blocks += deriver.matrix_form()
    else:
        blocks += deriver.generic()
    if any(n.name == "sigmoid" for n in trace.nodes[: trace.output_index + 1]):
        blocks.append(Note(SIGMOID_NOTE))

    if chosen is None:
        if resolved == "scalar":
            chosen = [(name, idx) for name in named for idx in np.ndindex(shapes[name])]
        else:
            chosen = []
    if len(dict.fromkeys(chosen)) > MAX_DETAILED:
        raise ExplainLimitError(
            f"explain details at most {MAX_DETAILED} parameter elements one by one (the limit "
            f"MAX_DETAILED), got {len(dict.fromkeys(chosen))}"
            + (" from params=" if params is not None else " in form='scalar'")
            + "; select fewer with params=, or use form='matrix'"
        )
    label = deriver.label
    checked = list(dict.fromkeys(chosen))
    if resolved != "scalar":  # a spot check per tensor: its largest gradient element
        for name in named:
            spot = _largest(name, trace.grads[name])
            if spot is not None and spot not in checked:
                checked.append(spot)
    wanted = len(checked)
    checked = _sample(checked, _fd_budget(sum(trace.params[n].size for n in named), N))
    checks = fd_checks(trace, checked, label, net)
    by_element = {(c.param, c.index): c for c in checks}

    before = {(name, idx): float(trace.params[name][idx]) for name, idx in chosen}
    rules = {}
    if opt is not None:  # the rule lines read the state the step starts from
        rules = {
            (name, idx): element_step(
                opt,
                named[name],
                idx,
                float(trace.grads[name][idx]),
                label(name, idx),
                precision=precision,
            )
            for name, idx in chosen
            if named[name].grad is not None
        }
        opt.step()

    per_param: list[Block] = []
    quantities = deriver.quantities
    for name, idx in chosen:
        per_param += (
            deriver.param_scalar(name, idx)
            if net is not None
            else [
                Heading(f"∂E/∂{label(name, idx)}", 3),
                Eq([f"∂E/∂{label(name, idx)}", fmt.num(trace.grads[name][idx], precision)]),
            ]
        )
        if (name, idx) in by_element:
            per_param.append(check_block(by_element[(name, idx)], precision, trace.loss))
        if opt is not None:
            after = float(named[name].data[idx])
            per_param += update_lines(
                rules.get((name, idx)),
                type(opt).__name__,
                label(name, idx),
                before[(name, idx)],
                after,
                precision,
            )
            quantities[f"{label(name, idx)}⁺"] = after
    if per_param:
        blocks.append(Heading("Gradients, one parameter at a time"))
        blocks += per_param
    blocks += _check_summary(checks, chosen, wanted)

    losses = [trace.loss]
    grad_norms = [float(np.sqrt(sum(float(np.sum(g * g)) for g in trace.grads.values())))]
    for _ in range(1, steps):
        assert opt is not None  # steps > 1 without lr= or optimizer= was refused above
        loss, norm = _plain_step(work, loss_fn, xt, yt, named)
        losses.append(loss)
        grad_norms.append(norm)
        opt.step()
    if opt is not None:
        with_after = _loss_after(work, loss_fn, xt, yt)
        blocks += _steps_table(losses, grad_norms, with_after, precision, type(opt).__name__)
    for text in notes:
        blocks.append(Note(text))

    return Explanation(
        title=title or f"Backpropagation through {type(model).__name__}",
        blocks=blocks,
        gradients={name: g.copy() for name, g in trace.grads.items()},
        checks=checks,
        losses=losses,
        quantities=quantities,
        updated={name: p.data.copy() for name, p in named.items()},
        graph=graph_nodes(trace, precision),
        form=resolved,
        aliases=aliases,
        diagram=None if net is None else build_diagram(net, trace.grads, find_kinks(trace, net)),
        precision=precision,
    )


def _plain_step(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    named: Mapping[str, Tensor],
) -> tuple[float, float]:
    """One backward() for the later steps: only the loss and ‖∇E‖ are shown, so nothing
    is recorded (recording every node costs several times the pass itself)."""
    for p in named.values():
        p.grad = None
    loss = loss_fn(model(x), y)
    loss.backward()
    squares = sum(float(np.sum(p.grad * p.grad)) for p in named.values() if p.grad is not None)
    return float(loss.item()), float(np.sqrt(squares))


def _loss_after(
    model: Module, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor
) -> float:
    from ..autodiff import no_grad

    with no_grad():
        return float(loss_fn(model(x), y).item())


def _check_cost(count: int, samples: int, steps: int) -> None:
    """Refuse, before copying anything, an explanation beyond the limits above."""
    if count > MAX_PARAMETERS:
        raise ExplainLimitError(
            f"explain follows at most {MAX_PARAMETERS:,} trainable parameters (the limit "
            f"MAX_PARAMETERS), got {count:,}; explain a smaller network"
        )
    work = count * max(samples, 1) * steps
    if work > MAX_WORK:
        raise ExplainLimitError(
            f"explain's work, parameters × samples × steps = {count:,} × {samples:,} × "
            f"{steps:,} = {work:,}, is more than the limit MAX_WORK = {MAX_WORK:,}; take "
            f"fewer steps or samples"
        )


def _fd_budget(count: int, samples: int) -> int:
    """How many finite-difference checks fit: each replays the forward pass twice."""
    return max(1, min(MAX_FD_CHECKS, MAX_WORK // max(2 * count * samples, 1)))


def _sample(elements: list, budget: int) -> list:
    """At most ``budget`` of ``elements``, evenly spread (first and last included)."""
    if len(elements) <= budget:
        return elements
    picks = np.unique(np.linspace(0, len(elements) - 1, budget).round().astype(int))
    return [elements[k] for k in picks]


def _largest(name: str, grad: np.ndarray) -> tuple[str, tuple] | None:
    """The element with the largest |gradient|; near-ties (1e-9 relative) go to the first.

    Without the tolerance, equal gradients that differ in the last ulp on another BLAS
    would pick another element, and the committed outputs would differ.
    """
    if not grad.size:
        return None
    size = np.abs(grad)
    first = int(np.argmax(size.ravel() >= size.max() * (1 - 1e-9)))
    return name, tuple(int(i) for i in np.unravel_index(first, grad.shape))


def _check_summary(
    checks: list[Check], chosen: list[tuple[str, tuple]], wanted: int
) -> list[Block]:
    """The count of agreeing checks, kinks told apart, and the sampling if any."""
    if not checks:
        return []
    failed = [c for c in checks if not c.ok]
    at_kink = [c for c in checks if c.ok and c.kink]
    plain = [c for c in checks if c.ok and not c.kink]
    text = (
        f"{len(plain)} of {len(checks)} gradient elements agree with central differences "
        f"(h = 1e−6, float64; tolerance 1e−6 + 1e−5·|g|)"
    )
    if plain:
        worst = max(c.rel_error for c in plain)
        below = all(c.below_floor for c in plain)
        text += f"; largest relative error {fmt.relative_error(worst, True, below)}"
    if at_kink:
        text += (
            f"; {len(at_kink)} at a kink, where E has no derivative and backprop's value "
            f"matches a one-sided difference"
        )
    if failed:
        worst = max(c.rel_error for c in failed)
        error = fmt.relative_error(worst, False)
        text += f"; {len(failed)} disagree (largest relative error {error})"
    else:
        text += "; 0 failures"
    extra = len(checks) - len(set(chosen) & {(c.param, c.index) for c in checks})
    if extra > 0:
        text += f"; {extra} spot checks (each tensor's largest gradient)"
    if wanted > len(checks):
        text += (
            f"; {len(checks)} of {wanted} elements checked, an even sample (each check "
            f"replays the forward pass twice; at most {MAX_FD_CHECKS})"
        )
    text += " ✗" if failed else " ✓"
    return [Heading("Finite-difference check"), Para(text)]


def _steps_table(
    losses: list[float], norms: list[float], final_loss: float, precision: int, kind: str
) -> list[Block]:
    rows = [
        [str(k + 1), fmt.num(loss, precision), fmt.num(norm, precision)]
        for k, (loss, norm) in enumerate(zip(losses, norms, strict=False))
    ]
    rows.append([f"after {len(losses)}", fmt.num(final_loss, precision), ""])
    down = final_loss < losses[0]
    return [
        Heading("Training steps" if len(losses) > 1 else "After the update"),
        Table(["step", "E before the step", "‖∇E‖"], rows),
        Para(
            f"{kind}: E went from {fmt.num(losses[0], precision)} to "
            f"{fmt.num(final_loss, precision)} " + ("(down ✓)" if down else "(not down ✗)")
        ),
    ]
