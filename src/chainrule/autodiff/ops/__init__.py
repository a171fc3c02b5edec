"""Every built-in differentiable op, registered on import (forward and VJP side by side)."""

from . import arithmetic, elementwise, reductions, shaping  # noqa: F401  (registration)
