"""One ONNX translation per chainrule layer: ``emit`` walks a Sequential in order.

Each translation gets the graph, the layer, the name of its input tensor and the
example input (a chainrule Tensor, for the shapes), and returns the name of its output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..nn.functional.conv import _same_pads
from .graph import Graph


def emit(g: Graph, module: Any, current: str, x: Any) -> tuple[str, Any]:
    """Translate ``module`` reading tensor ``current`` (example value ``x``)."""
    if isinstance(module, nn.Sequential):
        for child in module:
            current, x = emit(g, child, current, x)
        return current, x
    out = module(x)
    translate = _TRANSLATIONS.get(type(module))
    if translate is None:
        raise TypeError(
            f"ONNX export does not cover {type(module).__name__}; supported: "
            f"Sequential, {', '.join(sorted(t.__name__ for t in _TRANSLATIONS))}"
        )
    return translate(g, module, current, x, out), out


def _w(g: Graph, parameter: Any, hint: str) -> str:
    return g.const(parameter.data, hint)


def _linear(g, m, cur, x, out):
    if x.ndim == 2:
        inputs = [cur, _w(g, m.weight, "weight")]
        if m.bias is not None:
            inputs.append(_w(g, m.bias, "bias"))
        return g.node("Gemm", inputs, transB=1)
    y = g.node("MatMul", [cur, g.const(m.weight.data.T, "weight_t")])
    return y if m.bias is None else g.node("Add", [y, _w(g, m.bias, "bias")])


def _conv_pads(m) -> list[int]:
    if m.padding == "valid":
        pairs = [(0, 0)] * len(m.kernel_size)
    elif m.padding == "same":
        pairs = [_same_pads(k, d) for k, d in zip(m.kernel_size, m.dilation, strict=True)]
    else:
        pairs = [(p, p) for p in m.padding]
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]  # ONNX: all begins, then ends


_ONNX_PAD_MODES = {"reflect": "reflect", "replicate": "edge"}


def _conv(g, m, cur, x, out):
    pads = _conv_pads(m)
    if m.padding_mode != "zeros":
        if m.padding_mode not in _ONNX_PAD_MODES:
            raise TypeError(
                f"ONNX export of {type(m).__name__} covers padding_mode 'zeros', 'reflect' "
                f"and 'replicate' (opset 17 has no wrap padding), got {m.padding_mode!r}"
            )
        half = len(pads) // 2  # a Pad node first, PyTorch's way; N and C are not padded
        full = [0, 0, *pads[:half], 0, 0, *pads[half:]]
        cur = g.node("Pad", [cur, g.ints(full, "pads")], mode=_ONNX_PAD_MODES[m.padding_mode])
        pads = [0] * len(pads)
    inputs = [cur, _w(g, m.weight, "weight")]
    if m.bias is not None:
        inputs.append(_w(g, m.bias, "bias"))
    return g.node(
        "Conv",
        inputs,
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
        dilations=list(m.dilation),
        group=m.groups,
    )


def _n(value: Any, n: int) -> list[int]:
    return list(value) if isinstance(value, (tuple, list)) else [int(value)] * n


def _pool(op: str, n: int) -> Callable:
    def translate(g: Graph, m: Any, cur: str, x: Any, out: Any) -> str:
        kernel, stride, pad = _n(m.kernel_size, n), _n(m.stride, n), _n(m.padding, n)
        attrs: dict[str, Any] = {"kernel_shape": kernel, "strides": stride, "pads": pad + pad}
        if getattr(m, "return_indices", False):
            raise TypeError(f"ONNX export of {type(m).__name__} needs return_indices=False")
        if m.ceil_mode and op != "MaxPool":
            # How runtimes count ceil_mode's extra pixels in a mean differs: not exported.
            raise TypeError(f"ONNX export of {type(m).__name__} needs ceil_mode=False")
        if m.ceil_mode:
            attrs["ceil_mode"] = 1
        if op == "MaxPool":
            attrs["dilations"] = _n(m.dilation, n)
        else:
            attrs["count_include_pad"] = int(m.count_include_pad)
        return g.node(op, [cur], **attrs)

    return translate


def _adaptive_avg(g, m, cur, x, out):
    (h, w), (oh, ow) = x.shape[2:], out.shape[2:]
    if (oh, ow) == (1, 1):
        return g.node("GlobalAveragePool", [cur])
    if h % oh or w % ow:
        raise TypeError(
            f"ONNX export of AdaptiveAvgPool2d needs input sizes divisible by the output, "
            f"got {(h, w)} -> {(oh, ow)}"
        )
    kernel = [h // oh, w // ow]
    return g.node("AveragePool", [cur], kernel_shape=kernel, strides=kernel)


def _batch_norm(g, m, cur, x, out):
    c = m.num_features
    weight = m.weight.data if m.weight is not None else np.ones(c)
    bias = m.bias.data if m.bias is not None else np.zeros(c)
    if m.running_mean is None:
        raise TypeError(f"ONNX export of {type(m).__name__} needs track_running_stats=True")
    stats = [g.const(m.running_mean.data, "mean"), g.const(m.running_var.data, "var")]
    return g.node(
        "BatchNormalization",
        [cur, g.const(weight, "scale"), g.const(bias, "bias"), *stats],
        epsilon=float(m.eps),
    )


def _layer_norm(g, m, cur, x, out):
    shape = m.normalized_shape
    weight = m.weight.data if m.weight is not None else np.ones(shape)
    inputs = [cur, g.const(weight, "scale")]
    if m.bias is not None:
        inputs.append(_w(g, m.bias, "bias"))
    return g.node("LayerNormalization", inputs, axis=-len(shape), epsilon=float(m.eps))


def _group_norm(g, m, cur, x, out):
    # (x − mean)/√(var + eps) over (C/G, *) of each group, then a per-channel affine.
    grouped = g.node("Reshape", [cur, g.ints([0, m.num_groups, -1])])
    mean = g.node("ReduceMean", [grouped], axes=[2], keepdims=1)
    centered = g.node("Sub", [grouped, mean])
    var = g.node("ReduceMean", [g.node("Mul", [centered, centered])], axes=[2], keepdims=1)
    std = g.node("Sqrt", [g.node("Add", [var, g.const(m.eps, "eps")])])
    normalized = g.node("Div", [centered, std])
    y = g.node("Reshape", [normalized, g.node("Shape", [cur])])
    if m.weight is None:
        return y
    channel = (-1,) + (1,) * (x.ndim - 2)
    y = g.node("Mul", [y, g.const(m.weight.data.reshape(channel), "scale")])
    return g.node("Add", [y, g.const(m.bias.data.reshape(channel), "bias")])


def _embedding(g, m, cur, x, out):
    return g.node("Gather", [_w(g, m.weight, "weight"), cur], axis=0)


def _reshape_to(g, cur, out):
    return g.node("Reshape", [cur, g.ints([0, *out.shape[1:]])])


def _flatten(g, m, cur, x, out):
    end = m.end_dim % x.ndim
    if m.start_dim % x.ndim == 1 and end == x.ndim - 1:
        return g.node("Flatten", [cur], axis=1)
    return _reshape_to(g, cur, out)


def _unflatten(g, m, cur, x, out):
    return _reshape_to(g, cur, out)


def _identity(g, m, cur, x, out):
    return g.node("Identity", [cur])


def _simple(op: str, **fixed: Any) -> Callable:
    return lambda g, m, cur, x, out: g.node(op, [cur], **fixed)


def _gelu(g, m, cur, x, out):
    if m.approximate == "tanh":
        cube = g.node("Mul", [g.node("Mul", [cur, cur]), cur])
        inner = g.node("Add", [cur, g.node("Mul", [cube, g.const(0.044715)])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.const(math.sqrt(2 / math.pi))])])
    else:
        t = g.node("Erf", [g.node("Mul", [cur, g.const(1 / math.sqrt(2))])])
    half = g.node("Mul", [cur, g.const(0.5)])
    return g.node("Mul", [half, g.node("Add", [t, g.const(1.0)])])


def _softplus(g, m, cur, x, out):
    if m.beta == 1:
        return g.node("Softplus", [cur])
    scaled = g.node("Mul", [cur, g.const(m.beta)])
    return g.node("Div", [g.node("Softplus", [scaled]), g.const(m.beta)])


def _axis(m) -> int:
    return -1 if m.dim is None else int(m.dim)


def _clip(low: float, high: float) -> Callable:
    def translate(g, m, cur, x, out):
        lo, hi = getattr(m, "min_val", low), getattr(m, "max_val", high)
        return g.node("Clip", [cur, g.const(lo, "min"), g.const(hi, "max")])

    return translate


def _silu(g, m, cur, x, out):
    return g.node("Mul", [cur, g.node("Sigmoid", [cur])])


def _mish(g, m, cur, x, out):
    return g.node("Mul", [cur, g.node("Tanh", [g.node("Softplus", [cur])])])


def _logsigmoid(g, m, cur, x, out):
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", [cur])])])


def _softmin(g, m, cur, x, out):
    return g.node("Softmax", [g.node("Neg", [cur])], axis=_axis(m))


def _prelu(g, m, cur, x, out):
    slope = m.weight.data
    if slope.size > 1 and x.ndim > 2:
        slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return g.node("PRelu", [cur, g.const(slope, "slope")])


_TRANSLATIONS: dict[type, Callable] = {
    nn.Linear: _linear,
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.MaxPool1d: _pool("MaxPool", 1),
    nn.MaxPool2d: _pool("MaxPool", 2),
    nn.AvgPool1d: _pool("AveragePool", 1),
    nn.AvgPool2d: _pool("AveragePool", 2),
    nn.AdaptiveAvgPool2d: _adaptive_avg,
    nn.BatchNorm1d: _batch_norm,
    nn.BatchNorm2d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    nn.GroupNorm: _group_norm,
    nn.Embedding: _embedding,
    nn.Flatten: _flatten,
    nn.Unflatten: _unflatten,
    nn.Identity: _identity,
    nn.Dropout: _identity,
    nn.ReLU: _simple("Relu"),
    nn.Tanh: _simple("Tanh"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.LeakyReLU: lambda g, m, cur, x, out: g.node("LeakyRelu", [cur], alpha=m.negative_slope),
    nn.ELU: lambda g, m, cur, x, out: g.node("Elu", [cur], alpha=float(m.alpha)),
    nn.GELU: _gelu,
    nn.Softplus: _softplus,
    nn.Softmax: lambda g, m, cur, x, out: g.node("Softmax", [cur], axis=_axis(m)),
    nn.LogSoftmax: lambda g, m, cur, x, out: g.node("LogSoftmax", [cur], axis=_axis(m)),
    nn.Softmin: _softmin,
    nn.SiLU: _silu,
    nn.Mish: _mish,
    nn.SELU: _simple("Selu"),
    nn.CELU: lambda g, m, cur, x, out: g.node("Celu", [cur], alpha=float(m.alpha)),
    nn.ReLU6: _clip(0.0, 6.0),
    nn.Hardtanh: _clip(-1.0, 1.0),
    nn.Hardsigmoid: _simple("HardSigmoid", alpha=1 / 6, beta=0.5),
    nn.Hardswish: _simple("HardSwish"),
    nn.LogSigmoid: _logsigmoid,
    nn.PReLU: _prelu,
}
