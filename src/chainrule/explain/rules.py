"""One parameter element's optimizer step, spelt out: the rule of every ``chainrule.optim``
optimizer (torch.optim's), with that element's numbers.

``cr.explain`` and the playground's derivation panel both show the update this way. The
state is read from the live optimizer (``momentum_buffer``, ``sum``, ``square_avg``,
``grad_avg``, ``acc_delta``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``step``);
the new value is not recomputed from the displayed formula but by the optimizer's own
update function (``chainrule.optim.functional``) run on one-element copies of the element
and its state. Element-wise NumPy arithmetic rounds the same on one element as on a whole
array, so the number shown is the number ``opt.step()`` writes. The intermediate values
(g, m̂, Δ, ...) are spelt out from the same state for the reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from ..optim import functional
from . import fmt
from .records import Eq


@dataclass
class ElementStep:
    """One element's step: the lines to show, its value before and after, the optimizer."""

    lines: list[Eq]
    before: float
    after: float
    kind: str


def read_state(opt: optim.Optimizer, param: Any, index: tuple) -> dict[str, Any]:
    """The optimizer's state of ``param[index]``: each per-element array's value, and ``step``."""
    values: dict[str, Any] = {}
    for key, value in opt.state.get(param, {}).items():
        if isinstance(value, np.ndarray) and value.shape == param.data.shape:
            values[key] = float(value[index])
        elif key == "step":
            values[key] = int(np.asarray(value))
    return values


def group_of(opt: optim.Optimizer, param: Any) -> dict[str, Any]:
    """The parameter group of ``opt`` that holds ``param``."""
    for group in opt.param_groups:
        if any(p is param for p in group["params"]):
            return group
    raise ValueError("the optimizer does not hold this parameter")


def _one(value: float) -> np.ndarray:
    return np.array([value], dtype=np.float64)


class _Element:
    """The element being stepped: its numbers, its group's options, and how to print them."""

    def __init__(
        self, group: dict[str, Any], state: dict[str, Any], label: str, before: float,
        grad: float, l1: float, precision: int,
    ) -> None:  # fmt: skip
        self.group, self.state, self.label = group, state, label
        self.before, self.grad, self.l1, self.precision = before, grad, l1, precision
        self.lines: list[Eq] = []

    @property
    def l1_grad(self) -> float:
        """The gradient handed to the optimizer: ∂E/∂θ, plus λ₁·sign(θ) with an L1 term."""
        return self.grad + self.l1 * float(np.sign(self.before)) if self.l1 else self.grad

    def n(self, value: float) -> str:
        """A number inside a formula: negative ones in parentheses."""
        text = fmt.num(value, self.precision)
        return f"({text})" if text.startswith("−") else text

    def result(self, value: float) -> str:
        """A chain's result stands alone: no parentheses."""
        return fmt.num(value, self.precision)

    def opt(self, key: str) -> float:
        return float(self.group.get(key, 0.0) or 0.0)

    def eq(self, name: str, rule: str, numbers: str, value: float, comment: str = "") -> None:
        self.lines.append(Eq([name, rule, numbers, self.result(value)], comment=comment))

    @property
    def lr(self) -> float:
        return self.opt("lr")

    @property
    def decay(self) -> float:
        return self.opt("weight_decay")

    @property
    def maximize(self) -> bool:
        return bool(self.group.get("maximize"))

    def average(
        self, name: str, weight: str, w: float, old: float, term: str, numbers: str,
        new: float, comment: str, keep: str = "", keep_value: float | None = None,
    ) -> None:  # fmt: skip
        """``name⁺ = w·name + (1 − w)·term``, a running average of the state (with
        ``keep``, SGD's buffer: ``μ·buf + (1 − τ)·g``)."""
        keep, keep_value = keep or weight, 1 - w if keep_value is None else keep_value
        self.eq(f"{name}⁺", f"{weight}·{name} + (1 − {keep})·{term}",
                f"{self.n(w)}·{self.n(old)} + {self.n(keep_value)}·{numbers}", new,
                comment)  # fmt: skip

    def moved(
        self, rule: str, numbers: str, theta: np.ndarray, comment: str = "", *,
        start: tuple[str, float] | None = None,
    ) -> None:  # fmt: skip
        """The last line, ``θ⁺ = θ − rule = θ − numbers = theta``; from ``start`` (the name
        and value of a decayed θ′) when given."""
        name, value = start or (self.label, self.before)
        self.eq(f"{self.label}⁺", f"{name} − {rule}", f"{self.n(value)} − {numbers}",
                float(theta[0]), comment)  # fmt: skip

    def gradient(self, decay: float) -> tuple[float, str]:
        """g as the optimizer forms it, ``±(∂E/∂θ [+ λ₁·sign θ]) [+ λ·θ]``: its value and
        the symbol the rule lines use for it (∂E/∂θ itself when nothing is added)."""
        label, maximize = self.label, bool(self.group.get("maximize"))
        d = f"∂E/∂{label}"
        if not (self.l1 or maximize or decay):
            return self.grad, d
        rule, numbers, value = d, self.n(self.grad), self.grad
        notes = []
        if self.l1:  # the playground adds λ₁·sign(θ) to .grad before opt.step()
            sign = float(np.sign(self.before))
            value = self.grad + self.l1 * sign
            rule += f" + λ₁·sign({label})"
            numbers += f" + {self.n(self.l1)}·{self.n(sign)}"
            notes.append(f"L1 penalty λ₁ = {self.l1:g} on the weights")
        if maximize:
            rule, numbers, value = _negated(rule, self.l1), _negated(numbers, self.l1), -value
            notes.append("maximize: ascend the loss")
        if decay:  # torch: g ← ±∇ + λ·θ, computed as λ·θ ± ∇ (the same rounding)
            value = self.before * decay + value
            rule += f" + λ·{label}"
            numbers += f" + {self.n(decay)}·{self.n(self.before)}"
            notes.append(f"weight_decay λ = {decay:g} (L2)")
        self.eq("g", rule, numbers, value, "; ".join(notes))
        return value, "g"


