"""State files: named NumPy arrays plus a JSON document, in the safetensors format.

The ``safetensors`` package (the ``chainrule[io]`` extra) does the encoding; it
never unpickles anything. Writes go through ``atomic_write``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .atomic import atomic_write

METADATA_KEY = "chainrule"


def _safetensors_numpy():
    try:
        import safetensors.numpy as st
    except ImportError as error:
        raise ImportError(
            "saving and loading model files needs the safetensors package: "
            "pip install 'chainrule[io]'"
        ) from error
    return st


def save_state(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Any = None
) -> None:
    """Write ``tensors`` (name -> array) and JSON-able ``metadata`` to ``path`` atomically."""
    st = _safetensors_numpy()
    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    header = {METADATA_KEY: json.dumps(metadata if metadata is not None else {})}
    payload = st.save(arrays, metadata=header)
    with atomic_write(path) as handle:
        handle.write(payload)


def load_state(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], Any]:
    """Read a file written by ``save_state``: (name -> array, metadata)."""
    st = _safetensors_numpy()
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="numpy") as handle:
        header = handle.metadata() or {}
    tensors = st.load_file(os.fspath(path))
    return tensors, json.loads(header.get(METADATA_KEY, "{}"))
