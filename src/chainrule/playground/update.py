"""The optimizer's update of one parameter element, as the derivation panel shows it.

explain writes the update of plain SGD, momentum and Adam; the playground has every
optimizer of ``chainrule.optim`` and an L1 term, so this module writes them all the same
way. The state is read from the live optimizer (``momentum_buffer``, ``sum``,
``square_avg``, ``acc_delta``, ``exp_avg``, ``exp_avg_sq``, ``step``) and the new value
comes from the optimizer's own update function (``chainrule.optim.functional``) run on
copies of that one element, so the number shown is the real next step's number; the
intermediate values (m̂, Δ, ...) are only spelt out from it for the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import optim
from ..explain import fmt
from ..explain.records import Eq
from ..optim import functional

PRECISION = 9


@dataclass
class Update:
    """One element's step: the lines to show, the value before and after."""

    lines: list[Eq]
    before: float
    after: float
    kind: str


def _n(value: float) -> str:
    text = fmt.num(value, PRECISION)
    return f"({text})" if text.startswith("−") else text


def read_state(opt: optim.Optimizer, param: Any, index: tuple) -> dict[str, Any]:
    """The optimizer's state of ``param[index]``: each array's element, and ``step``."""
    state = opt.state.get(param, {})
    values: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray) and value.shape == param.data.shape:
            values[key] = float(value[index])
        elif key == "step":
            values[key] = int(np.asarray(value))
    return values


def _group(opt: optim.Optimizer, param: Any) -> dict[str, Any]:
    for group in opt.param_groups:
        if any(p is param for p in group["params"]):
            return group
    raise ValueError("the optimizer does not hold this parameter")


def _one(value: float) -> np.ndarray:
    return np.array([value], dtype=np.float64)


def element_update(
    opt: optim.Optimizer, param: Any, index: tuple, grad: float, label: str, l1: float = 0.0
) -> Update:
    """``param[index]``'s next step by ``opt`` for the gradient ``grad`` of the loss.

    ``l1`` > 0 adds λ₁·sign(w) to the gradient first (the playground's L1 penalty on
    weights). Nothing of ``opt`` or ``param`` changes.
    """
    group = _group(opt, param)
    state = read_state(opt, param, index)
    before = float(param.data[index])
    lines: list[Eq] = []
    if l1:
        total = grad + l1 * float(np.sign(before))
        lines.append(
            Eq(
                [
                    f"g({label})",
                    f"∂E/∂{label} + λ₁·sign({label})",
                    f"{_n(grad)} + {_n(l1)}·{_n(np.sign(before))}",
                    _n(total),
                ],
                comment="L1 penalty λ₁·Σ|w| on the weights",
            )
        )
        grad = total
    kind = type(opt).__name__
    rule = {
        "SGD": _sgd,
        "Adagrad": _adagrad,
        "RMSprop": _rmsprop,
        "Adadelta": _adadelta,
        "Adam": _adam,
        "AdamW": _adam,
    }[kind]
    theta = _one(before)
    lines += rule(group, state, theta, grad, label, before)
    for line in lines:  # a result stands alone: no parentheses around a negative one
        last = line.parts[-1]
        if last.startswith("(−") and last.endswith(")"):
            line.parts[-1] = last[1:-1]
    return Update(lines, before, float(theta[0]), kind)


def _decay_line(group, grad: float, before: float, label: str) -> tuple[list[Eq], float]:
    """L2 as torch adds it: g ← ∇ + λ·θ (weight_decay)."""
    decay = float(group.get("weight_decay", 0.0))
    if not decay:
        return [], grad
    g = grad + decay * before
    return [
        Eq(
            ["g", f"∂E/∂{label} + λ·{label}", f"{_n(grad)} + {_n(decay)}·{_n(before)}", _n(g)],
            comment="L2: weight_decay λ",
        )
    ], g


