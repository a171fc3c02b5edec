"""PyTorch's ``torch.utils`` names: ``chainrule.utils.data``."""

from . import data

__all__ = ["data"]
