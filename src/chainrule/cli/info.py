"""``chainrule info MODEL``: what a model or checkpoint file holds, without running it."""

from __future__ import annotations

import argparse
import json
import textwrap

from ..io import Checkpoint, load
from ..pipeline import Pipeline

EXAMPLES = textwrap.dedent(
    """\
    examples:
      chainrule info model.safetensors
      chainrule info run.ckpt

    Shows the architecture and parameter count, the preprocessing (columns, their
    kinds and categories, standardization), the task and classes, and the training
    provenance: data fingerprint (SHA-256), options, final metrics, library version.
    The file is fully validated first; nothing in it is executed.
    """
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="describe a model or checkpoint file",
        description="Describe a chainrule model or checkpoint file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a .safetensors file written by chainrule")
    parser.set_defaults(handler=command)
    return parser


def _parameters(model) -> int:
    return sum(p.data.size for p in model.parameters())


def command(args: argparse.Namespace) -> int:
    found = load(args.model)
    print(f"file: {args.model}")
    model = found.model if isinstance(found, (Pipeline, Checkpoint)) else found
    if hasattr(model, "parameters"):
        print(f"kind: {type(found).__name__}")
        print(f"architecture ({_parameters(model)} parameters):")
        print(textwrap.indent(repr(model), "  "))
    if isinstance(found, Pipeline):
        encoder = found.encoder
        print(f"task: {found.task}, target column {encoder.target!r}")
        if found.classes is not None:
            print(f"classes ({len(found.classes)}): {', '.join(found.classes)}")
        else:
            print(f"target scaling: mean {found.target_mean:.6g}, scale {found.target_scale:.6g}")
        print(f"input columns ({len(encoder.features)}), standardized after encoding:")
        for feature in encoder.features:
            if feature["kind"] == "numeric":
                print(f"  {feature['name']}: numeric")
            else:
                print(
                    f"  {feature['name']}: categorical, one-hot over "
                    f"{', '.join(feature['categories'])}"
                )
        print("provenance:")
        print(textwrap.indent(json.dumps(found.provenance, indent=2, sort_keys=True), "  "))
    elif isinstance(found, Checkpoint):
        state = found.state
        print(f"checkpoint after epoch {state.get('epoch')} (finished: {state.get('finished')})")
        fingerprint = state.get("fingerprint", {})
        print(f"data sha256: {fingerprint.get('data')}")
        print(f"options: {json.dumps(fingerprint.get('options'), sort_keys=True)}")
    elif not hasattr(model, "parameters"):
        print(f"kind: {type(found).__module__}.{type(found).__qualname__}")
    return 0
