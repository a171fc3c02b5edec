"""ONNX export: ``chainrule.onnx.export(model, example_input, path)``.

Needs the ``onnx`` extra (``pip install "chainrule[onnx]"``): the ``onnx`` package
builds the graph; ``onnxruntime`` is what the tests check the files with. Imported
lazily, so ``import chainrule`` never needs them.

A ``Sequential`` (nested too) of these layers is exported, in eval mode and float32:
Linear (Gemm), Conv1d/Conv2d (Conv), MaxPool1d/2d (MaxPool), AvgPool1d/2d
(AveragePool), AdaptiveAvgPool2d (GlobalAveragePool, or AveragePool when the bins are
even), BatchNorm1d/2d (BatchNormalization), LayerNorm (LayerNormalization), GroupNorm
(its arithmetic), Embedding (Gather), Flatten, Unflatten (Reshape), Identity and
Dropout (Identity), and every activation (Relu, Tanh, Sigmoid, LeakyRelu, Elu, Gelu as
its erf/tanh formula, Softplus, Softmax, LogSoftmax, Softmin, SiLU, Mish, Selu, Celu,
Clip for ReLU6/Hardtanh, HardSigmoid, HardSwish, LogSigmoid, PRelu). The batch
dimension is left free ("N"); the others are the example's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .graph import OPSET, Graph, onnx_module
from .layers import emit

if TYPE_CHECKING:
    from onnx import ModelProto

__all__ = ["OPSET", "export", "to_model"]


def to_model(
    model: Any,
    example_input: Any,
    *,
    input_name: str = "input",
    output_name: str = "output",
    graph: Graph | None = None,
    input_from: str | None = None,
) -> ModelProto:
    """The ``onnx.ModelProto`` of ``model`` run on inputs shaped like ``example_input``.

    ``graph``/``input_from`` let a caller prepend its own nodes (the CLI's preprocessing):
    the model then reads the tensor named ``input_from`` of that graph.
    """
    from ..autodiff import Tensor, no_grad

    onnx = onnx_module()
    x = example_input if isinstance(example_input, Tensor) else Tensor(np.asarray(example_input))
    if x.dtype.kind == "f":  # the file computes in float32, whatever the model's dtype
        x = Tensor(x.data.astype(np.float32))
    was_training = model.training
    model.eval()
    try:
        g = graph or Graph()
        if graph is None:
            g.add_input(input_name, x.data.dtype, ("N", *x.shape[1:]))
        current = input_from or input_name
        with no_grad():
            current, out = emit(g, model, current, x)
        g.add_output(output_name, current, ("N", *out.shape[1:]))
        return g.to_model(onnx)
    finally:
        model.train(was_training)


def export(
    model: Any,
    example_input: Any,
    path: str | os.PathLike[str],
    *,
    input_name: str = "input",
    output_name: str = "output",
) -> None:
    """Write ``model`` as an ONNX file at ``path`` (atomically: never a half-written file).

    ``example_input`` (a Tensor or array, (N, ...)) fixes every dimension but the batch.
    Raises TypeError naming a layer ONNX export does not cover, and ImportError naming
    the ``onnx`` extra when the package is missing.
    """
    from ..io.atomic import atomic_write

    proto = to_model(model, example_input, input_name=input_name, output_name=output_name)
    with atomic_write(path) as file:
        file.write(proto.SerializeToString())
