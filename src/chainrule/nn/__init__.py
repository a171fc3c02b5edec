"""Neural-network building blocks. ``chainrule.nn.functional`` holds the stateless ops."""

from . import functional

__all__ = ["functional"]
