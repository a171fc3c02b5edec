"""Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autodiff import Tensor
from ...autodiff.random import resolve_generator
from ...autodiff.registry import defop


@defop("dropout", formula="da = g * mask / (1 − p)")
def _dropout(a, scaled_mask):
    return a * scaled_mask


@_dropout.defvjp
def _dropout_vjp(g, out, a, scaled_mask):
    return g * scaled_mask, None


@defop("dropout_mask", formula="(random, no gradient)")
def _dropout_mask(a, *, p, generator):
    """The scaled keep-mask ``keep / (1 − p)`` for an array shaped like ``a``.

    An op of its own so that ``cr.compile`` replays the draw: each replay takes
    fresh values from the same generator, as each eager call does.
    """
    if p == 1.0:
        return np.zeros(a.shape, dtype=a.dtype)
    keep = resolve_generator(generator).random(a.shape) >= p
    return keep.astype(a.dtype) / a.dtype.type(1.0 - p)


@_dropout_mask.defvjp
def _dropout_mask_vjp(g, out, a, *, p, generator):
    return (None,)


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    *,
    generator: Any = None,
) -> Tensor:
    """Zero elements with probability ``p`` while training; identity otherwise.

    ``generator`` is a ``numpy.random.Generator`` or an int seed; pass one for
    reproducible masks (without one, the default generator that ``manual_seed`` seeds).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout expected a probability p in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    data = input.data if isinstance(input, Tensor) else np.asarray(input)
    # The array, not the tensor: the mask carries no gradient and records no node.
    mask = _dropout_mask(data, p=float(p), generator=generator).data
    return _dropout(input, mask)
