"""The default random generator, PyTorch's ``manual_seed``.

Every function that draws random numbers takes ``generator=`` (a NumPy Generator or
an int seed), and an explicit generator always wins. Without one it draws from the one
default Generator here, which starts from fresh OS entropy; ``manual_seed(s)`` resets
that Generator's state in place, so everything already holding it (a Dropout layer, a
DataLoader) follows the new seed, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_DEFAULT = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the default generator (``torch.manual_seed``); returns it."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
    # torch accepts negative seeds (it wraps them to 64 bits); so do we.
    _DEFAULT.bit_generator.state = np.random.PCG64(int(seed) % 2**64).state
    return _DEFAULT


def seed() -> int:
    """Seed the default generator from fresh entropy (``torch.seed``); returns the seed."""
    value = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    manual_seed(value)
    return value


def initial_seed() -> None:
    """Not tracked: NumPy's generator does not keep the seed it was given."""
    raise NotImplementedError("initial_seed is not tracked; keep the seed you pass manual_seed")


class Generator(np.random.Generator):
    """``torch.Generator``: a NumPy Generator that can be reseeded in place,
    ``chainrule.Generator().manual_seed(0)``; accepted wherever ``generator=`` is."""

    def __init__(self, device: Any = "cpu") -> None:
        super().__init__(np.random.PCG64())

    def manual_seed(self, seed: int) -> Generator:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
        self.bit_generator.state = np.random.PCG64(int(seed) % 2**64).state
        return self


def default_generator() -> np.random.Generator:
    """The Generator used wherever no ``generator=`` is passed."""
    return _DEFAULT


def resolve_generator(generator: Any = None) -> np.random.Generator:
    """``generator`` itself if it is a Generator, a new one from an int seed, else the default."""
    if generator is None:
        return _DEFAULT
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (bool, np.bool_)):
        raise TypeError("generator expected a numpy.random.Generator, an int seed or None")
    try:
        return np.random.default_rng(generator)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"generator expected a numpy.random.Generator, an int seed or None, "
            f"got {generator!r} ({error})"
        ) from None
