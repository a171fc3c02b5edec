"""Every built-in differentiable op, registered on import (forward and VJP side by side)."""

from . import arithmetic, elementwise, reductions, shaping, torch_arrays, torch_math  # noqa: F401  (registration)  # noqa: F401  (registration)