def _sq(symbol: str) -> str:
    """The square of g as written: (∂E/∂w)², not ∂E/∂w² (which reads as ∂E/∂(w²))."""
    return f"{symbol}²" if symbol == "g" else f"({symbol})²"


def _negated(text: str, grouped: float) -> str:
    return f"−({text})" if grouped else f"−{text}"


def _sgd(e: _Element, theta: np.ndarray) -> None:
    mu, damp = e.opt("momentum"), e.opt("dampening")
    nesterov = bool(e.group.get("nesterov"))
    g, gs = e.gradient(e.decay)
    buf = e.state.get("momentum_buffer") if mu else None
    new = functional.sgd_step(
        theta, _one(e.l1_grad), None if buf is None else _one(buf), lr=e.lr, momentum=mu,
        dampening=damp, weight_decay=e.decay, nesterov=nesterov, maximize=e.maximize,
    )  # fmt: skip
    if new is None:  # momentum 0, no buffer: the tutorial's line θ − η · ∂E/∂θ
        e.moved(f"η · {gs}", f"{e.n(e.lr)} · {e.n(g)}", theta)
        return
    b = float(new[0])
    if buf is None:
        e.lines.append(
            Eq(["buf⁺", gs, e.result(b)], comment="momentum_buffer: the first step starts it at g")
        )
    else:
        note = f"momentum_buffer, μ = {mu:g}, dampening τ = {damp:g}"
        e.average("buf", "μ", mu, buf, gs, e.n(g), b, note, keep="τ", keep_value=1 - damp)
    if nesterov:  # the step looks ahead along the new buffer: g + μ·buf⁺, not buf⁺
        e.moved(f"η·({gs} + μ·buf⁺)", f"{e.n(e.lr)}·({e.n(g)} + {e.n(mu)}·{e.n(b)})", theta,
                "Nesterov")  # fmt: skip
    else:
        e.moved("η·buf⁺", f"{e.n(e.lr)}·{e.n(b)}", theta)


