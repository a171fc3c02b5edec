"""The derivation as a list of blocks that every renderer understands.

Formulas are written once, in Unicode (∂E/∂w5, σ, η, ⊙); the text, Markdown and
HTML renderers print them as they are and the LaTeX renderer translates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """Prose (may hold inline formulas)."""

    text: str


@dataclass
class Eq:
    """One equation chain ``parts[0] = parts[1] = ...``; ``status`` True ✓, False ✗."""

    parts: list[str]
    status: bool | None = None
    comment: str = ""


@dataclass
class Matrix:
    """A labelled block of aligned matrix rows (``fmt.matrix`` output)."""

    label: str
    rows: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Note:
    """A remark set apart: where tutorials go wrong, which mask or statistics were used."""

    text: str


Block = Heading | Para | Eq | Matrix | Table | Note


@dataclass
class Check:
    """A gradient element compared with its central finite difference."""

    param: str
    index: tuple
    label: str
    grad: float
    numeric: float
    rel_error: float
    ok: bool  # False only for a real disagreement (a kink that backprop handles is ok)
    kink: str = ""  # at a kink: why the central difference differs, which side backprop took
    left: float | None = None  # one-sided differences, computed at a suspected kink
    right: float | None = None
    # rel_error below fmt.ERROR_FLOOR even with the difference's rounding noise added:
    # the same on every machine (see derive.FD_NOISE)
    below_floor: bool = False


@dataclass
class GraphNode:
    """A node of the computation graph for ``to_dot``: an op, a parameter or an input."""

    key: str
    label: str
    kind: str  # "op", "param", "input"
    value: str = ""
    grad: str = ""
    parents: list[str] = field(default_factory=list)
