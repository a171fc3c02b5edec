"""State files: named NumPy arrays plus a JSON document, in the safetensors format.

The ``safetensors`` package (the ``chainrule[io]`` extra) does the encoding; it
never unpickles anything. Writes go through ``atomic_write``; reads are validated
like model files (``ModelFormatError`` for any defect).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .safetensors_file import METADATA_KEY, read_validated, write_file

__all__ = ["METADATA_KEY", "load_state", "save_state"]


def save_state(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Any = None
) -> None:
    """Write ``tensors`` (name -> array) and JSON-able ``metadata`` to ``path`` atomically."""
    write_file(path, tensors, metadata if metadata is not None else {})


def load_state(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], Any]:
    """Read a file written by ``save_state``: (name -> array, metadata)."""
    return read_validated(path)
