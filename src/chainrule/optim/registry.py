"""One name -> optimizer registry: ``chainrule.optim.create("adam", params, lr=1e-3)``.

The names are torch.optim's class names in lower case, plus two presets of SGD that
the CLI, the playground and explain offer: ``momentum`` (momentum 0.9) and
``nesterov`` (Nesterov momentum 0.9). Every other option keeps its torch.optim
default; the caller's keyword arguments override both.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["OPTIMIZERS", "create", "optimizer_options"]

# name -> (class, preset options)
OPTIMIZERS: Mapping[str, tuple[type[Optimizer], Mapping[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adadelta": (Adadelta, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}


def optimizer_options(name: str) -> list[str]:
    """The keyword arguments optimizer ``name`` takes (its constructor's, ``params`` aside)."""
    cls, _ = _lookup(name)
    parameters = inspect.signature(cls.__init__).parameters
    return [key for key in parameters if key not in ("self", "params")]


def create(name: str, params: Iterable[Any], **options: Any) -> Optimizer:
    """The optimizer called ``name`` (case-insensitive, see ``OPTIMIZERS``) over ``params``.

    ``options`` are the class's keyword arguments (``lr``, ``weight_decay``, ...), on top
    of the name's preset; an unknown name or option raises ValueError listing the valid
    ones. ``betas`` may be any pair (a list from JSON or TOML).

    >>> opt = create("adam", model.parameters(), lr=1e-3)  # doctest: +SKIP
    """
    cls, preset = _lookup(name)
    valid = optimizer_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"optimizer {name!r} takes the options {valid}, got unknown {', '.join(unknown)}"
        )
    options = {**preset, **options}
    if "betas" in options and isinstance(options["betas"], list):
        options["betas"] = tuple(options["betas"])
    return cls(params, **options)


def _lookup(name: str) -> tuple[type[Optimizer], Mapping[str, Any]]:
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"expected an optimizer name, one of {sorted(OPTIMIZERS)}; got {name!r}")
    return OPTIMIZERS[key]