def _adagrad(e: _Element, theta: np.ndarray) -> None:
    eps, lr_decay = e.opt("eps"), e.opt("lr_decay")
    t = e.state.get("step", 0) + 1
    total = _one(e.state.get("sum", e.opt("initial_accumulator_value")))
    old = float(total[0])
    g, gs = e.gradient(e.decay)
    functional.adagrad_step(
        theta, _one(e.l1_grad), total, step=t, lr=e.lr, lr_decay=lr_decay,
        weight_decay=e.decay, eps=eps, maximize=e.maximize,
    )  # fmt: skip
    s, rate, eta = float(total[0]), e.lr / (1 + (t - 1) * lr_decay), "η"
    e.eq("sum⁺", f"sum + {_sq(gs)}", f"{e.n(old)} + {e.n(g)}²", s, f"t = {t}")
    if lr_decay:
        e.eq("η′", "η/(1 + (t − 1)·η_decay)", f"{e.n(e.lr)}/(1 + {t - 1}·{e.n(lr_decay)})", rate)
        eta = "η′"
    e.moved(f"{eta}·{gs}/(√sum⁺ + ε)", f"{e.n(rate)}·{e.n(g)}/(√{e.n(s)} + {e.n(eps)})", theta)


def _rmsprop(e: _Element, theta: np.ndarray) -> None:
    alpha, eps, mu = e.opt("alpha"), e.opt("eps"), e.opt("momentum")
    centered = bool(e.group.get("centered"))
    old = {k: e.state.get(k, 0.0) for k in ("square_avg", "grad_avg", "momentum_buffer")}
    v = _one(old["square_avg"])
    gbar = _one(old["grad_avg"]) if centered else None
    buf = _one(old["momentum_buffer"]) if mu > 0 else None
    g, gs = e.gradient(e.decay)
    functional.rmsprop_step(
        theta, _one(e.l1_grad), v, gbar, buf, lr=e.lr, alpha=alpha, eps=eps,
        weight_decay=e.decay, momentum=mu, centered=centered, maximize=e.maximize,
    )  # fmt: skip
    e.average("v", "α", alpha, old["square_avg"], _sq(gs), f"{e.n(g)}²", v[0], "square_avg")
    root, shown = "v⁺", float(v[0])
    if gbar is not None:  # centered
        e.average("ḡ", "α", alpha, old["grad_avg"], gs, e.n(g), gbar[0], "grad_avg (centered)")
        shown = float(v[0]) - float(gbar[0]) ** 2
        e.eq("ṽ", "v⁺ − (ḡ⁺)²", f"{e.n(v[0])} − {e.n(gbar[0])}²", shown)
        root = "ṽ"
    scaled = f"{e.n(g)}/(√{e.n(shown)} + {e.n(eps)})"
    if buf is not None:  # momentum > 0
        e.eq("buf⁺", f"μ·buf + {gs}/(√{root} + ε)", f"{e.n(mu)}·{e.n(old['momentum_buffer'])} + "
             f"{scaled}", float(buf[0]), f"momentum_buffer, μ = {mu:g}")  # fmt: skip
        e.moved("η·buf⁺", f"{e.n(e.lr)}·{e.n(buf[0])}", theta)
    else:
        e.moved(f"η·{gs}/(√{root} + ε)", f"{e.n(e.lr)}·{scaled}", theta)


def _adadelta(e: _Element, theta: np.ndarray) -> None:
    rho, eps = e.opt("rho"), e.opt("eps")
    v, u = _one(e.state.get("square_avg", 0.0)), _one(e.state.get("acc_delta", 0.0))
    old_v, old_u = float(v[0]), float(u[0])
    g, gs = e.gradient(e.decay)
    functional.adadelta_step(
        theta, _one(e.l1_grad), v, u, lr=e.lr, rho=rho, eps=eps, weight_decay=e.decay,
        maximize=e.maximize,
    )  # fmt: skip
    delta = float(np.sqrt(old_u + eps) / np.sqrt(v[0] + eps) * g)
    e.average("v", "ρ", rho, old_v, _sq(gs), f"{e.n(g)}²", v[0], "square_avg")
    e.eq("Δ", f"√(u + ε)/√(v⁺ + ε)·{gs}",
         f"√({e.n(old_u)} + {e.n(eps)})/√({e.n(v[0])} + {e.n(eps)})·{e.n(g)}", delta)  # fmt: skip
    e.average("u", "ρ", rho, old_u, "Δ²", f"{e.n(delta)}²", u[0], "acc_delta")
    e.moved("η·Δ", f"{e.n(e.lr)}·{e.n(delta)}", theta)


