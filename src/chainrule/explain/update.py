"""The optimizer of an explanation: built (or copied) in float64 over the copied
parameters, and its step of one element as shown (the rule lines are ``rules.py``'s)."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from .. import optim
from . import fmt
from .records import Block, Eq
from .rules import ElementStep


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
                "explain expected an optimizer table with a 'name' "
                f"(one of {sorted(optim.OPTIMIZERS)}), got the keys {sorted(options)}"
            )
        name = str(options.pop("name"))
        if lr is not None:
            options.setdefault("lr", lr)
        return optim.create(name, list(params.values()), **options)
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
        clone = _rebuilt(optimizer, groups)
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


def _rebuilt(optimizer: optim.Optimizer, groups: list[dict[str, Any]]) -> optim.Optimizer:
    """An optimizer of ``optimizer``'s class over ``groups``, which carry every option.

    Built by its class from the groups alone when its constructor allows that (all of
    ``chainrule.optim``'s do). A user's subclass may need more (``__init__(self, params,
    lr)``): then a shallow copy keeps its class and the attributes its constructor set,
    and the base constructor gives it fresh groups and state.
    """
    cls = type(optimizer)
    try:
        inspect.signature(cls).bind(groups)
    except TypeError:  # the constructor needs arguments besides the parameters
        clone = copy.copy(optimizer)
        optim.Optimizer.__init__(clone, groups, optimizer.defaults)
        return clone
    # The check above is what mypy cannot see: the base class's own signature differs.
    return cast(Callable[..., optim.Optimizer], cls)(groups)


def update_lines(
    step: ElementStep | None, kind: str, label: str, before: float, after: float, precision: int
) -> list[Block]:
    """The update of one element as shown, after ``opt.step()`` moved it from ``before``
    to ``after``: ``step``'s rule lines (see ``rules.element_step``), or one line when
    the rule is unknown (an optimizer class of the user's) or no gradient reached it.
    The rule's own result must be the real one to be shown (tied weights, say, are
    stepped once for a gradient summed over their uses: then the one line shows it)."""
    if step is not None and step.after == after:
        return list(step.lines)
    if after == before:
        return [
            Eq([f"{label}⁺", label, fmt.num(after, precision)], comment="no gradient: not moved")
        ]
    return [
        Eq([f"{label}⁺", f"{kind} step", fmt.num(after, precision)], comment=f"{kind}'s own rule")
    ]
