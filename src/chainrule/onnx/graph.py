"""A small builder of ONNX graphs: nodes, float32 initializers, unique names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from onnx import ModelProto  # the onnx extra

# Opset 17: LayerNormalization is in, and ReduceMean still takes its axes as an attribute.
OPSET = 17


def onnx_module() -> Any:
    """The ``onnx`` package, or ImportError naming the extra to install."""
    message = 'ONNX export needs the onnx package: pip install "chainrule[onnx]"'
    try:
        import onnx
    except ImportError as error:
        raise ImportError(message) from error
    if not hasattr(onnx, "helper"):  # a folder named onnx on sys.path, not the package
        raise ImportError(f"{message} (found {getattr(onnx, '__path__', onnx)!s} instead)")
    return onnx


class Graph:
    """Nodes in order, named initializers, and the graph's inputs and outputs."""

    def __init__(self) -> None:
        self.onnx = onnx_module()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = np.float32) -> str:
        """An initializer holding ``value`` (float32 unless ``dtype`` says otherwise)."""
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Any, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint, np.int64)

    def node(self, op: str, inputs: list[str], **attributes: Any) -> str:
        """Append one node; returns the name of its (single) output."""
        out = self.name(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], **attributes))
        return out

    def add_input(self, name: str, dtype: Any, shape: tuple) -> None:
        elem = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, list(shape)))

    def add_output(self, name: str, source: str, shape: tuple) -> None:
        self.nodes.append(self.onnx.helper.make_node("Identity", [source], [name]))
        elem = self.onnx.TensorProto.FLOAT
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem, list(shape)))

    def to_model(self, onnx: Any) -> ModelProto:
        graph = onnx.helper.make_graph(
            self.nodes, "chainrule", self.inputs, self.outputs, self.initializers
        )
        model = onnx.helper.make_model(
            graph,
            producer_name="chainrule",
            opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        )
        model.ir_version = min(model.ir_version, 8)  # readable by older runtimes too
        onnx.checker.check_model(model)
        return model
