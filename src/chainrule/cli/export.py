"""``chainrule export MODEL --format onnx --out FILE``: a model file as ONNX."""

from __future__ import annotations

import argparse
import textwrap
from typing import TYPE_CHECKING

import numpy as np

from ..io import Checkpoint, load
from ..pipeline import Pipeline
from .errors import UsageError, plan_outputs
from .parsers import add_command

if TYPE_CHECKING:
    from onnx import ModelProto  # the onnx extra

HELP = "export a model file to ONNX"
DESCRIPTION = "Export a chainrule model file to another format (ONNX)."
EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule export model.safetensors --format onnx --out model.onnx

    A model trained by `chainrule train` is exported with its preprocessing as ONNX
    nodes: the file takes the raw numeric columns (input "input", float32, in the
    training CSV's column order; a text column comes in one-hot, as the 0/1 columns
    `chainrule info` lists), standardizes them (Sub, Div), runs the network, and gives
    class probabilities (Softmax; classes in the file's metadata) or, for regression,
    values in the target's own units. A bare network (cr.save(model)) needs
    --input-shape, the shape of one sample, such as 64 or 1,8,8.
    Needs the onnx extra: pip install "chainrule[onnx]".
    """
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "export", HELP, DESCRIPTION, EXAMPLES, command)
    parser.add_argument("model", metavar="MODEL", help="a .safetensors file written by chainrule")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="(default: onnx)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    parser.add_argument(
        "--input-shape",
        metavar="DIMS",
        help="shape of one sample for a bare network, comma-separated (e.g. 64 or 1,8,8)",
    )
    return parser


def _shape(text: str | None) -> tuple[int, ...]:
    if text is None:
        raise UsageError("--input-shape is needed to export a bare network (say, 64 or 1,8,8)")
    try:
        dims = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--input-shape expected comma-separated sizes, got {text!r}") from None
    if not dims or any(d < 1 or d > 1_000_000 for d in dims):
        raise UsageError(f"--input-shape expected sizes from 1 to 1,000,000, got {text!r}")
    return dims


def _pipeline_model(pipeline: Pipeline) -> ModelProto:
    """The ONNX graph: raw columns -> (x − mean)/scale -> network -> probabilities or values."""
    from ..autodiff import Tensor, no_grad
    from ..onnx.graph import Graph
    from ..onnx.layers import emit

    width = len(pipeline.encoder.output_names)
    g = Graph()
    g.add_input("input", np.float32, ("N", width))
    centered = g.node("Sub", ["input", g.const(pipeline.scaler.mean_, "mean")])
    scaled = g.node("Div", [centered, g.const(pipeline.scaler.scale_, "scale")])
    pipeline.model.eval()
    with no_grad():
        head, out = emit(g, pipeline.model, scaled, Tensor(np.zeros((1, width), np.float32)))
    if pipeline.task == "classification":
        result = g.node("Softmax", [head], axis=1)
    else:
        scaled_back = g.node("Mul", [head, g.const(pipeline.target_scale, "target_scale")])
        result = g.node("Add", [scaled_back, g.const(pipeline.target_mean, "target_mean")])
    g.add_output("output", result, ("N", out.shape[1]))
    proto = g.to_model(g.onnx)
    props = {"input_columns": ",".join(pipeline.encoder.output_names), "task": pipeline.task}
    if pipeline.classes is not None:
        props["classes"] = ",".join(pipeline.classes)
    g.onnx.helper.set_model_props(proto, props)
    return proto


def command(args: argparse.Namespace) -> int:
    plan_outputs({"MODEL": args.model}, {"--out": args.out})
    found = load(args.model)
    if isinstance(found, Checkpoint):
        raise UsageError(f"{args.model} is a checkpoint; export the model file train wrote")
    try:
        if isinstance(found, Pipeline):
            proto = _pipeline_model(found)
        else:
            from ..onnx import to_model

            example = np.zeros((1, *_shape(args.input_shape)), np.float32)
            try:
                proto = to_model(found, example)
            except ValueError as error:
                raise UsageError(f"--input-shape {args.input_shape}: {error}") from None
    except ImportError as error:
        raise UsageError(str(error)) from None
    except TypeError as error:
        raise UsageError(f"{args.model}: {error}") from None
    from ..io.atomic import atomic_write

    with atomic_write(args.out) as file:
        file.write(proto.SerializeToString())
    print(f"wrote {args.out} (ONNX opset {proto.opset_import[0].version})")
    return 0
