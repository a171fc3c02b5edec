"""``chainrule.save`` / ``chainrule.load``: models, pipelines and checkpoints as safetensors.

A file holds the tensors under PyTorch's ``state_dict`` names (``0.weight``, ``0.bias``,
…) and one JSON document in the header's ``__metadata__["chainrule"]``::

    {"format": "chainrule", "format_version": 1, "kind": "module",
     "library_version": "0.1.0", "architecture": {...}, "dtype": "float32"}

``kind`` is ``"module"`` for a network, or ``"package.module:Class"`` for any chainrule
class that implements the save protocol (``Pipeline``, ``Checkpoint``, the
scikit-learn estimators)::

    def _chainrule_save_state(self) -> tuple[dict[str, np.ndarray], dict]: ...
    @classmethod
    def _chainrule_from_state(cls, tensors, metadata): ...
    @classmethod                                   # optional: shapes before data
    def _chainrule_check_header(cls, infos, metadata): ...

``load`` only imports classes from ``chainrule.*`` modules that define
``_chainrule_from_state``: a file can choose among our classes, never run other code.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._version import __version__
from .errors import ModelFormatError
from .safetensors_file import infos_of, read_validated, write_file

FORMAT = "chainrule"
FORMAT_VERSION = 1
STATE_DICT = "state_dict"


def _state_dict_entries(state: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A state dict's arrays by name, and what ``load`` needs to give back what it got:
    the names in order, and which values were ndarrays rather than Tensors."""
    from ..autodiff import Tensor

    tensors: dict[str, Any] = {}
    arrays = []
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"chainrule.save: state dict keys must be str, got {key!r}")
        if isinstance(value, Tensor):
            tensors[key] = value.data
        elif isinstance(value, np.ndarray):
            tensors[key] = value
            arrays.append(key)
        else:
            raise TypeError(
                f"chainrule.save: state dict entry {key!r} must be a Tensor or an ndarray, "
                f"got {type(value).__name__}"
            )
    return tensors, {"order": list(tensors), "arrays": arrays}


def _check_state_dict(infos: dict[str, Any], state: Any) -> None:
    if not isinstance(state, dict):
        raise ModelFormatError("kind 'state_dict' has no 'state' object")
    order, arrays = _names_list(state, "order"), _names_list(state, "arrays")
    if sorted(order) != sorted(infos) or not set(arrays) <= set(order):
        raise ModelFormatError("state dict names in the metadata do not match the tensors")


def _names_list(state: dict[str, Any], key: str) -> list[str]:
    value = state.get(key)
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise ModelFormatError(f"state dict {key!r} is not a list of names")
    return value


def _rebuild_state_dict(tensors: dict[str, np.ndarray], state: dict[str, Any]) -> Any:
    from ..autodiff import Tensor

    arrays = set(state["arrays"])
    return OrderedDict(
        (k, tensors[k] if k in arrays else Tensor(tensors[k])) for k in state["order"]
    )