def _sgd(group, state, theta, grad, label, before) -> list[Eq]:
    lr, mu = float(group["lr"]), float(group["momentum"])
    lines, g = _decay_line(group, grad, before, label)
    buf = state.get("momentum_buffer")
    new = functional.sgd_step(
        theta,
        _one(grad),
        None if buf is None else _one(buf),
        lr=lr,
        momentum=mu,
        dampening=float(group["dampening"]),
        weight_decay=float(group["weight_decay"]),
        nesterov=bool(group["nesterov"]),
        maximize=bool(group["maximize"]),
    )
    after = float(theta[0])
    if not mu:
        lines.append(
            Eq([f"{label}⁺", f"{label} − η·g", f"{_n(before)} − {_n(lr)}·{_n(g)}", _n(after)])
        )
        return lines
    b = float(new[0])
    if buf is None:
        lines.append(
            Eq(["buf⁺", "g", _n(b)], comment="momentum_buffer: the first step starts it at g")
        )
    else:
        lines.append(
            Eq(
                [
                    "buf⁺",
                    "μ·buf + (1 − τ)·g",
                    f"{_n(mu)}·{_n(buf)} + {_n(1 - group['dampening'])}·{_n(g)}",
                    _n(b),
                ],
                comment=f"momentum_buffer, μ = {mu}, dampening τ = {group['dampening']}",
            )
        )
    if group["nesterov"]:
        lines.append(
            Eq(
                [
                    f"{label}⁺",
                    f"{label} − η·(g + μ·buf⁺)",
                    f"{_n(before)} − {_n(lr)}·({_n(g)} + {_n(mu)}·{_n(b)})",
                    _n(after),
                ],
                comment="Nesterov",
            )
        )
    else:
        lines.append(
            Eq([f"{label}⁺", f"{label} − η·buf⁺", f"{_n(before)} − {_n(lr)}·{_n(b)}", _n(after)])
        )
    return lines


def _adagrad(group, state, theta, grad, label, before) -> list[Eq]:
    lr, eps = float(group["lr"]), float(group["eps"])
    t = state.get("step", 0) + 1
    total = _one(state.get("sum", float(group["initial_accumulator_value"])))
    old = float(total[0])
    lines, g = _decay_line(group, grad, before, label)
    functional.adagrad_step(
        theta, _one(grad), total, step=t, lr=lr, lr_decay=float(group["lr_decay"]),
        weight_decay=float(group["weight_decay"]), eps=eps, maximize=bool(group["maximize"]),
    )  # fmt: skip
    clr = lr / (1 + (t - 1) * float(group["lr_decay"]))
    s = float(total[0])
    lines.append(Eq(["sum⁺", "sum + g²", f"{_n(old)} + {_n(g)}²", _n(s)], comment=f"t = {t}"))
    lines.append(
        Eq(
            [
                f"{label}⁺",
                f"{label} − η·g/(√sum⁺ + ε)",
                f"{_n(before)} − {_n(clr)}·{_n(g)}/(√{_n(s)} + {eps:g})",
                _n(theta[0]),
            ]
        )
    )
    return lines


def _rmsprop(group, state, theta, grad, label, before) -> list[Eq]:
    lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
    mu, centered = float(group["momentum"]), bool(group["centered"])
    v = _one(state.get("square_avg", 0.0))
    gbar = _one(state.get("grad_avg", 0.0)) if centered else None
    buf = _one(state.get("momentum_buffer", 0.0)) if mu > 0 else None
    old = float(v[0])
    lines, g = _decay_line(group, grad, before, label)
    functional.rmsprop_step(
        theta, _one(grad), v, gbar, buf, lr=lr, alpha=alpha, eps=eps,
        weight_decay=float(group["weight_decay"]), momentum=mu, centered=centered,
        maximize=bool(group["maximize"]),
    )  # fmt: skip
    lines.append(
        Eq(
            [
                "v⁺",
                "α·v + (1 − α)·g²",
                f"{_n(alpha)}·{_n(old)} + {_n(1 - alpha)}·{_n(g)}²",
                _n(v[0]),
            ],
            comment="square_avg",
        )
    )
    if centered or mu > 0:
        lines.append(Eq([f"{label}⁺", "RMSprop step (centered or with momentum)", _n(theta[0])]))
    else:
        lines.append(
            Eq(
                [
                    f"{label}⁺",
                    f"{label} − η·g/(√v⁺ + ε)",
                    f"{_n(before)} − {_n(lr)}·{_n(g)}/(√{_n(v[0])} + {eps:g})",
                    _n(theta[0]),
                ]
            )
        )
    return lines


