"""Regenerate the committed outputs of every spec here: NAME.txt and NAME.md.

    python examples/explain/generate.py          # rewrite the outputs
    python examples/explain/generate.py --check  # exit 1 if any output is stale

The same can be had one at a time with ``chainrule explain NAME.toml``.
"""

from __future__ import annotations

import pathlib
import sys

from chainrule.explain.spec import explain_spec

HERE = pathlib.Path(__file__).resolve().parent


def outputs(spec: pathlib.Path) -> dict[pathlib.Path, str]:
    explanation = explain_spec(spec)
    return {
        spec.with_suffix(".txt"): explanation.to_text(),
        spec.with_suffix(".md"): explanation.to_markdown(),
    }


def main(argv: list[str]) -> int:
    stale = []
    for spec in sorted(HERE.glob("*.toml")):
        for path, text in outputs(spec).items():
            if "--check" in argv:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(path.name)
            else:
                path.write_text(text, encoding="utf-8")
    if stale:
        print("stale outputs: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
