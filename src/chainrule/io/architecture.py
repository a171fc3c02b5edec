"""A network's architecture as JSON, and back: what lets ``load`` rebuild a model.

Supported: ``Sequential`` (nested too) of ``Linear``, ``BatchNorm1d``, ``Dropout``,
``Flatten``, ``Identity``, the activations, and the conv-net layers (``Conv1d/2d``,
the pools, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``, ``Embedding``,
``Unflatten``): the layers of ``nn.LAYERS``. Each layer's options are its
``get_config()`` (the value kinds it declares are checked on load, the defaults are
its constructor's), and loading rebuilds it by that registry. A spec is checked, and
the tensor shapes it implies are computed, before any layer is built — so a file that
claims a huge layer is refused before anything of that size is allocated.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np

from .. import nn
from .errors import ModelFormatError


@functools.cache
def _options(kind: str) -> dict[str, tuple[str, Any]]:
    """``{option: (value kind, default)}`` of layer ``kind`` (a name of ``nn.LAYERS``):
    its ``get_config`` names with their kinds, defaults from its constructor (None for
    an argument without one). The kinds are checked on load."""
    cls = nn.LAYERS[kind]
    parameters = inspect.signature(cls.__init__).parameters
    options = {}
    for name, value_kind in (cls._config or {}).items():
        default = parameters[name].default
        options[name] = (value_kind, None if default is inspect.Parameter.empty else default)
    return options


# Layers after which the (rank, width) chain check stops: they change the shape in ways
# the chain of widths does not follow (spatial sizes); it resumes at the next Linear.
SHAPE_CHANGING = (
    "Conv1d",
    "Conv2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
    "GroupNorm",
    "Embedding",
    "Unflatten",
)
# float16 too: PyTorch users save half-precision models, and every layer runs in it.
DTYPE_NAMES = ("float16", "float32", "float64")
# A layer wider than this is not something this library trains; refusing it early
# also bounds the work of checking a hostile spec.
MAX_SIZE = 1 << 26
MAX_LAYERS = 10_000
MAX_DEPTH = 32  # nested Sequentials; keeps the recursive walk far from Python's limit


def describe(module: Any) -> dict[str, Any]:
    """The JSON spec of ``module``: ``{"type": "Sequential", "layers": [...]}`` etc.

    Raises TypeError for a module this format cannot rebuild (say, a custom class):
    save its ``state_dict()`` with ``chainrule.io.save_state`` instead.
    """
    kind = type(module).__name__
    if isinstance(module, nn.Sequential):
        return {"type": "Sequential", "layers": [describe(child) for child in module]}
    if nn.LAYERS.get(kind) is not type(module):
        raise TypeError(
            f"chainrule.save can rebuild Sequential networks of Linear, Conv1d/2d, pooling, "
            f"normalization, Embedding, Dropout, Flatten, Unflatten, Identity and activation "
            f"layers, not {type(module).__qualname__}; save "
            "its weights with chainrule.io.save_state(path, model.state_dict()) instead"
        )
    spec: dict[str, Any] = {"type": kind}
    for option, value in module.get_config().items():
        spec[option] = list(value) if isinstance(value, tuple) else value  # JSON has lists
    return spec


def model_dtype(module: Any) -> str:
    """The float dtype of the module's parameters (float32 when it has none)."""
    for parameter in module.parameters():
        return str(parameter.data.dtype)
    return "float32"


def _small_ints(value: Any, low: int) -> bool:
    values = value if isinstance(value, list) else [value]
    return 1 <= len(values) <= 8 and all(
        isinstance(v, int) and not isinstance(v, bool) and low <= v <= MAX_SIZE for v in values
    )


