"""``chainrule demo``: train on the bundled 8×8 digits and show what came out."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time

import numpy as np

from ..data import TabularEncoder, load_digits, train_test_split
from ..io import atomic_write
from .errors import UsageError, check_output, plan_outputs
from .options import TrainOptions, check
from .parsers import add_command
from .training import Outputs, can_plot, evaluate_pipeline, format_confusion, run

HELP = "train on the bundled handwritten digits (no data needed)"
DESCRIPTION = "Train a network on the bundled 8×8 handwritten digits and report on it."
EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule demo                      # writes chainrule-demo/
      chainrule demo --out /tmp/digits --epochs 5

    Trains a 64-64-10 ReLU network with Adam on 80% of the 1797 8×8 handwritten
    digits bundled with chainrule (UCI optdigits, CC BY 4.0), holds out 20% of the
    training rows for validation, and reports accuracy and the confusion matrix on
    the other 20% (the test split). The folder receives model.safetensors,
    model.history.json, model.loss.png and test.csv, so you can go on with
      chainrule info chainrule-demo/model.safetensors
      chainrule evaluate chainrule-demo/model.safetensors chainrule-demo/test.csv
    """
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(subparsers, "demo", HELP, DESCRIPTION, EXAMPLES, command)
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="chainrule-demo",
        help="output folder (default: %(default)s)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def _write_csv(path: str, x: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    lines = [",".join([*names, "digit"])]
    lines += [
        ",".join([*(str(int(v)) for v in row), str(int(t))]) for row, t in zip(x, y, strict=True)
    ]
    with atomic_write(path) as handle:
        handle.write(("\n".join(lines) + "\n").encode())


def command(args: argparse.Namespace) -> int:
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"{args.out}: exists and is not a folder")
    options = check(
        TrainOptions(hidden=[64], epochs=args.epochs, seed=args.seed, early_stopping=10)
    )
    if not os.path.isdir(args.out):
        check_output(args.out, "--out")  # its parent exists, is writable, the name fits
        os.mkdir(args.out)
    outputs = Outputs.beside(os.path.join(args.out, "model.safetensors"))
    test_csv = os.path.join(args.out, "test.csv")
    plan_outputs(
        {},
        {
            "--out (model)": outputs.model,
            "--out (history)": outputs.history,
            "--out (loss curve)": outputs.plot,
            "--out (test rows)": test_csv,
        },
    )
    started = time.perf_counter()
    x, y = load_digits(np.float64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, seed=args.seed
    )
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    encoder = TabularEncoder("digit", "classification")
    encoder.features = [{"name": n, "kind": "numeric"} for n in names]
    encoder.task, encoder.classes = "classification", [str(d) for d in range(10)]
    print(
        f"Training on {len(x_train)} of the 1797 bundled 8x8 digits "
        f"(UCI optdigits, CC BY 4.0); the other {len(x_test)} are the test set.",
        file=sys.stderr,
    )
    pipeline, _, _ = run(
        x_train, y_train, encoder, options, outputs, source="digits", verbose=0 if args.quiet else 1
    )
    test = evaluate_pipeline(pipeline, x_test, y_test)
    _write_csv(test_csv, x_test, y_test, names)
    print(f"test accuracy: {test['accuracy']:.4f} on {len(y_test)} digits")
    print(format_confusion(test, pipeline.classes or []))
    print(
        f"wrote {args.out}/: model.safetensors, model.history.json, "
        f"{'model.loss.png, ' if can_plot() else ''}test.csv "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0
