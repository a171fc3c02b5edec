"""A network's architecture as JSON, and back: what lets ``load`` rebuild a model.

Supported: ``Sequential`` (nested too) of ``Linear``, ``BatchNorm1d``, ``Dropout``,
``Flatten``, ``Identity``, the activations, and the conv-net layers (``Conv1d/2d``,
the pools, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``, ``Embedding``,
``Unflatten``). A spec is checked, and the tensor shapes it implies are computed,
before any layer is built — so a file that claims a
huge layer is refused before anything of that size is allocated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .errors import ModelFormatError

_PLAIN_ACTIVATIONS = (
    "SiLU",
    "Mish",
    "SELU",
    "ReLU6",
    "Hardsigmoid",
    "Hardswish",
    "LogSigmoid",
)
_CONV = {
    "in_channels": ("size", None),
    "out_channels": ("size", None),
    "kernel_size": ("ints", None),
    "stride": ("ints", 1),
    "padding": ("padding", 0),
    "dilation": ("ints", 1),
    "groups": ("size", 1),
}
_MAX_POOL = {
    "kernel_size": ("ints", None),
    "stride": ("ints", None),
    "padding": ("ints0", 0),
    "dilation": ("ints", 1),
}
_AVG_POOL = {
    "kernel_size": ("ints", None),
    "stride": ("ints", None),
    "padding": ("ints0", 0),
    "count_include_pad": ("bool", True),
}
_BATCH_NORM = {
    "num_features": ("size", None),
    "eps": ("float", 1e-5),
    "momentum": ("float_or_none", 0.1),
    "affine": ("bool", True),
    "track_running_stats": ("bool", True),
}
# type name -> (class, {option: (kind, default)}); kinds are checked on load.
_OPTIONS: dict[str, tuple[type, dict[str, tuple[str, Any]]]] = {
    "Linear": (nn.Linear, {"in_features": ("size", None), "out_features": ("size", None)}),
    "BatchNorm1d": (nn.BatchNorm1d, dict(_BATCH_NORM)),
    "Dropout": (nn.Dropout, {"p": ("probability", 0.5)}),
    "ReLU": (nn.ReLU, {}),
    "Tanh": (nn.Tanh, {}),
    "Sigmoid": (nn.Sigmoid, {}),
    "LeakyReLU": (nn.LeakyReLU, {"negative_slope": ("float", 0.01)}),
    "ELU": (nn.ELU, {"alpha": ("float", 1.0)}),
    "GELU": (nn.GELU, {"approximate": ("approximate", "none")}),
    "Softplus": (nn.Softplus, {"beta": ("float", 1.0), "threshold": ("float", 20.0)}),
    "Softmax": (nn.Softmax, {"dim": ("int_or_none", None)}),
    "LogSoftmax": (nn.LogSoftmax, {"dim": ("int_or_none", None)}),
    "Identity": (nn.Identity, {}),
    "Flatten": (nn.Flatten, {"start_dim": ("int", 1), "end_dim": ("int", -1)}),
    **{name: (getattr(nn, name), {}) for name in _PLAIN_ACTIVATIONS},
    "CELU": (nn.CELU, {"alpha": ("float", 1.0)}),
    "Hardtanh": (nn.Hardtanh, {"min_val": ("float", -1.0), "max_val": ("float", 1.0)}),
    "Softmin": (nn.Softmin, {"dim": ("int_or_none", None)}),
    "PReLU": (nn.PReLU, {"num_parameters": ("size", 1)}),
    **{name: (getattr(nn, name), dict(_CONV)) for name in ("Conv1d", "Conv2d")},
    **{name: (getattr(nn, name), dict(_MAX_POOL)) for name in ("MaxPool1d", "MaxPool2d")},
    **{name: (getattr(nn, name), dict(_AVG_POOL)) for name in ("AvgPool1d", "AvgPool2d")},
    "AdaptiveAvgPool2d": (nn.AdaptiveAvgPool2d, {"output_size": ("ints", None)}),
    "BatchNorm2d": (nn.BatchNorm2d, dict(_BATCH_NORM)),
    "LayerNorm": (
        nn.LayerNorm,
        {
            "normalized_shape": ("ints", None),
            "eps": ("float", 1e-5),
            "elementwise_affine": ("bool", True),
        },
    ),
    "GroupNorm": (
        nn.GroupNorm,
        {
            "num_groups": ("size", None),
            "num_channels": ("size", None),
            "eps": ("float", 1e-5),
            "affine": ("bool", True),
        },
    ),
    "Embedding": (
        nn.Embedding,
        {
            "num_embeddings": ("size", None),
            "embedding_dim": ("size", None),
            "padding_idx": ("int_or_none", None),
        },
    ),
    "Unflatten": (nn.Unflatten, {"dim": ("int", None), "unflattened_size": ("ints", None)}),
}
# Layers with a ``bias=`` switch that the spec records.
_WITH_BIAS = ("Linear", "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "LayerNorm")
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
    if kind not in _OPTIONS or type(module) is not _OPTIONS[kind][0]:
        raise TypeError(
            f"chainrule.save can rebuild Sequential networks of Linear, Conv1d/2d, pooling, "
            f"normalization, Embedding, Dropout, Flatten, Unflatten, Identity and activation "
            f"layers, not {type(module).__qualname__}; save "
            "its weights with chainrule.io.save_state(path, model.state_dict()) instead"
        )
    spec: dict[str, Any] = {"type": kind}
    for option in _OPTIONS[kind][1]:
        value = getattr(module, option)
        spec[option] = list(value) if isinstance(value, tuple) else value  # JSON has lists
    if kind in _WITH_BIAS:
        spec["bias"] = module.bias is not None
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
    if kind not in _OPTIONS:
        raise ModelFormatError(
            f"architecture {where or 'root'}: unknown layer type {kind!r} "
            f"(known: Sequential, {', '.join(_OPTIONS)})"
        )
    allowed = set(_OPTIONS[kind][1]) | {"type"} | ({"bias"} if kind in _WITH_BIAS else set())
    unexpected = set(spec) - allowed
    if unexpected:
        raise ModelFormatError(
            f"architecture {where or 'root'} ({kind}): unexpected options {sorted(unexpected)}"
        )
    checked: dict[str, Any] = {"type": kind}
    for name, (option_kind, default) in _OPTIONS[kind][1].items():
        if name not in spec and default is None and option_kind in ("size", "ints"):
            raise ModelFormatError(f"architecture {where or 'root'} ({kind}): missing {name}")
        checked[name] = _option(option_kind, name, spec.get(name, default), f"{where} ({kind})")
    if "bias" in allowed:
        checked["bias"] = _option("bool", "bias", spec.get("bias", True), f"{where} ({kind})")
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
        elif kind == "Linear":
            if width is not None and layer["in_features"] != width:
                raise ModelFormatError(
                    f"architecture {name}: expects {layer['in_features']} inputs but the "
                    f"layer before it gives {width}"
                )
            rank, width = rank or 2, layer["out_features"]
        elif kind == "BatchNorm1d":
            if width is not None and layer["num_features"] != width:
                raise ModelFormatError(
                    f"architecture {name}: has num_features {layer['num_features']} but "
                    f"the layer before it gives {width} features"
                )
            rank, width = rank or 2, layer["num_features"]
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
    cls, options = _OPTIONS[kind]
    # JSON lists back to the tuples the constructors store (kernel sizes, shapes).
    kwargs = {
        name: tuple(spec[name]) if isinstance(spec[name], list) else spec[name] for name in options
    }
    if kind in ("Linear", "Conv1d", "Conv2d"):
        return cls(**kwargs, bias=spec["bias"], dtype=np.dtype(dtype), generator=0)
    if kind in ("Embedding",):
        return cls(**kwargs, dtype=np.dtype(dtype), generator=0)
    if kind in ("BatchNorm1d", "BatchNorm2d", "LayerNorm"):
        return cls(**kwargs, dtype=np.dtype(dtype), bias=spec["bias"])
    if kind in ("GroupNorm", "PReLU"):
        return cls(**kwargs, dtype=np.dtype(dtype))
    return cls(**kwargs)
