"""``chainrule explain SPEC``: print a generated, checked backpropagation derivation."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import UsageError
from .parsers import add_command

if TYPE_CHECKING:
    from ..autodiff import Tensor
    from ..explain import Explanation
    from ..pipeline import Pipeline

# A loss function of nn.functional: (output, target, ...) -> the loss.
Loss = Callable[..., "Tensor"]

FORMATS = ("text", "markdown", "latex", "html")

HELP = """\
SPEC is a TOML or JSON file describing a small network by hand: inputs,
targets, loss, lr/optimizer and a [[layers]] list with weight, bias and activation.
See docs/explain-spec.md; examples in examples/explain/.

examples:
  chainrule explain examples/explain/mazur_2_2_2.toml
  chainrule explain examples/explain/tanh_2_2_1.toml --format markdown --steps 3
  chainrule explain examples/explain/mazur_2_2_2.toml --format html --out mazur.html
  chainrule explain --model model.safetensors --data row.csv
"""


SUMMARY = "derive and check backpropagation step by step for a small network"
DESCRIPTION = (
    "Forward pass, loss, every chain-rule factor, finite-difference checks "
    "and the update, for a network given as a spec file (or a trained model)."
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "explain", SUMMARY, DESCRIPTION, HELP, run)
    parser.add_argument("spec", nargs="?", help="network spec (.toml or .json)")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="html: one self-contained page, maths by KaTeX and the network drawn (offline)",
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps to follow")
    parser.add_argument("--precision", type=int, default=None, help="significant digits")
    parser.add_argument("--params", nargs="+", default=None, help="e.g. w5 2.weight[0,0]")
    parser.add_argument("--out", default=None, help="write here instead of stdout")
    parser.add_argument("--model", default=None, help="a model saved with chainrule.save")
    parser.add_argument("--data", default=None, help="CSV: feature columns, then the target")
    parser.add_argument("--lr", type=float, default=None)
    return parser


def _render(explanation: Explanation, form: str) -> str:
    return {
        "text": explanation.to_text,
        "markdown": explanation.to_markdown,
        "latex": explanation.to_latex,
        "html": explanation.to_html,
    }[form]()


def _from_model(args: argparse.Namespace) -> Explanation:
    import chainrule
    from chainrule.explain import explain

    from ..pipeline import Pipeline

    load = getattr(chainrule, "load", None)
    if load is None:
        raise UsageError(
            "--model needs chainrule.load (model files), which this version of chainrule lacks"
        )
    if args.data is None:
        raise UsageError("--model needs --data ROW.csv (feature columns, then the target)")
    try:
        obj = load(args.model)
    except Exception as error:  # the loader's own error names the defect
        raise UsageError(f"cannot load model {args.model}: {error}") from None
    model = getattr(obj, "model", obj)
    if isinstance(obj, Pipeline):
        x, y, loss = _pipeline_rows(obj, args.data)
    else:
        x, y, loss = _numeric_rows(model, args.data)
    try:
        return explain(
            model,
            loss,
            x,
            y,
            lr=args.lr,
            steps=args.steps or 1,
            precision=args.precision or 9,
            params=args.params,
        )
    except ValueError as error:  # a limit, an unknown --params name: one line, exit 2
        raise UsageError(str(error)) from None


def _pipeline_rows(pipeline: Pipeline, path: str) -> tuple[np.ndarray, np.ndarray, Loss]:
    """(x, y, loss) of a CSV file read as ``chainrule evaluate`` reads it (columns by name,
    categories one-hot, the target mapped to class indices or standardized), so the loss
    explained is the one the pipeline was trained on."""
    import chainrule.nn.functional as F

    from ..data import read_csv

    table = read_csv(path)
    x = pipeline.transform(table)
    target = pipeline.encoder.encode_target(table)
    if pipeline.task == "classification":
        return x, target, F.cross_entropy
    return x, ((target - pipeline.target_mean) / pipeline.target_scale)[:, None], F.mse_loss


def _numeric_rows(model: Any, path: str) -> tuple[np.ndarray, np.ndarray, Loss]:
    """(x, y, loss) of a few rows of numbers: features, then the target (a class index when
    the network has several outputs, a value when it has one)."""
    import chainrule
    import chainrule.nn.functional as F

    from .._regular_file import read_regular_file

    # Read as a regular file (a FIFO must not block), capped.
    raw = read_regular_file(path, what="a CSV file of rows", error=UsageError, max_bytes=64 << 20)
    try:
        text = raw.decode("utf-8-sig")
        try:
            rows = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
        except ValueError:
            rows = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, skiprows=1)
    except ValueError as error:
        raise UsageError(
            f"--data {path}: expected rows of numbers (features, then the target), "
            f"with an optional header ({error})"
        ) from None
    if rows.shape[0] < 1 or rows.shape[1] < 2:
        raise UsageError(
            f"--data {path}: expected rows of features then the target, got shape {rows.shape}"
        )
    x, target = rows[:, :-1], rows[:, -1]
    try:
        outputs = model(chainrule.tensor(np.asarray(x, dtype=np.float64))).shape[-1]
    except ValueError as error:  # the network names the shape it expected
        raise UsageError(f"--data {path}: {error}") from None
    if outputs == 1:
        return x, target[:, None], F.mse_loss
    y = target.astype(np.int64)
    if not np.all((y == target) & (y >= 0) & (y < outputs)):
        raise UsageError(
            f"--data {path}: the last column must hold class indices 0 to "
            f"{outputs - 1}, got {target.tolist()}"
        )
    return x, y, F.cross_entropy


def run(args: argparse.Namespace) -> int:
    from chainrule.explain.spec import MAX_STEPS, SpecError, explain_spec

    from ..io import atomic_write
    from .errors import plan_outputs

    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise UsageError(f"--steps expected an integer from 1 to {MAX_STEPS}, got {args.steps}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        raise UsageError(f"--lr expected a positive learning rate, got {args.lr}")
    plan_outputs(
        {"SPEC": args.spec, "--model": args.model, "--data": args.data}, {"--out": args.out}
    )
    if args.model is not None:
        explanation = _from_model(args)
    elif args.spec is None:
        raise UsageError("explain needs a SPEC file (or --model MODEL --data ROW.csv)")
    else:
        try:
            explanation = explain_spec(
                args.spec,
                steps=args.steps,
                precision=args.precision,
                params=args.params,
                lr=args.lr,
            )
        except SpecError as error:
            raise UsageError(str(error)) from None
    text = _render(explanation, args.format)
    if args.out:
        with atomic_write(args.out) as handle:  # never a half-written file
            handle.write(text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    return 0