def _adam(e: _Element, theta: np.ndarray) -> None:
    eps, decay = e.opt("eps"), e.decay
    b1, b2 = (float(b) for b in e.group["betas"])
    decoupled, amsgrad = bool(e.group.get("decoupled_weight_decay")), bool(e.group.get("amsgrad"))
    t = e.state.get("step", 0) + 1
    m, v = _one(e.state.get("exp_avg", 0.0)), _one(e.state.get("exp_avg_sq", 0.0))
    vmax = _one(e.state.get("max_exp_avg_sq", 0.0)) if amsgrad else None
    old_m, old_v, old_vmax = float(m[0]), float(v[0]), e.state.get("max_exp_avg_sq", 0.0)
    start = None
    if decay and decoupled:  # AdamW: the weight shrinks first, g has no λ·θ
        shrunk, label = e.before * (1 - e.lr * decay), e.label
        e.eq(f"{label}′", f"{label}·(1 − η·λ)", f"{e.n(e.before)}·(1 − {e.n(e.lr)}·{e.n(decay)})",
             shrunk, f"decoupled weight_decay λ = {decay:g}")  # fmt: skip
        start = (f"{label}′", shrunk)
    g, gs = e.gradient(0.0 if decoupled else decay)
    functional.adam_step(
        theta, _one(e.l1_grad), m, v, vmax, step=t, lr=e.lr, beta1=b1, beta2=b2, eps=eps,
        weight_decay=decay, amsgrad=amsgrad, maximize=e.maximize, decoupled=decoupled,
    )  # fmt: skip
    e.average("m", "β₁", b1, old_m, gs, e.n(g), m[0], f"exp_avg, t = {t}")
    e.average("v", "β₂", b2, old_v, _sq(gs), f"{e.n(g)}²", v[0], "exp_avg_sq")
    second = "v⁺"
    if vmax is not None:  # amsgrad
        e.eq("v_max⁺", "max(v_max, v⁺)", f"max({e.n(old_vmax)}, {e.n(v[0])})", float(vmax[0]),
             "max_exp_avg_sq (amsgrad)")  # fmt: skip
        second = "v_max⁺"
    m_hat = float(m[0]) / (1 - b1**t)
    v_hat = float((v if vmax is None else vmax)[0]) / (1 - b2**t)
    e.lines.append(Eq(["m̂", "m⁺/(1 − β₁ᵗ)", e.result(m_hat)]))
    e.lines.append(Eq(["v̂", f"{second}/(1 − β₂ᵗ)", e.result(v_hat)]))
    e.moved("η·m̂/(√v̂ + ε)", f"{e.n(e.lr)}·{e.n(m_hat)}/(√{e.n(v_hat)} + {e.n(eps)})", theta,
            start=start)  # fmt: skip


# Exact classes: a subclass may change the rule, so it gets the generic line instead.
RULES: dict[type, Callable[[_Element, np.ndarray], None]] = {
    optim.SGD: _sgd,
    optim.Adagrad: _adagrad,
    optim.RMSprop: _rmsprop,
    optim.Adadelta: _adadelta,
    optim.Adam: _adam,
    optim.AdamW: _adam,
}


def element_step(
    opt: optim.Optimizer,
    param: Any,
    index: tuple,
    grad: float,
    label: str,
    *,
    precision: int = 9,
    l1: float = 0.0,
) -> ElementStep | None:
    """``param[index]``'s next step by ``opt`` for the loss gradient ``grad`` (∂E/∂θ).

    ``l1`` > 0 adds λ₁·sign(θ) to the gradient first, as the playground's L1 penalty on
    weights does. Returns None for an optimizer whose rule is not known here (not one of
    ``chainrule.optim``'s classes). Nothing of ``opt`` or ``param`` changes.
    """
    rule = RULES.get(type(opt))
    if rule is None:
        return None
    before = float(param.data[index])
    element = _Element(
        group_of(opt, param),
        read_state(opt, param, index),
        label,
        before,
        float(grad),
        float(l1),
        precision,
    )
    theta = _one(before)
    rule(element, theta)
    return ElementStep(element.lines, before, float(theta[0]), type(opt).__name__)