def _adadelta(group, state, theta, grad, label, before) -> list[Eq]:
    lr, rho, eps = float(group["lr"]), float(group["rho"]), float(group["eps"])
    v, u = _one(state.get("square_avg", 0.0)), _one(state.get("acc_delta", 0.0))
    old_v, old_u = float(v[0]), float(u[0])
    lines, g = _decay_line(group, grad, before, label)
    functional.adadelta_step(
        theta, _one(grad), v, u, lr=lr, rho=rho, eps=eps,
        weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]),
    )  # fmt: skip
    delta = np.sqrt(old_u + eps) / np.sqrt(v[0] + eps) * g
    lines += [
        Eq(
            ["v⁺", "ρ·v + (1 − ρ)·g²", f"{_n(rho)}·{_n(old_v)} + {_n(1 - rho)}·{_n(g)}²", _n(v[0])],
            comment="square_avg",
        ),
        Eq(
            [
                "Δ",
                "√(u + ε)/√(v⁺ + ε)·g",
                f"√({_n(old_u)} + {eps:g})/√({_n(v[0])} + {eps:g})·{_n(g)}",
                _n(delta),
            ]
        ),
        Eq(
            [
                "u⁺",
                "ρ·u + (1 − ρ)·Δ²",
                f"{_n(rho)}·{_n(old_u)} + {_n(1 - rho)}·{_n(delta)}²",
                _n(u[0]),
            ],
            comment="acc_delta",
        ),
        Eq([f"{label}⁺", f"{label} − η·Δ", f"{_n(before)} − {_n(lr)}·{_n(delta)}", _n(theta[0])]),
    ]
    return lines


def _adam(group, state, theta, grad, label, before) -> list[Eq]:
    lr, eps = float(group["lr"]), float(group["eps"])
    b1, b2 = (float(b) for b in group["betas"])
    decay, decoupled = float(group["weight_decay"]), bool(group["decoupled_weight_decay"])
    t = state.get("step", 0) + 1
    m, v = _one(state.get("exp_avg", 0.0)), _one(state.get("exp_avg_sq", 0.0))
    vmax = _one(state.get("max_exp_avg_sq", 0.0)) if group["amsgrad"] else None
    old_m, old_v = float(m[0]), float(v[0])
    lines: list[Eq] = []
    g = grad
    if decay and decoupled:
        lines.append(
            Eq(
                [
                    f"{label}'",
                    f"{label}·(1 − η·λ)",
                    f"{_n(before)}·(1 − {_n(lr)}·{_n(decay)})",
                    _n(before * (1 - lr * decay)),
                ],
                comment="AdamW: decoupled weight decay",
            )
        )
    elif decay:
        more, g = _decay_line(group, grad, before, label)
        lines += more
    functional.adam_step(
        theta, _one(grad), m, v, vmax, step=t, lr=lr, beta1=b1, beta2=b2, eps=eps,
        weight_decay=decay, amsgrad=bool(group["amsgrad"]), maximize=bool(group["maximize"]),
        decoupled=decoupled,
    )  # fmt: skip
    m_hat, v_hat = m[0] / (1 - b1**t), v[0] / (1 - b2**t)
    start = _n(before * (1 - lr * decay)) if decay and decoupled else _n(before)
    lines += [
        Eq(
            ["m⁺", "β₁·m + (1 − β₁)·g", f"{_n(b1)}·{_n(old_m)} + {_n(1 - b1)}·{_n(g)}", _n(m[0])],
            comment=f"exp_avg, t = {t}",
        ),
        Eq(
            ["v⁺", "β₂·v + (1 − β₂)·g²", f"{_n(b2)}·{_n(old_v)} + {_n(1 - b2)}·{_n(g)}²", _n(v[0])],
            comment="exp_avg_sq",
        ),
        Eq(["m̂", "m⁺/(1 − β₁ᵗ)", _n(m_hat)]),
        Eq(["v̂", "v⁺/(1 − β₂ᵗ)", _n(v_hat)]),
        Eq(
            [
                f"{label}⁺",
                f"{label} − η·m̂/(√v̂ + ε)",
                f"{start} − {_n(lr)}·{_n(m_hat)}/(√{_n(v_hat)} + {eps:g})",
                _n(theta[0]),
            ]
        ),
    ]
    return lines
