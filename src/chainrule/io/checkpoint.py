"""Checkpoints: everything a run needs to continue bit for bit, in one safetensors file.

Tensors: ``model.<state_dict key>``, ``optimizer.<param index>.<state name>`` and
``extra.<name>`` (say, early stopping's best weights). The JSON state holds the
architecture, the optimizer's param groups and scalar state, the scheduler, and a
free ``state`` object (epoch, generator states, history, fingerprint…). Values that
JSON lacks (tuples, inf, NaN) are tagged so they come back exactly.

Checkpoints are taken at epoch boundaries; ``chainrule train --checkpoint`` writes
one after every epoch, atomically, and ``--resume`` continues from it.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import architecture
from .atomic import sweep_stale_temporaries
from .errors import ModelFormatError
from .model_header import build_model, check_model_header, model_header


def to_json(value: Any) -> Any:
    """A JSON-safe copy that ``from_json`` turns back into the same value exactly."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return to_json(value.item())
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v) for v in value]}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"__intkeys__": [[int(k), to_json(v)] for k, v in value.items()]}
        return {k: to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def from_json(value: Any) -> Any:
    """The inverse of ``to_json``."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__float__"}:
            if value["__float__"] not in ("inf", "-inf", "nan"):
                raise ValueError(f"bad tagged float {value['__float__']!r}")
            return float(value["__float__"])
        if set(value) == {"__tuple__"}:
            return tuple(from_json(v) for v in value["__tuple__"])
        if set(value) == {"__intkeys__"}:
            return {int(k): from_json(v) for k, v in value["__intkeys__"]}
        return {k: from_json(v) for k, v in value.items()}
    return value


class Checkpoint:
    """Model, optimizer and scheduler state, extra arrays and a JSON ``state`` object."""

    def __init__(
        self,
        model: Any,
        optimizer_state: dict[str, Any],
        scheduler_state: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        tensors: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.model, self.optimizer_state, self.scheduler_state = (
            model,
            optimizer_state,
            scheduler_state,
        )
        self.state = dict(state or {})
        self.tensors = dict(tensors or {})

    @classmethod
    def capture(
        cls,
        model: Any,
        optimizer: Any,
        scheduler: Any = None,
        state: dict[str, Any] | None = None,
        tensors: dict[str, np.ndarray] | None = None,
    ) -> Checkpoint:
        """Snapshot a running training (copies: later steps do not change it)."""
        return cls(
            model,
            optimizer.state_dict(),
            scheduler.state_dict() if scheduler is not None else None,
            state,
            {k: np.array(v, copy=True) for k, v in (tensors or {}).items()},
        )

    # ----------------------------------------------------------- persistence
    def _chainrule_save_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        scalars: dict[str, dict[str, Any]] = {}
        for index, entries in self.optimizer_state["state"].items():
            for name, value in entries.items():
                if isinstance(value, np.ndarray):
                    tensors[f"optimizer.{index}.{name}"] = value
                else:
                    scalars.setdefault(str(index), {})[name] = to_json(value)
        for name, value in self.tensors.items():
            tensors[f"extra.{name}"] = value
        metadata = {
            **model_header(self.model),
            "optimizer": {
                "param_groups": to_json(self.optimizer_state["param_groups"]),
                "scalars": scalars,
            },
            "scheduler": to_json(self.scheduler_state),
            "state": to_json(self.state),
        }
        return tensors, metadata

    @classmethod
    def _chainrule_check_header(cls, infos: dict[str, Any], metadata: dict[str, Any]) -> None:
        spec, dtype = check_model_header(metadata)
        model_infos = {k[6:]: v for k, v in infos.items() if k.startswith("model.")}
        architecture.check_tensors(spec, dtype, model_infos)
        # Optimizer buffers have their parameter's shape (or are scalars).
        shapes = [
            shape
            for name, (shape, _) in architecture.expected_tensors(spec, dtype).items()
            if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))
        ]
        for key, info in infos.items():
            if key.startswith(("model.", "extra.")):
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[0] != "optimizer" or not parts[1].isdigit():
                raise ModelFormatError(f"unexpected tensor {key!r} in a checkpoint")
            index = int(parts[1])
            if index >= len(shapes) or info.shape not in (tuple(shapes[index]), ()):
                raise ModelFormatError(
                    f"optimizer tensor {key!r} with shape {info.shape} matches no parameter"
                )

    @classmethod
    def _chainrule_from_state(
        cls, tensors: dict[str, np.ndarray], metadata: dict[str, Any]
    ) -> Checkpoint:
        model = build_model(metadata)
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        optimizer = metadata.get("optimizer")
        if not isinstance(optimizer, dict):
            raise ValueError("checkpoint has no optimizer state")
        state: dict[int, dict[str, Any]] = {}
        for index, entries in optimizer.get("scalars", {}).items():
            state.setdefault(int(index), {}).update(from_json(entries))
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".")
                state.setdefault(int(index), {})[name] = value
        groups = from_json(optimizer.get("param_groups"))
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ValueError("checkpoint optimizer param_groups must be a list of objects")
        extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
        run_state = from_json(metadata.get("state", {}))
        if not isinstance(run_state, dict):
            raise ValueError("checkpoint state must be an object")
        return cls(
            model,
            {"state": dict(sorted(state.items())), "param_groups": groups},
            from_json(metadata.get("scheduler")),
            run_state,
            extra,
        )


def sweep_temporary_files(path: str | os.PathLike) -> list[str]:
    """Remove temporary files that interrupted writes of ``path`` left behind, only those
    of processes that are gone (a live run's are kept); returns what was removed.

    See ``chainrule.io.atomic`` for the names (``.<basename>.<pid>.<random>.tmp``).
    """
    return sweep_stale_temporaries(path)
