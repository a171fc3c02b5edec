"""The issue's speed targets, checked against one run's figures, and the README tables.

    python -m benchmarks.bench_core --json core.json
    python -m benchmarks.bench_train --json train.json
    python -m benchmarks.report core.json train.json            # print the tables
    python -m benchmarks.report core.json train.json --write    # and put them in the READMEs

``--write`` replaces what lies between the ``<!-- benchmarks:... -->`` markers in
README.md and benchmarks/README.md, so the published figures always come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_NAMES = {
    "torch": "PyTorch eager",
    "micrograd": "micrograd",
    "jax": "JAX jit",
    "sklearn": "scikit-learn MLP",
    "numpy": "NumPy by hand",
}
VARIANT_NAMES = {"eager": "cr eager", "compile": "cr.compile", "fit": "cr.fit"}


@dataclass(frozen=True)
class Target:
    """chainrule run as ``variant`` must be at least ``minimum`` × as fast as ``peer``."""

    workload: str
    variant: str  # eager | compile | fit
    peer: str
    minimum: float

    def describe(self) -> str:
        return f"{VARIANT_NAMES[self.variant]} ≥ {self.minimum:g}× {PEER_NAMES[self.peer]}"


TARGETS = [
    Target("W-tiny", "eager", "torch", 5.0),
    Target("W-tiny", "eager", "micrograd", 1.5),
    Target("W-tiny", "compile", "numpy", 1.0),
    Target("W-deep", "eager", "torch", 2.0),
    Target("W-deep", "compile", "numpy", 1.0),
    Target("W-small", "eager", "torch", 3.0),
    Target("W-small", "compile", "numpy", 1.0),
    Target("W-small", "fit", "numpy", 1.0),
    Target("W-small", "compile", "sklearn", 2.5),
    Target("W-small", "fit", "sklearn", 2.5),
    Target("W-large", "eager", "torch", 1.0),
    Target("W-large", "compile", "numpy", 0.97),
]
# (workload, variant, least test accuracy) — a fast run that learns less does not count
ACCURACY_TARGETS = [("W-small", "compile", 0.97), ("W-small", "fit", 0.97)]


def _row(rows: list[dict[str, Any]], peer: str) -> dict[str, Any]:
    return next((r for r in rows if r["peer"] == peer), {})


def evaluate(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One line per target of the workloads in ``results``: what was measured, met or not."""
    lines = []
    for target in TARGETS:
        if target.workload not in results:
            continue
        ratio = _row(results[target.workload], target.peer).get(f"ratio_{target.variant}")
        lines.append(
            {
                "workload": target.workload,
                "target": target.describe(),
                "measured": "n/a" if ratio is None else f"{ratio:.2f}×",
                "status": "n/a"
                if ratio is None
                else ("met" if ratio >= target.minimum else "not met"),
            }
        )
    for workload, variant, least in ACCURACY_TARGETS:
        if workload not in results:
            continue
        accuracy = _row(results[workload], f"cr-{variant}").get("test_accuracy")
        lines.append(
            {
                "workload": workload,
                "target": f"{VARIANT_NAMES[variant]} test accuracy ≥ {least:g}",
                "measured": "n/a" if accuracy is None else f"{accuracy:.3f}",
                "status": "n/a"
                if accuracy is None
                else ("met" if accuracy >= least else "not met"),
            }
        )
    order = [t.workload for t in TARGETS]
    lines.sort(key=lambda line: order.index(line["workload"]))  # stable: targets keep their order
    return lines


def print_targets(results: dict[str, list[dict[str, Any]]]) -> None:
    lines = evaluate(results)
    if not lines:
        return
    print("\nTargets (chainrule ÷ peer, measured in this run)")
    for line in lines:
        print(f"  {line['workload']:8} {line['target']:42} {line['measured']:>8}  {line['status']}")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def _ratio(row: dict[str, Any], variant: str) -> str:
    value = row.get(f"ratio_{variant}")
    return "" if value is None else f"{value:.2f}×"