def _option(kind: str, name: str, value: Any, where: str) -> Any:
    ok = {
        "size": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE,
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "float_or_none": lambda v: (
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        ),
        "bool": lambda v: isinstance(v, bool),
        "probability": lambda v: (
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1
        ),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -64 <= v <= 64,
        "int_or_none": lambda v: (
            v is None or (isinstance(v, int) and not isinstance(v, bool) and -64 <= v <= 64)
        ),
        "approximate": lambda v: v in ("none", "tanh"),
        # Kernel sizes, strides, shapes: an int or a short list of ints, all >= 1.
        "ints": lambda v: _small_ints(v, 1),
        "ints0": lambda v: _small_ints(v, 0),
        "padding": lambda v: v in ("same", "valid") or _small_ints(v, 0),
    }[kind]
    if not ok(value):
        raise ModelFormatError(f"architecture {where}: invalid {name} {value!r} (expected {kind})")
    return value


def _walk(spec: Any, where: str, count: list[int], depth: int = 0) -> dict[str, Any]:
    """Check one spec node; return it with defaults filled in."""
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"architecture nests Sequentials deeper than {MAX_DEPTH}")
    count[0] += 1
    if count[0] > MAX_LAYERS:
        raise ModelFormatError(f"architecture has more than {MAX_LAYERS} layers")
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFormatError(f"architecture {where}: expected an object with a 'type'")
    kind = spec["type"]
    if kind == "Sequential":
        layers = spec.get("layers")
        if not isinstance(layers, list) or set(spec) != {"type", "layers"}:
            raise ModelFormatError(f"architecture {where}: Sequential needs exactly 'layers' list")
        return {
            "type": kind,
            "layers": [
                _walk(child, f"{where}.{i}".lstrip("."), count, depth + 1)
                for i, child in enumerate(layers)
            ],
        }
    if kind not in nn.LAYERS:
        raise ModelFormatError(
            f"architecture {where or 'root'}: unknown layer type {kind!r} "
            f"(known: Sequential, {', '.join(nn.LAYERS)})"
        )
    options = _options(kind)
    allowed = set(options) | {"type"}
    unexpected = set(spec) - allowed
    if unexpected:
        raise ModelFormatError(
            f"architecture {where or 'root'} ({kind}): unexpected options {sorted(unexpected)}"
        )
    checked: dict[str, Any] = {"type": kind}
    for name, (option_kind, default) in options.items():
        if name not in spec and default is None and option_kind in ("size", "ints"):
            raise ModelFormatError(f"architecture {where or 'root'} ({kind}): missing {name}")
        checked[name] = _option(option_kind, name, spec.get(name, default), f"{where} ({kind})")
    _check_consistent(checked, f"{where or 'root'} ({kind})")
    return checked


def _check_consistent(layer: dict[str, Any], where: str) -> None:
    """Options that are each valid but do not fit together (the constructor would raise)."""
    kind = layer["type"]
    if kind in ("Conv1d", "Conv2d"):
        groups = layer["groups"]
        if layer["in_channels"] % groups or layer["out_channels"] % groups:
            raise ModelFormatError(
                f"architecture {where}: channels {layer['in_channels']}, "
                f"{layer['out_channels']} are not divisible by groups={groups}"
            )
        dims = 1 if kind == "Conv1d" else 2
        for name in ("kernel_size", "stride", "dilation"):
            value = layer[name]
            if isinstance(value, list) and len(value) != dims:
                raise ModelFormatError(f"architecture {where}: {name} needs {dims} values")
        stride = layer["stride"] if isinstance(layer["stride"], list) else [layer["stride"]]
        if layer["padding"] == "same" and any(v != 1 for v in stride):
            raise ModelFormatError(f"architecture {where}: padding 'same' needs stride 1")
    if kind == "GroupNorm" and layer["num_channels"] % layer["num_groups"]:
        raise ModelFormatError(
            f"architecture {where}: num_channels {layer['num_channels']} is not divisible "
            f"by num_groups {layer['num_groups']}"
        )
    if kind == "Embedding" and layer["padding_idx"] is not None:
        rows = layer["num_embeddings"]
        if not -rows <= layer["padding_idx"] < rows:
            raise ModelFormatError(f"architecture {where}: padding_idx outside the table")


