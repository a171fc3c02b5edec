"""One name -> class (or function) registry per concept of ``chainrule.nn``.

- ``LAYERS``: class name -> layer class, for every layer that ``get_config`` describes
  and its constructor rebuilds (what a model file may hold).
- ``ACTIVATIONS``: name of its ``nn.functional`` op -> activation layer class
  (``get_activation``), PReLU aside (it has a weight);
  ``IDENTITY_NAMES`` ("none", "identity", "linear") mean no activation layer at all.
- ``LOSSES``: name -> loss function of ``nn.functional`` (``get_loss``);
  ``CLASS_LOSSES`` are those whose targets are class indices.

The CLI, explain's specs, the playground, the estimators and model files all read
these, so a name means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..autodiff import Tensor
from . import (
    activation,
    conv,
    dropout,
    layers,
    normalization,
    normalization_extra,
    pooling,
    sparse,
)
from . import functional as F
from .module import Module

__all__ = [
    "ACTIVATIONS",
    "CLASS_LOSSES",
    "IDENTITY_NAMES",
    "LAYERS",
    "LOSSES",
    "activation_names",
    "get_activation",
    "get_loss",
]


def _layers() -> dict[str, type[Module]]:
    """The public layer classes of chainrule.nn that declare a config, by class name."""
    found: dict[str, type[Module]] = {}
    for source in (
        layers,
        normalization,
        dropout,
        activation,
        conv,
        pooling,
        normalization_extra,
        sparse,
    ):
        for name, cls in vars(source).items():
            if (
                isinstance(cls, type)
                and issubclass(cls, Module)
                and cls.__module__ == source.__name__
                and not name.startswith("_")
                and cls._config is not None
            ):
                found[name] = cls
    return found


LAYERS: Mapping[str, type[Module]] = MappingProxyType(_layers())

IDENTITY_NAMES = ("none", "identity", "linear")
# Named as their nn.functional op (torch's names): LeakyReLU is "leaky_relu".
ACTIVATIONS: Mapping[str, type[Module]] = MappingProxyType(
    {
        cls._fn.__name__: cls
        for cls in LAYERS.values()
        if issubclass(cls, activation._FunctionLayer) and cls.__module__ == activation.__name__
    }
)

LOSSES: Mapping[str, Callable[..., Tensor]] = MappingProxyType(
    {
        "mse": F.mse_loss,
        "l1": F.l1_loss,
        "mae": F.l1_loss,
        "huber": F.huber_loss,
        "smooth_l1": F.smooth_l1_loss,
        "bce": F.binary_cross_entropy,
        "bce_with_logits": F.binary_cross_entropy_with_logits,
        "cross_entropy": F.cross_entropy,
        "nll": F.nll_loss,
    }
)
CLASS_LOSSES = frozenset({"cross_entropy", "nll"})


def activation_names() -> list[str]:
    """Every name ``get_activation`` takes: the identity names, then ``ACTIVATIONS``."""
    return [*IDENTITY_NAMES, *ACTIVATIONS]


def get_activation(name: str, **options: Any) -> Module | None:
    """A fresh activation layer for ``name`` (``options`` go to its constructor), or
    None for the identity names: no layer.

    >>> get_activation("leaky_relu", negative_slope=0.2)  # doctest: +SKIP
    LeakyReLU(negative_slope=0.2)
    """
    if name in IDENTITY_NAMES:
        return None
    if name not in ACTIVATIONS:
        raise ValueError(
            f"expected an activation name, one of {', '.join(activation_names())}; got {name!r}"
        )
    return ACTIVATIONS[name](**options)


def get_loss(name: str) -> Callable[..., Tensor]:
    """The ``nn.functional`` loss called ``name`` (see ``LOSSES``): ``loss(input, target)``."""
    if name not in LOSSES:
        raise ValueError(f"expected a loss name, one of {', '.join(LOSSES)}; got {name!r}")
    return LOSSES[name]