def figures_table(results: dict[str, list[dict[str, Any]]]) -> str:
    """Every peer of every workload: throughput, result, memory and the three ratios."""
    out = [
        "| workload | peer | throughput | final loss / test acc | peak RSS MiB "
        "| eager ÷ peer | compile ÷ peer | fit ÷ peer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for workload, rows in results.items():
        for row in rows:
            if "steps_per_s" in row:
                speed = f"{_fmt(row['steps_per_s'])} steps/s"
            elif "samples_per_s" in row:
                speed = f"{_fmt(row['samples_per_s'])} samples/s"
                if "gemm_fraction" in row:
                    speed += f" ({row['gemm_fraction']:.0%} of GEMM ceiling)"
            else:
                speed = row.get("note") or row.get("error", "")
            if "test_accuracy" in row:
                result = f"{row['test_accuracy']:.3f}"
            else:
                result = _fmt(row.get("final_loss"))
            out.append(
                f"| {workload} | {row.get('label', row['peer'])} | {speed} | {result} "
                f"| {_fmt(row.get('peak_rss_mib'), 3)} | {_ratio(row, 'eager')} "
                f"| {_ratio(row, 'compile')} | {_ratio(row, 'fit')} |"
            )
    return "\n".join(out)


def targets_table(results: dict[str, list[dict[str, Any]]]) -> str:
    out = ["| workload | target | measured | |", "| --- | --- | ---: | --- |"]
    for line in evaluate(results):
        status = "**not met**" if line["status"] == "not met" else line["status"]
        out.append(f"| {line['workload']} | {line['target']} | {line['measured']} | {status} |")
    return "\n".join(out)


def summary_table(results: dict[str, list[dict[str, Any]]]) -> str:
    """README's table: one line per way of running chainrule, one column per peer."""
    peers = [p for p in PEER_NAMES if any(_row(rows, p) for rows in results.values())]
    out = [
        "| workload | chainrule | " + " | ".join(f"vs {PEER_NAMES[p]}" for p in peers) + " |",
        "| --- | --- |" + " ---: |" * len(peers),
    ]
    for workload, rows in results.items():
        for variant, name in VARIANT_NAMES.items():
            ours = _row(rows, f"cr-{variant}")
            if not ours:
                continue
            if "note" in ours or "error" in ours:
                cells = [ours.get("note") or "error"] + [""] * (len(peers) - 1)
            else:
                cells = [_ratio(_row(rows, p), variant) for p in peers]
            out.append(f"| {workload} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _describe_run(meta: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    return (
        f"`{meta['command']}` on {meta['date']}, {meta['cpus']} CPUs, load average "
        f"{meta['load_average_start']:.2f} at the start and {meta['load_average_end']:.2f} "
        f"at the end; Python {meta['python']}, {versions}."
    )


def replace_block(path: str, name: str, text: str) -> None:
    """Replace the lines between ``<!-- benchmarks:NAME -->`` and ``<!-- /benchmarks:NAME -->``."""
    start, end = f"<!-- benchmarks:{name} -->", f"<!-- /benchmarks:{name} -->"
    with open(path, encoding="utf-8") as handle:
        content = handle.read()
    if start not in content or end not in content:
        raise SystemExit(f"{path} has no {start} ... {end} block to replace")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="JSON files written by bench_core / bench_train")
    parser.add_argument(
        "--write", action="store_true", help="update README.md and benchmarks/README.md"
    )
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    runs = []
    for path in args.runs:
        with open(path, encoding="utf-8") as handle:
            run = json.load(handle)
        results.update(run["results"])
        runs.append(_describe_run(run["meta"]))
    figures = "\n\n".join(["\n".join(f"- {r}" for r in runs), figures_table(results)])
    targets = targets_table(results)
    summary = summary_table(results)
    print(figures, targets, summary, sep="\n\n")
    if args.write:
        replace_block(os.path.join(ROOT, "benchmarks", "README.md"), "figures", figures)
        replace_block(os.path.join(ROOT, "benchmarks", "README.md"), "targets", targets)
        replace_block(os.path.join(ROOT, "README.md"), "summary", summary)


if __name__ == "__main__":
    main()