def _kind_of(obj: Any) -> str:
    cls = type(obj)
    if not callable(getattr(cls, "_chainrule_from_state", None)):
        raise TypeError(
            f"{cls.__qualname__} has _chainrule_save_state but no _chainrule_from_state"
        )
    if not (cls.__module__ == "chainrule" or cls.__module__.startswith("chainrule.")):
        raise TypeError(
            f"chainrule.save writes chainrule's own classes only; load would refuse "
            f"{cls.__module__}.{cls.__qualname__}"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write a network (``nn.Sequential`` of the library's layers), a ``Pipeline``, a
    ``Checkpoint`` or an estimator to ``path`` atomically (never pickle).

    Raises TypeError for an object this format cannot rebuild.
    """
    from ..nn import Module
    from .model_header import model_header

    document: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
    }
    if isinstance(obj, Module):
        document.update(kind="module", **model_header(obj))
        tensors = dict(obj.state_dict())
    elif isinstance(obj, Mapping):
        document["kind"] = STATE_DICT
        tensors, document["state"] = _state_dict_entries(obj)
    elif callable(getattr(obj, "_chainrule_save_state", None)):
        document["kind"] = _kind_of(obj)
        tensors, metadata = obj._chainrule_save_state()
        document["state"] = metadata
    else:
        raise TypeError(
            f"chainrule.save expected an nn.Module, a state dict (names -> tensors), a "
            f"Pipeline, a Checkpoint or an estimator, "
            f"got {type(obj).__name__}"
        )
    # The checks load makes, on what load would read back (JSON turns tuples into lists).
    try:
        validate_header(infos_of(tensors), json.loads(json.dumps(document)))
    except ModelFormatError as error:
        raise ModelFormatError(f"{os.fspath(path)}: refusing to save: {error}") from None
    write_file(path, tensors, document)


def _resolve(kind: Any) -> Any:
    """The class a file's ``kind`` names, if it is one of ours that can load itself."""
    if not isinstance(kind, str) or kind.count(":") != 1:
        raise ModelFormatError(f"unknown kind {kind!r}")
    module_name, qualname = kind.split(":")
    parts = module_name.split(".")
    # chainrule.* only, and no private or dunder modules (chainrule.__main__ runs the CLI).
    if parts[0] != "chainrule" or not all(
        p.isidentifier() and not p.startswith("_") for p in parts
    ):
        raise ModelFormatError(f"kind {kind!r} is not a chainrule class; refusing to import it")
    names = qualname.split(".")
    if not all(n.isidentifier() and not n.startswith("_") for n in names):
        raise ModelFormatError(f"kind {kind!r} does not name a class")
    try:
        found = importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ModelFormatError(f"kind {kind!r}: no module {module_name} in this chainrule")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:  # e.g. an optional dependency such as scikit-learn
        raise ModelFormatError(f"kind {kind!r} needs {error.name or error}: {error}") from None
    for name in names:
        target = getattr(target, name, None)
    if not isinstance(target, type) or not callable(getattr(target, "_chainrule_from_state", None)):
        raise ModelFormatError(f"kind {kind!r} is not a class that chainrule can load")
    return target


def _check_document(document: Any) -> tuple[str, Any]:
    if not isinstance(document, dict):
        raise ModelFormatError("the metadata document is not a JSON object")
    if document.get("format") != FORMAT:
        raise ModelFormatError(f"format is {document.get('format')!r}, expected {FORMAT!r}")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFormatError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"format_version {version} was written by a newer chainrule; this one "
            f"({__version__}) reads version {FORMAT_VERSION}"
        )
    kind = document.get("kind")
    if not isinstance(kind, str):
        raise ModelFormatError(f"unknown kind {kind!r}")
    if kind in ("module", STATE_DICT):
        return kind, None
    return kind, _resolve(kind)


def _check_header(infos: dict[str, Any], document: Any) -> dict[str, Any]:
    from . import architecture
    from .model_header import check_model_header

    kind, cls = _check_document(document)
    resolved: dict[str, Any] = {"kind": kind, "cls": cls}
    if kind == "module":
        spec, dtype = check_model_header(document)
        resolved["spec"], resolved["dtype"] = spec, dtype
        architecture.check_tensors(spec, dtype, infos)
        return resolved
    state = document.get("state")
    if kind == STATE_DICT:
        _check_state_dict(infos, state)
        return resolved
    if not isinstance(state, dict):
        raise ModelFormatError(f"kind {kind!r} has no 'state' object")
    checker = getattr(cls, "_chainrule_check_header", None)
    if checker is not None:
        checker(infos, state)
    return resolved


def validate_header(infos: dict[str, Any], document: Any) -> dict[str, Any]:
    """The one check of a file's header entries and JSON document, shared by ``save``
    (on what it is about to write) and ``load`` (before reading any data).

    Returns what ``load`` needs to rebuild the object (kind, class, spec, dtype);
    raises ModelFormatError naming the defect.
    """
    try:
        return _check_header(infos, document)
    except ModelFormatError:
        raise
    except Exception as error:  # e.g. a class's own header check tripping on bad JSON
        raise ModelFormatError(f"invalid header ({type(error).__name__}: {error})") from None


def load(path: str | os.PathLike, map_location: Any = None, *, weights_only: Any = None) -> Any:
    """Read a file written by ``save``: an ``nn.Module`` (in eval mode), a state dict
    (names -> Tensors, as saved), a ``Pipeline``, a ``Checkpoint`` or an estimator.

    ``map_location`` (the CPU only) and ``weights_only`` are accepted for PyTorch
    scripts; nothing is ever unpickled, so loading is always weights-only.

    Everything is validated before data is read — header length against the file
    size, JSON, dtypes, offsets contiguous and covering the data, shapes against the
    architecture — and then the values must be finite. Any defect, a missing file or
    a directory raises ``ModelFormatError`` naming it; nothing is ever unpickled.
    """
    from . import architecture

    if map_location is not None and str(map_location).partition(":")[0] != "cpu":
        raise RuntimeError(f"chainrule.load: map_location must be the CPU, got {map_location!r}")
    resolved: dict[str, Any] = {}

    def check(infos: dict[str, Any], document: Any) -> None:
        resolved.update(validate_header(infos, document))

    name = os.fspath(path)
    tensors, document = read_validated(name, check)
    try:
        if resolved["kind"] == "module":
            model = architecture.build(resolved["spec"], resolved["dtype"])
            model.load_state_dict(tensors)
            model.eval()
            return model
        if resolved["kind"] == STATE_DICT:
            return _rebuild_state_dict(tensors, document["state"])
        return resolved["cls"]._chainrule_from_state(tensors, document["state"])
    except ModelFormatError as error:
        raise ModelFormatError(f"{name}: {error}") from None
    except Exception as error:  # whatever a bad state makes a constructor raise
        raise ModelFormatError(
            f"{name}: invalid {resolved['kind']} state ({type(error).__name__}: {error})"
        ) from None
