"""The two entries of a file's metadata that rebuild a network, ``architecture`` and
``dtype``: written, checked and used in one place for model files, pipelines and
checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import architecture
from .errors import ModelFormatError


def model_header(model: Any) -> dict[str, Any]:
    """``{"architecture": ..., "dtype": ...}`` describing ``model`` (an nn.Sequential)."""
    return {"architecture": architecture.describe(model), "dtype": architecture.model_dtype(model)}


def check_model_header(metadata: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(the checked architecture spec, the dtype name) of a file's metadata; raises
    ModelFormatError for an architecture or dtype this version cannot build."""
    spec = architecture.check(metadata.get("architecture"))
    dtype = metadata.get("dtype")
    if dtype not in architecture.DTYPE_NAMES:
        raise ModelFormatError(f"unknown model dtype {dtype!r}")
    return spec, dtype


def build_model(metadata: Mapping[str, Any]) -> Any:
    """The network the header describes, with fresh weights (load its state next)."""
    spec = architecture.check(metadata.get("architecture"))
    return architecture.build(spec, metadata["dtype"])
