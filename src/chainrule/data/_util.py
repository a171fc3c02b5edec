"""Small helpers shared by the data modules: arrays out of Tensors, generators out of seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import Tensor, as_tensor
from ..autodiff.random import Generator, default_generator


def as_array(value: Any) -> np.ndarray:
    """A Tensor's data, an ndarray itself, or a nested list as an array (floats in the
    default dtype, as ``chainrule.tensor`` would make them)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        return value.data
    return as_tensor(value).data


def as_generator(generator: Any, name: str) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a Generator, an int seed, a SeedSequence or None.

    None is chainrule's default generator (fresh entropy until ``manual_seed``), never
    NumPy's global state.
    """
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.SeedSequence):
        return np.random.default_rng(generator)
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"{name} expected a non-negative int seed, got {generator}")
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"{name} expected a numpy.random.Generator, an int seed or None, "
        f"got {type(generator).__name__}"
    )


def child_generator(rng: np.random.Generator) -> np.random.Generator:
    """An independent stream derived from ``rng`` without advancing ``rng`` itself.

    ``Generator.spawn`` only counts children on the SeedSequence, so the parent's own
    draws (e.g. a loader's permutations) stay what they would have been without a child.
    """
    if rng is default_generator() or isinstance(rng, Generator):
        # Reseeded in place: its SeedSequence is not manual_seed's, so draw a seed instead.
        return np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
    try:
        return rng.spawn(1)[0]
    except (TypeError, ValueError, AttributeError):
        # A bit generator built without a SeedSequence cannot spawn; draw a seed instead.
        return np.random.default_rng(int(rng.integers(0, 2**63 - 1)))