def check(spec: Any) -> dict[str, Any]:
    """Validate a spec read from a file; raises ModelFormatError naming the bad layer.

    Beyond each layer's options, the chain must run: every layer's input width is the
    previous output width, every softmax ``dim`` exists for the rank it receives.
    """
    checked = _walk(spec, "", [0])
    _check_chain(checked)
    return checked


def _leaves(spec: dict[str, Any], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    if spec["type"] != "Sequential":
        return [(where or "root", spec)]
    found: list[tuple[str, dict[str, Any]]] = []
    for index, child in enumerate(spec["layers"]):
        found.extend(_leaves(child, f"{where}.{index}".lstrip(".")))
    return found


# Layers of (N, features) rows: (option of the width taken, of the width given, the
# message when the width taken is not what the layer before gives).
_WIDTHS = {
    "Linear": (
        "in_features",
        "out_features",
        "expects {n} inputs but the layer before it gives {width}",
    ),
    "BatchNorm1d": (
        "num_features",
        "num_features",
        "has num_features {n} but the layer before it gives {width} features",
    ),
}


def _check_chain(spec: dict[str, Any]) -> None:
    """Follow (rank, width) of the activations through the layers; None where unknown.

    A network that starts with ``Linear`` or ``BatchNorm1d`` takes (N, features) rows,
    the input every chainrule model is trained on; one that starts with ``Flatten``
    takes any rank, learned from the Flatten. Past a shape-changing layer (a conv, a
    pool, ``Unflatten``, ``Embedding``, ...) rank and width are unknown — spatial sizes
    depend on the input — so the check resumes at the next ``Linear``; a wrong width
    there is still caught when the model first runs.
    """
    rank: int | None = None
    width: int | None = None
    for where, layer in _leaves(spec):
        kind = layer["type"]
        name = f"layer {where} ({kind})"
        if kind in SHAPE_CHANGING:
            rank = width = None  # not followed past here (documented above)
        elif kind in _WIDTHS:
            takes, gives, message = _WIDTHS[kind]
            if width is not None and layer[takes] != width:
                said = message.format(n=layer[takes], width=width)
                raise ModelFormatError(f"architecture {name}: {said}")
            rank, width = rank or 2, layer[gives]
        elif kind in ("Softmax", "LogSoftmax", "Softmin") and layer["dim"] is not None:
            dim, known = layer["dim"], rank or 2
            if not -known <= dim < known:
                raise ModelFormatError(
                    f"architecture {name}: dim {dim} is out of range for its {known}-d "
                    f"input (expected {-known} to {known - 1})"
                )
        elif kind == "Flatten":
            start, end = layer["start_dim"], layer["end_dim"]
            if rank is not None:
                first = start + rank if start < 0 else start
                last = end + rank if end < 0 else end
                if not 0 <= first <= last < rank:
                    raise ModelFormatError(
                        f"architecture {name}: start_dim {start} / end_dim {end} do not "
                        f"fit its {rank}-d input"
                    )
                if last == rank - 1 and first < last:
                    width = None  # the feature axis is merged with others
                rank -= last - first
            elif start >= 0 and end == -1:
                rank, width = start + 1, None


def expected_tensors(spec: dict[str, Any], dtype: str, prefix: str = "") -> dict[str, tuple]:
    """The state_dict a checked spec implies: name -> (shape, numpy dtype name)."""
    kind = spec["type"]
    if kind == "Sequential":
        found: dict[str, tuple] = {}
        for index, child in enumerate(spec["layers"]):
            found.update(expected_tensors(child, dtype, f"{prefix}{index}."))
        return found
    if kind == "Linear":
        found = {f"{prefix}weight": ((spec["out_features"], spec["in_features"]), dtype)}
        if spec["bias"]:
            found[f"{prefix}bias"] = ((spec["out_features"],), dtype)
        return found
    if kind in ("Conv1d", "Conv2d"):
        dims = 1 if kind == "Conv1d" else 2
        kernel = spec["kernel_size"]
        kernel = list(kernel) if isinstance(kernel, list) else [kernel] * dims
        out = spec["out_channels"]
        shape = (out, spec["in_channels"] // spec["groups"], *kernel)
        found = {f"{prefix}weight": (shape, dtype)}
        if spec["bias"]:
            found[f"{prefix}bias"] = ((out,), dtype)
        return found
    if kind in ("LayerNorm", "GroupNorm"):
        affine = spec["elementwise_affine" if kind == "LayerNorm" else "affine"]
        if kind == "LayerNorm":
            shape = spec["normalized_shape"]
            shape = tuple(shape) if isinstance(shape, list) else (shape,)
        else:
            shape = (spec["num_channels"],)
        found = {}
        if affine:
            found[f"{prefix}weight"] = (shape, dtype)
            if spec.get("bias", True):
                found[f"{prefix}bias"] = (shape, dtype)
        return found
    if kind == "Embedding":
        return {f"{prefix}weight": ((spec["num_embeddings"], spec["embedding_dim"]), dtype)}
    if kind == "PReLU":
        return {f"{prefix}weight": ((spec["num_parameters"],), dtype)}
    if kind in ("BatchNorm1d", "BatchNorm2d"):
        n = spec["num_features"]
        found = {}
        if spec["affine"]:
            found[f"{prefix}weight"] = ((n,), dtype)
            if spec["bias"]:
                found[f"{prefix}bias"] = ((n,), dtype)
        if spec["track_running_stats"]:
            found[f"{prefix}running_mean"] = ((n,), dtype)
            found[f"{prefix}running_var"] = ((n,), dtype)
            found[f"{prefix}num_batches_tracked"] = ((), "int64")
        return found
    return {}


def check_tensors(
    spec: dict[str, Any], dtype: str, infos: dict[str, Any], prefix: str = ""
) -> None:
    """Compare header entries (``TensorInfo``) under ``prefix`` with what ``spec`` implies."""
    from .safetensors_file import DTYPES

    expected = expected_tensors(spec, dtype, prefix)
    present = {k for k in infos if k.startswith(prefix)}
    missing = sorted(set(expected) - present)
    unexpected = sorted(present - set(expected))
    if missing:
        raise ModelFormatError(f"tensor {missing[0]!r} of the architecture is missing")
    if unexpected:
        raise ModelFormatError(f"tensor {unexpected[0]!r} is not part of the architecture")
    for key, (shape, dtype_name) in expected.items():
        info = infos[key]
        if info.shape != tuple(shape):
            raise ModelFormatError(
                f"tensor {key!r} has shape {info.shape}, the architecture needs {tuple(shape)}"
            )
        if DTYPES[info.dtype] != np.dtype(dtype_name):
            raise ModelFormatError(
                f"tensor {key!r} has dtype {info.dtype}, the architecture needs {dtype_name}"
            )


def build(spec: dict[str, Any], dtype: str) -> Any:
    """A fresh module for a checked spec (weights to be loaded afterwards)."""
    kind = spec["type"]
    if kind == "Sequential":
        return nn.Sequential(*(build(child, dtype) for child in spec["layers"]))
    cls = nn.LAYERS[kind]
    # JSON lists back to the tuples the constructors store (kernel sizes, shapes).
    kwargs = {
        name: tuple(spec[name]) if isinstance(spec[name], list) else spec[name]
        for name in _options(kind)
    }
    parameters = inspect.signature(cls.__init__).parameters
    if "dtype" in parameters:  # a layer with weights
        kwargs["dtype"] = np.dtype(dtype)
        if "generator" in parameters:  # drawn at random: a fixed seed, the file's replace them
            kwargs["generator"] = 0
    return cls(**kwargs)
