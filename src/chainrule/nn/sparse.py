"""Embedding: a lookup table of learned rows, PyTorch's arguments and init (N(0, 1))."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..autodiff import Tensor
from . import functional as F
from . import init
from .layers import _float_dtype, _set_sizes
from .module import Module, Parameter


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) for integer input (*) -> (*, dim).

    ``padding_idx``'s row starts at zero and never receives a gradient.
    """

    _config: ClassVar[dict[str, str] | None] = {
        "num_embeddings": "size",
        "embedding_dim": "size",
        "padding_idx": "int_or_none",
    }

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
        generator: Any = None,
    ) -> None:
        super().__init__()
        _set_sizes(self, num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding expected padding_idx in [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        dtype = _float_dtype("Embedding", dtype)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Any = None) -> None:
        init.normal_(self.weight, generator=init._rng(generator))
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{extra}"
