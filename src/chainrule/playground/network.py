"""What the page can set about the network and its training, checked, and the model built
from it: a ``Config`` (from the page's JSON), ``build_model``, ``make_loss`` and
``make_optimizer`` over the real ``chainrule.nn`` and ``chainrule.optim``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from .. import nn, optim
from ..autodiff import Tensor
from ..nn import functional as F

# The activations the page offers (names of nn.ACTIVATIONS; "linear": none).
ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "elu", "gelu", "softplus", "linear")
OUTPUTS = ("none", "sigmoid", "tanh")
# "half_sse" is the tutorials' E = ½ Σ (target − out)² (summed over the batch).
LOSSES = ("bce_with_logits", "mse", "half_sse", "l1", "huber")
# Every optimizer of chainrule.optim; SGD also with (Nesterov) momentum 0.9.
OPTIMIZERS = tuple(optim.OPTIMIZERS)
MAX_LAYERS = 6
MAX_UNITS = 16


@dataclass
class Config:
    """The network and its training as the page sets them (JSON field names)."""

    hidden: list[int] = field(default_factory=lambda: [4, 4])
    activation: str = "tanh"
    output: str = "none"  # the output unit's activation
    loss: str = "bce_with_logits"
    optimizer: str = "sgd"
    lr: float = 0.1
    batch_size: int = 0  # 0: the whole training set in one batch
    l1: float = 0.0
    l2: float = 0.0  # the optimizer's weight_decay
    dropout: float = 0.0
    batch_norm: bool = False
    bias: bool = True
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, base: Config | None = None) -> Config:
        """``base`` (or the defaults) with the fields of ``data`` replaced, each checked;
        a ValueError names the field, what it expects and what arrived."""
        if not isinstance(data, dict):
            raise ValueError(f"config expected an object of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"config field {unknown[0]!r} is unknown; known: {', '.join(sorted(known))}"
            )
        values = (base or cls()).to_dict()
        values.update(data)
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        hidden = self.hidden
        if (
            not isinstance(hidden, list)
            or len(hidden) > MAX_LAYERS
            or not all(_is_int(h) and 1 <= h <= MAX_UNITS for h in hidden)
        ):
            raise ValueError(
                f"config field 'hidden' expected up to {MAX_LAYERS} layer sizes from 1 to "
                f"{MAX_UNITS}, got {hidden!r}"
            )
        _choice(self.activation, "activation", ACTIVATIONS)
        _choice(self.output, "output", OUTPUTS)
        _choice(self.loss, "loss", LOSSES)
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        _number(self.lr, "lr", 1e-6, 10.0)
        if not _is_int(self.batch_size) or not 0 <= self.batch_size <= 10_000:
            raise ValueError(
                f"config field 'batch_size' expected an integer from 0 (all rows) to 10000, "
                f"got {self.batch_size!r}"
            )
        _number(self.l1, "l1", 0.0, 1.0)
        _number(self.l2, "l2", 0.0, 1.0)
        _number(self.dropout, "dropout", 0.0, 0.9)
        for name in ("batch_norm", "bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"config field {name!r} expected true or false")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise ValueError(f"config field 'seed' expected an integer >= 0, got {self.seed!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(value: Any, name: str, choices: Any) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"config field {name!r} expected one of {', '.join(choices)}, got {value!r}"
        )


def _number(value: Any, name: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(
            f"config field {name!r} expected a number from {low} to {high}, got {value!r}"
        )


def build_model(config: Config, inputs: int, outputs: int) -> tuple[nn.Sequential, list[int]]:
    """The network, float64, and the positions of its Linear layers in the Sequential
    (their parameters are ``f"{position}.weight"`` and ``.bias``).

    Each hidden layer is Linear → [BatchNorm1d] → activation → [Dropout]; the output
    layer Linear → [output activation]. Weights are drawn with ``seed + layer``.
    """
    modules: list[nn.Module] = []
    linears: list[int] = []
    width = inputs
    for k, size in enumerate([*config.hidden, outputs]):
        linears.append(len(modules))
        modules.append(
            nn.Linear(width, size, bias=config.bias, dtype=np.float64, generator=config.seed + k)
        )
        if k == len(config.hidden):
            if config.output != "none":
                modules.append(nn.Sigmoid() if config.output == "sigmoid" else nn.Tanh())
            break
        if config.batch_norm:
            modules.append(nn.BatchNorm1d(size, dtype=np.float64))
        activation = nn.get_activation(config.activation)
        if activation is not None:
            modules.append(activation)
        if config.dropout > 0:
            modules.append(nn.Dropout(config.dropout, generator=config.seed + 100 + k))
        width = size
    return nn.Sequential(*modules), linears


def make_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """loss(output, target) for a loss name of LOSSES."""
    if name == "half_sse":

        def half_sse(output: Tensor, target: Tensor) -> Tensor:
            return 0.5 * F.mse_loss(output, target, reduction="sum")

        return half_sse
    return nn.get_loss(name)


def make_optimizer(config: Config, params: list) -> optim.Optimizer:
    """The chainrule.optim optimizer named by ``config.optimizer``, L2 as weight_decay."""
    return optim.create(config.optimizer, params, lr=config.lr, weight_decay=config.l2)
