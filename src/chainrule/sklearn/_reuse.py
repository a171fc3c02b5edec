"""What a fit leaves for the next fit of the same shape: the network, its optimizer, its
objective and the compiled step, traced already.

Tracing and compiling the training step costs about as much as 20 epochs of a small
data set (a millisecond or two per batch shape), and scikit-learn's workflows fit the
same estimator again and again (cross-validation, grid search, ``clone``). A fit whose
network, loss and optimizer settings match an earlier one takes that fit's parts,
writes its own initial weights into them, clears the optimizer's state and trains:
the arithmetic is the same NumPy calls on the same shapes, so the result is the same
bit for bit as with fresh parts. The parts are taken out while a fit runs (two fits
never share them, whatever the threads) and put back when it has succeeded.

Only small networks are kept (``MAX_PARAMETERS``, ``MAX_ENTRIES``): for a large one the
trace is a small part of a fit, and the buffers would hold memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, NamedTuple

MAX_ENTRIES = 4
MAX_PARAMETERS = 1 << 18  # elements; its flat buffers then hold a few MiB at most


class Parts(NamedTuple):
    model: Any
    optimizer: Any
    objective: Any
    step: Any


_kept: OrderedDict[tuple, Parts] = OrderedDict()
_lock = threading.Lock()


def take(key: tuple) -> Parts | None:
    """The parts kept under ``key``, removed from the store; None if there are none."""
    with _lock:
        return _kept.pop(key, None)


def keep(key: tuple, parts: Parts) -> None:
    """Keep ``parts`` under ``key`` for a later fit (the oldest go beyond MAX_ENTRIES)."""
    size = sum(p.data.size for p in parts.model.parameters())
    if parts.step is None or size > MAX_PARAMETERS:
        return
    with _lock:
        _kept[key] = parts
        _kept.move_to_end(key)
        while len(_kept) > MAX_ENTRIES:
            _kept.popitem(last=False)


def clear() -> None:
    """Forget every kept part (tests; or to free their memory)."""
    with _lock:
        _kept.clear()
