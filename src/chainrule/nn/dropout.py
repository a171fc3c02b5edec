"""Dropout layer: inverted dropout while training, the identity in eval mode."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from .init import _rng
from .module import Module


class Dropout(Module):
    """Zero each element with probability ``p`` while training and scale the rest by 1/(1−p).

    The expected value of every element is unchanged, so eval mode is the identity.
    Shapes: any -> the same.

    ``generator`` is a ``numpy.random.Generator`` or an int seed (None: the default
    generator, seeded by ``manual_seed``); the module keeps a Generator in
    ``self.generator``, so a training loop can reseed it by assigning a new seed or
    Generator. ``inplace`` is accepted for PyTorch compatibility; the input is never
    overwritten.
    """

    _config: ClassVar[dict[str, str] | None] = {"p": "probability"}

    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: Any = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout expected a probability p in [0, 1], got {p!r}")
        self.p = p
        self.inplace = inplace
        self.generator = generator

    @property
    def generator(self) -> np.random.Generator:
        return self._generator

    @generator.setter
    def generator(self, value: Any) -> None:
        self._generator = _rng(value)

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, generator=self._generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
