"""chainrule: feedforward networks trained by backpropagation on NumPy, showing their work.

``import chainrule as cr`` needs NumPy only; ``chainrule.nn`` holds layers and the
functional API, and optional extras are imported lazily where they are used.
"""

from ._version import __version__
from .autodiff import *  # noqa: F403
from .autodiff import __all__ as _autodiff_names

__all__ = ["__version__", *_autodiff_names]
