"""Network specs for ``chainrule explain SPEC``: a small TOML or JSON file, by hand.

See docs/explain-spec.md for the format. ``load_spec(path)`` returns the keyword
arguments of ``explain`` (model, loss_fn, x, y, lr, ...); every mistake raises
``SpecError`` naming the field.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import numpy as np

from .. import nn
from .._regular_file import read_regular_file
from ..autodiff import Tensor
from .api import MAX_PARAMETERS


class SpecError(ValueError):
    """A malformed spec; the message names the field."""


# Activation and loss names are chainrule.nn's registries; the softmaxes of a spec
# normalize along the last dimension, said explicitly.
ACTIVATIONS = nn.activation_names()
_ACTIVATION_OPTIONS = {"softmax": {"dim": -1}, "log_softmax": {"dim": -1}, "softmin": {"dim": -1}}
LOSSES = nn.LOSSES
CLASS_LOSSES = nn.CLASS_LOSSES
MAX_STEPS = 10_000  # explain follows steps one by one: more is a typo, not a lesson
KNOWN = {
    "title",
    "inputs",
    "targets",
    "loss",
    "reduction",
    "loss_scale",
    "lr",
    "optimizer",
    "steps",
    "precision",
    "form",
    "params",
    "notes",
    "freeze",
    "seed",
    "sizes",
    "layers",
}
LAYER_KEYS = {"weight", "bias", "activation", "names", "size"}
MAX_SPEC_BYTES = 16 << 20


def read(path: str | pathlib.Path) -> dict[str, Any]:
    """Parse a .toml or .json spec file into a dict."""
    path = pathlib.Path(path)
    # A spec is a few kilobytes of text; refuse FIFOs, devices and huge files up front.
    raw = read_regular_file(path, what="an explain spec", error=SpecError, max_bytes=MAX_SPEC_BYTES)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as error:  # bad UTF-8, bad JSON, an integer of > 4300 digits
            raise SpecError(f"{path}: not valid JSON: {error}") from None
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise SpecError(
                    "TOML specs need Python 3.11+ or the 'tomli' package; on Python 3.10 "
                    "write the spec as JSON (same fields) or pip install tomli"
                ) from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise SpecError(f"{path}: not valid TOML: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a table of fields at the top level")
    return data


def _matrix(value: Any, field: str, ndim: int) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer > 1e308
        raise SpecError(f"spec field '{field}': expected numbers, got {value!r}") from None
    if array.ndim != ndim:
        raise SpecError(
            f"spec field '{field}': expected a {ndim}-D array of numbers, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise SpecError(f"spec field '{field}': every number must be finite")
    return array


def _number(spec: dict, key: str, default: Any, kind: type = float) -> Any:
    value = spec.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"spec field '{key}': expected a number, got {value!r}")
    if kind is int and int(value) != value:
        raise SpecError(f"spec field '{key}': expected an integer, got {value!r}")
    try:
        return kind(value)
    except OverflowError:  # a JSON integer beyond float range
        raise SpecError(f"spec field '{key}': expected a number, got one beyond ±1.8e308") from None


def _name(value: Any, field: str, choices: Any) -> str:
    """A name from ``choices`` (a str, not a list or table, which would not hash)."""
    if not isinstance(value, str) or value not in choices:
        raise SpecError(
            f"spec field '{field}': expected one of {', '.join(choices)}, got {value!r}"
        )
    return value


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"spec field '{field}': expected a list of strings, got {value!r}")
    return value


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``explain`` described by ``spec``."""
    unknown = sorted(set(spec) - KNOWN)
    if unknown:
        raise SpecError(
            f"spec field '{unknown[0]}' is unknown; known fields: {', '.join(sorted(KNOWN))}"
        )
    for key in ("inputs", "targets", "loss", "layers"):
        if key not in spec:
            raise SpecError(f"spec field '{key}' is missing")
    x = _matrix(spec["inputs"], "inputs", 2)
    loss_name = _name(spec["loss"], "loss", LOSSES)
    if loss_name in CLASS_LOSSES:
        try:
            targets = np.array(spec["targets"])
        except (TypeError, ValueError, OverflowError):  # ragged lists
            targets = np.zeros((0, 0))
        if targets.ndim != 1 or targets.dtype.kind not in "iu":
            raise SpecError(
                "spec field 'targets': expected a list of class indices for " + loss_name
            )
    else:
        targets = _matrix(spec["targets"], "targets", 2)
    if targets.shape[0] != x.shape[0]:
        raise SpecError(
            f"spec field 'targets': expected {x.shape[0]} rows (one per input), got {targets.shape[0]}"  # noqa: E501
        )
    layers = spec["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError("spec field 'layers': expected a non-empty list of layer tables")
    seed = _number(spec, "seed", 0, int)
    if seed < 0:
        raise SpecError(f"spec field 'seed': expected an integer >= 0, got {seed}")
    modules: list[nn.Module] = []
    names: dict[str, str] = {}
    width = x.shape[1]
    count = 0  # parameters of the layers built so far
    for k, layer in enumerate(layers):
        where = f"layers[{k}]"
        if not isinstance(layer, dict):
            raise SpecError(f"spec field '{where}': expected a table")
        bad = sorted(set(layer) - LAYER_KEYS)
        if bad:
            raise SpecError(
                f"spec field '{where}.{bad[0]}' is unknown; known: {', '.join(sorted(LAYER_KEYS))}"
            )
        index = len(modules)
        if "weight" in layer:
            weight = _matrix(layer["weight"], f"{where}.weight", 2)
            if weight.shape[1] != width:
                raise SpecError(
                    f"spec field '{where}.weight': expected {width} columns (the size of the "
                    f"layer below), got shape {weight.shape}"
                )
            bias = layer.get("bias", False)
            linear = nn.Linear(width, weight.shape[0], bias=bias is not False, dtype=np.float64)
            linear.weight.data[...] = weight
            if bias is not False:
                b = _matrix(bias, f"{where}.bias", 1)
                if b.shape != (weight.shape[0],):
                    raise SpecError(
                        f"spec field '{where}.bias': expected {weight.shape[0]} values, got {b.shape[0]}"  # noqa: E501
                    )
                linear.bias.data[...] = b
        else:
            size = layer.get("size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise SpecError(
                    f"spec field '{where}.size': expected a layer size >= 1 (or give 'weight')"
                )
            total = count + size * width + size  # weights and biases so far
            if total > MAX_PARAMETERS:  # refused before allocating: a typo costs nothing
                raise SpecError(
                    f"spec field '{where}.size': {size} × {width} weights bring the network to "
                    f"{total:,} parameters, more than the {MAX_PARAMETERS:,} explain follows "
                    f"(MAX_PARAMETERS)"
                )
            linear = nn.Linear(
                width,
                size,
                bias=layer.get("bias", True) is not False,
                dtype=np.float64,
                generator=seed + k,
            )
        modules.append(linear)
        count += sum(p.data.size for p in linear.parameters())
        activation = _name(layer.get("activation", "none"), f"{where}.activation", ACTIVATIONS)
        unit = nn.get_activation(activation, **_ACTIVATION_OPTIONS.get(activation, {}))
        if unit is not None:
            modules.append(unit)
        if "names" in layer:
            grid = np.array(layer["names"], dtype=object)
            if grid.shape != linear.weight.shape:
                raise SpecError(
                    f"spec field '{where}.names': expected shape {linear.weight.shape} like the weight"  # noqa: E501
                )
            for (j, i), alias in np.ndenumerate(grid):
                names[str(alias)] = f"{index}.weight[{j},{i}]"
        width = linear.out_features
    model = nn.Sequential(*modules)
    params = dict(model.named_parameters())
    for name in _strings(spec.get("freeze", []), "freeze"):
        if name not in params:
            raise SpecError(
                f"spec field 'freeze': no parameter {name!r}; parameters: {', '.join(params)}"
            )
        params[name].requires_grad = False
    if (
        loss_name in CLASS_LOSSES
        and targets.size
        and not 0 <= targets.min() <= targets.max() < width
    ):
        bad = targets.max() if targets.max() >= width else targets.min()
        raise SpecError(
            f"spec field 'targets': expected class indices 0 to {width - 1} (the output size "
            f"is {width}), got {bad}"
        )
    if loss_name not in CLASS_LOSSES and targets.shape[1] != width:
        raise SpecError(
            f"spec field 'targets': expected {width} columns (the output size), got {targets.shape[1]}"  # noqa: E501
        )
    reduction = spec.get("reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise SpecError(f"spec field 'reduction': expected 'mean' or 'sum', got {reduction!r}")
    scale = _number(spec, "loss_scale", 1.0)
    loss_fn = LOSSES[loss_name]

    def loss(output: Tensor, target: Tensor) -> Tensor:
        value = loss_fn(output, target, reduction=reduction)
        return value if scale == 1.0 else scale * value

    optimizer = spec.get("optimizer")
    if optimizer is not None and (
        not isinstance(optimizer, (str, dict))
        or (isinstance(optimizer, dict) and "name" not in optimizer)
    ):
        raise SpecError("spec field 'optimizer': expected a name or a table with 'name'")
    form = spec.get("form", "auto")
    if form not in ("auto", "scalar", "matrix"):
        raise SpecError(f"spec field 'form': expected auto, scalar or matrix, got {form!r}")
    steps = _number(spec, "steps", 1, int)
    if not 1 <= steps <= MAX_STEPS:
        raise SpecError(
            f"spec field 'steps': expected an integer from 1 to {MAX_STEPS}, got {steps}"
        )
    precision = _number(spec, "precision", 9, int)
    if not 1 <= precision <= 17:
        raise SpecError("spec field 'precision': expected 1 to 17 significant digits")
    params_sel = spec.get("params")
    if params_sel is not None and (
        not isinstance(params_sel, list) or not all(isinstance(p, str) for p in params_sel)
    ):
        raise SpecError(
            'spec field \'params\': expected a list of names like "w5" or "2.weight[0,0]"'
        )
    notes = spec.get("notes", [])
    notes = _strings([notes] if isinstance(notes, str) else notes, "notes")
    title = spec.get("title")
    if title is not None and not isinstance(title, str):
        raise SpecError(f"spec field 'title': expected a string, got {title!r}")
    return dict(
        model=model,
        loss_fn=loss,
        x=x,
        y=targets,
        lr=_number(spec, "lr", None),
        optimizer=optimizer,
        params=params_sel,
        steps=steps,
        precision=precision,
        form=form,
        title=title,
        names=names,
        notes=notes,
    )


def load_spec(path: str | pathlib.Path) -> dict[str, Any]:
    return build(read(path))


def explain_spec(path: str | pathlib.Path, **overrides: Any):
    """``explain(**load_spec(path))`` with some arguments replaced (e.g. steps)."""
    from .api import explain

    kwargs = load_spec(path)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return explain(**kwargs)
    except (ValueError, TypeError) as error:
        raise SpecError(str(error)) from None
