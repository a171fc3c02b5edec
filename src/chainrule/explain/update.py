"""The optimizer step as the explanation shows it: the rule, the state that enters it,
and the new value, all read from a real ``chainrule.optim`` optimizer's step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import optim
from . import fmt
from .records import Block, Eq

_NAMES = {name.lower(): name for name in ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW")}


def make_optimizer(
    optimizer: Any, lr: float | None, params: Mapping[str, Any], originals: Mapping[int, str]
) -> optim.Optimizer | None:
    """A float64 optimizer over the copied parameters.

    ``optimizer`` is None (plain SGD with ``lr``, or no update when lr is None too), a
    name ("sgd", "adam", ...), a dict ``{"name": ..., **options}`` or an optimizer built
    on the original model: then its options and state are carried over.
    """
    if optimizer is None:
        return None if lr is None else optim.SGD(list(params.values()), lr=lr)
    if isinstance(optimizer, (str, dict)):
        options = dict(optimizer) if isinstance(optimizer, dict) else {"name": optimizer}
        if "name" not in options:
            raise ValueError(
                f"explain expected an optimizer table with a 'name' (one of {sorted(_NAMES)}), "
                f"got the keys {sorted(options)}"
            )
        name = str(options.pop("name")).lower()
        if name not in _NAMES:
            raise ValueError(f"explain expected optimizer one of {sorted(_NAMES)}, got {name!r}")
        if lr is not None:
            options.setdefault("lr", lr)
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        return getattr(optim, _NAMES[name])(list(params.values()), **options)
    if isinstance(optimizer, optim.Optimizer):
        groups = []
        for group in optimizer.param_groups:
            options = {k: v for k, v in group.items() if k != "params"}
            missing = [p for p in group["params"] if id(p) not in originals]
            if missing:
                raise ValueError("explain's optimizer holds parameters that are not the model's")
            options["params"] = [params[originals[id(p)]] for p in group["params"]]
            if lr is not None:
                options["lr"] = lr
            groups.append(options)
        clone = type(optimizer)(groups)
        clone.load_state_dict(optimizer.state_dict())
        for state in clone.state.values():
            for key, value in state.items():
                if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                    state[key] = value.astype(np.float64)
        return clone
    raise TypeError(
        f"explain expected optimizer None, a name, a dict or a chainrule.optim optimizer, "
        f"got {type(optimizer).__name__}"
    )


def _state_of(opt: optim.Optimizer, param: Any, index: tuple) -> dict[str, float]:
    state = opt.state.get(param, {})
    values = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray) and value.shape == param.data.shape:
            values[key] = float(value[index])
        elif key == "step":
            values[key] = float(np.asarray(value))
    return values


def snapshot(opt: optim.Optimizer, param: Any, index: tuple) -> dict[str, float]:
    return _state_of(opt, param, index)


def update_blocks(
    opt: optim.Optimizer,
    param: Any,
    index: tuple,
    label: str,
    before: float,
    grad: float,
    state_before: dict[str, float],
    precision: int,
) -> tuple[list[Block], float]:
    """The update of one element, after ``opt.step()`` ran."""

    def n(v: float) -> str:
        text = fmt.num(v, precision)
        return f"({text})" if text.startswith("−") else text

    after = float(param.data[index])
    state_after = _state_of(opt, param, index)
    group = next(g for g in opt.param_groups if any(p is param for p in g["params"]))
    lr = float(group["lr"])
    kind = type(opt).__name__
    blocks: list[Block] = []
    plain = (
        kind == "SGD"
        and not group.get("momentum")
        and not group.get("weight_decay")
        and not group.get("maximize")
    )
    if plain:
        blocks.append(
            Eq(
                [
                    f"{label}⁺",
                    f"{label} − η · ∂E/∂{label}",
                    f"{n(before)} − {n(lr)} · {n(grad)}",
                    fmt.num(after, precision),
                ]
            )
        )
        return blocks, after
    if kind == "SGD":
        mu = group["momentum"]
        blocks.append(
            Eq(
                [
                    f"momentum_buffer({label})",
                    "μ·buf + (1 − dampening)·g  (g on the first step)",
                    f"{n(mu)}·{n(state_before.get('momentum_buffer', 0.0))} + … ",
                    n(state_after.get("momentum_buffer", grad)),
                ],
                comment=f"μ = {mu}, dampening = {group['dampening']}, weight_decay = "
                f"{group['weight_decay']}, nesterov = {group['nesterov']}",
            )
        )
        blocks.append(
            Eq(
                [
                    f"{label}⁺",
                    f"{label} − η · buf",
                    f"{n(before)} − {n(lr)} · {n(state_after.get('momentum_buffer', grad))}",
                    n(after),
                ]
            )
        )
        return blocks, after
    if kind in ("Adam", "AdamW"):
        b1, b2 = group["betas"]
        t = int(state_after.get("step", 1))
        m, v = state_after.get("exp_avg", 0.0), state_after.get("exp_avg_sq", 0.0)
        blocks.append(
            Eq(
                [
                    f"exp_avg m({label})",
                    "β₁·m + (1 − β₁)·g",
                    f"{n(b1)}·{n(state_before.get('exp_avg', 0.0))} + {n(1 - b1)}·{n(grad)}",
                    n(m),
                ]
            )
        )
        blocks.append(
            Eq(
                [
                    f"exp_avg_sq v({label})",
                    "β₂·v + (1 − β₂)·g²",
                    f"{n(b2)}·{n(state_before.get('exp_avg_sq', 0.0))} + {n(1 - b2)}·{n(grad)}²",
                    n(v),
                ]
            )
        )
        blocks.append(
            Eq(
                [
                    f"{label}⁺",
                    f"{label} − η · (m/(1 − β₁ᵗ)) / (√(v/(1 − β₂ᵗ)) + ε)",
                    f"{n(before)} − {n(lr)} · ({n(m)}/{n(1 - b1**t)}) / (√({n(v)}/{n(1 - b2**t)}) + "  # noqa: E501
                    f"{group['eps']})",
                    n(after),
                ],
                comment=f"t = {t}, weight_decay = {group['weight_decay']}"
                + (
                    " (decoupled)" if kind == "AdamW" or group.get("decoupled_weight_decay") else ""
                ),
            )
        )
        return blocks, after
    shown = ", ".join(
        f"{k}: {n(state_before.get(k, 0.0))} → {n(v)}"
        for k, v in state_after.items()
        if k != "step"
    )
    blocks.append(
        Eq(
            [f"{label}⁺", f"{kind} step (torch.optim.{kind}'s rule)", n(after)],
            comment=f"lr = {lr}; state {shown}",
        )
    )
    return blocks, after
