"""``chainrule info MODEL``: what a model or checkpoint file holds, without running it."""

from __future__ import annotations

import argparse
import json
import textwrap

from ..io import Checkpoint, load
from ..pipeline import Pipeline
from .parsers import add_command

HELP = "describe a model or checkpoint file"
DESCRIPTION = "Describe a chainrule model or checkpoint file."
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
    parser = add_command(subparsers, "info", HELP, DESCRIPTION, EXAMPLES, command)
    parser.add_argument("model", metavar="MODEL", help="a .safetensors file written by chainrule")
    return parser


def _parameters(model) -> int:
    return sum(p.data.size for p in model.parameters())


def describe_feature(feature: dict) -> str:
    """One line: the column's kind and how its gaps and categories are handled."""
    kind = feature["kind"]
    if kind == "numeric":
        text = "numeric"
        if "fill" in feature:
            text += f", gaps filled with {feature['fill']:.6g}"
    elif kind == "date":
        text = "date -> year, month, day of week, day of year, days since 1970"
        if "fill" in feature:
            text += " (gaps filled with the training medians)"
    else:
        categories = feature["categories"]
        text = f"categorical, one-hot over {', '.join(categories)}"
        if feature.get("infrequent"):
            text += f" ({feature['infrequent']} rare values grouped as {categories[-1]!r})"
        if "missing_category" in feature:
            text += f"; gaps -> {feature['missing_category']!r}"
        elif "fill" in feature:
            text += f"; gaps -> {feature['fill']!r} (most frequent)"
    if feature.get("indicator"):
        text += f"; indicator column {feature['name']}:missing"
    return text


def data_handling(encoder) -> list[str]:
    """Imputation, missing-value spellings, category handling, dropped columns."""
    lines = []
    impute = encoder.impute or "none (a missing value is an error)"
    lines.append(f"missing values: {impute}")
    if encoder.na_values is not None:
        shown = ", ".join(repr(v) for v in encoder.na_values) or "none"
        lines.append(f"cells read as missing: {shown}")
    if encoder.strict_categories:
        lines.append("unseen categories: an error")
    else:
        lines.append("unseen categories: 'infrequent' where the column has it, else all zeros")
    for dropped in encoder.dropped:
        lines.append(f"dropped column {dropped['name']!r}: {dropped.get('why', '')}")
    if encoder.id_column is not None:
        lines.append(f"id column {encoder.id_column!r}: copied into predictions")
    return lines


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
            print(f"  {feature['name']}: {describe_feature(feature)}")
        for line in data_handling(encoder):
            print(line)
        if found.provenance.get("processes"):  # trained data-parallel under mpiexec
            print(f"processes: {found.provenance['processes']}")
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
