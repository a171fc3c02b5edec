"""Reading and writing files safely: atomic writes and safetensors state files."""

from .atomic import atomic_write
from .state import load_state, save_state

__all__ = ["atomic_write", "load_state", "save_state"]
