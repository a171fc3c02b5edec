"""Reading and writing files safely: atomic writes, model files, checkpoints, validation.

``chainrule.save`` / ``chainrule.load`` live here (``files``); safetensors is imported
only when a file is read or written.
"""

from .atomic import atomic_write
from .checkpoint import Checkpoint, sweep_temporary_files
from .errors import ModelFormatError
from .files import load, save
from .state import load_state, save_state

__all__ = [
    "Checkpoint",
    "ModelFormatError",
    "atomic_write",
    "load",
    "load_state",
    "save",
    "save_state",
    "sweep_temporary_files",
]
