"""mkdocs hooks: pages generated at build time, so nothing here is copied by hand.

- The README's sections become the guide (home, explain, tour, ...): the README stays
  the one source, its relative links are pointed at the site's pages.
- Each example spec in ``examples/explain/`` gets a page: the spec, the network drawn
  as SVG and the derivation (``Explanation.to_markdown(math=True)``), plus the
  standalone HTML page that ``chainrule explain --format html`` writes.
- The vendored KaTeX (``chainrule._vendor.KATEX_DIR``) is served from the site, so the
  maths renders with no network.
- The navigation is built from all of that (``on_config``).

The helpers are plain functions (tests/test_docs.py calls them without mkdocs).
"""

from __future__ import annotations

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the checkout's chainrule, installed or not

EXAMPLES = ROOT / "examples" / "explain"
SEEDS = ROOT / "docs" / "seeds"  # networks of the tests shown too (outputs not committed)
# README sections (## headings) -> page; None: left out of the site (said elsewhere).
README_PAGES = {
    "Quick start": "index.md",
    "Explain": "guide/explain.md",
    "Playground": "guide/playground.md",
    "A short tour": "guide/tour.md",
    "Porting from PyTorch": "guide/porting.md",
    "Command line": "guide/cli.md",
    "scikit-learn estimators": "guide/sklearn.md",
    "Benchmarks": "guide/benchmarks.md",
    "Contributing": None,  # CONTRIBUTING.md is a page of its own
    "Licence": "index.md",
}
# Relative links of the README (and CONTRIBUTING.md) -> the site's page for them.
LINKS = {
    "examples/explain/": "examples/index.md",
    "CONTRIBUTING.md": "contributing.md",
    "docs/explain-spec.md": "explain-spec.md",
    "docs/architecture.md": "architecture.md",
}
API = [
    ("chainrule", "chainrule"),
    ("chainrule.nn", "nn"),
    ("chainrule.nn.functional", "nn.functional"),
    ("chainrule.optim", "optim"),
    ("chainrule.data", "data"),
    ("chainrule.train", "train"),
    ("chainrule.explain", "explain"),
    ("chainrule.io", "io"),
    ("chainrule.sklearn", "sklearn"),
    ("chainrule.distributed", "distributed"),
    ("chainrule.data.streaming", "data.streaming"),
]
_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def split_sections(markdown: str) -> tuple[str, list[tuple[str, str]]]:
    """(the text before the first ``## ``, [(heading, body), ...]); fences are skipped."""
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            intro.append(line)
    return "\n".join(intro), [(h, "\n".join(body).strip() + "\n") for h, body in sections]


def relink(markdown: str, page: str) -> str:
    """Point the README's relative links at site pages; others name the repository file.

    ``page`` is the path of the page the text lands on (links are relative to it).
    """
    depth = page.count("/")

    def replace(match: re.Match) -> str:
        text, target = match[1], match[2]
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            return match[0]
        if target in LINKS:
            return f"[{text}]({'../' * depth}{LINKS[target]})"
        # A file of the repository that the site does not publish.
        return text if text.strip("`") == target else f"{text} (`{target}`)"

    return _LINK.sub(replace, markdown)


def demote(markdown: str) -> str:
    """``### `` -> ``## `` outside fences: a README section's subsections on its page."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("###"):
            line = line[1:]
        out.append(line)
    return "\n".join(out) + "\n"


def readme_pages(readme: str) -> dict[str, str]:
    """page path -> Markdown, from the README (every section is placed or named above)."""
    intro, sections = split_sections(readme)
    unknown = [h for h, _ in sections if h not in README_PAGES]
    if unknown:
        raise ValueError(f"docs/hooks.py: README sections without a page: {unknown}")
    pages: dict[str, list[str]] = {"index.md": [intro.strip() + "\n"]}
    for heading, body in sections:
        page = README_PAGES[heading]
        if page is None:
            continue
        if page == "index.md":
            text = f"## {heading}\n\n{body}"
        else:
            text = f"# {heading}\n\n{demote(body)}"
        pages.setdefault(page, []).append(relink(text, page))
    pages["index.md"][0] = relink(pages["index.md"][0], "index.md")
    return {page: "\n".join(parts) for page, parts in pages.items()}


def example_page(spec: pathlib.Path) -> tuple[str, str]:
    """(page Markdown, standalone HTML) for one example spec."""
    from chainrule.explain.render_html import kink_section, network_section
    from chainrule.explain.spec import explain_spec

    e = explain_spec(spec)
    derivation = e.to_markdown(math=True)
    title, _, rest = derivation.partition("\n")
    source = spec.read_text(encoding="utf-8").strip()
    lines = [
        title,
        "",
        f"`chainrule explain {spec.relative_to(ROOT).as_posix()}` prints this derivation; "
        f"[the standalone HTML page]({spec.stem}.html) is what `--format html` writes "
        "(one file, renders offline).",
        "",
        f'??? example "The spec, `{spec.name}`"',
        "",
        "    ```toml",
        *("    " + line if line else "" for line in source.splitlines()),
        "    ```",
        "",
    ]
    if e.diagram is not None:
        section = network_section(e.diagram, e.precision)
        lines += ['<div class="chainrule-network" markdown="0">', section, "</div>", ""]
    if kink_section(e):  # checks at a kink: why they differ from backprop, and by how much
        lines += ['<div class="chainrule-kinks" markdown="0">', kink_section(e), "</div>", ""]
    lines += ["## The derivation", "", demote_all(rest)]
    return "\n".join(lines), e.to_html()


def demote_all(markdown: str) -> str:
    """Every heading one level down (under the page's "The derivation")."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            line = "#" + line
        out.append(line)
    return "\n".join(out) + "\n"


def examples_index(specs: list[pathlib.Path], titles: dict[str, str]) -> str:
    items = "\n".join(f"- [{titles[s.stem]}]({s.stem}.md)" for s in specs)
    return (
        "# Examples\n\n"
        "Each network of `examples/explain/` (and of `docs/seeds/`) explained by "
        "`chainrule explain`: the forward "
        "pass, the loss, every chain-rule factor with its number, the finite-difference "
        "checks and the update. The pages are generated when the site is built, so they "
        "always show what this version of chainrule prints.\n\n"
        f"{items}\n\n"
        "The spec format: [explain spec files](../explain-spec.md).\n"
    )


def api_page(module: str) -> str:
    return f"# `{module}`\n\n::: {module}\n"


# -- mkdocs events --------------------------------------------------------------------


def _specs() -> list[pathlib.Path]:
    return sorted(EXAMPLES.glob("*.toml")) + sorted(SEEDS.glob("*.toml"))


def on_config(config):
    titles = {s.stem: s.stem for s in _specs()}
    guide = [p for p in dict.fromkeys(README_PAGES.values()) if p and p != "index.md"]
    config["nav"] = [
        {"Home": "index.md"},
        {"Guide": [*guide, "explain-spec.md", "architecture.md", "contributing.md"]},
        {"Examples": ["examples/index.md", *(f"examples/{s}.md" for s in titles)]},
        {"API reference": [f"api/{short}.md" for _, short in API]},
    ]
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    from chainrule._vendor import KATEX_DIR
    from chainrule.explain.render_html import SVG_STYLE

    def add(path: str, content: str | bytes) -> None:
        files.append(File.generated(config, path, content=content))

    for path, text in readme_pages((ROOT / "README.md").read_text(encoding="utf-8")).items():
        add(path, text)
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    add("contributing.md", relink(contributing, "contributing.md"))
    titles = {}
    for spec in _specs():
        page, standalone = example_page(spec)
        titles[spec.stem] = page.partition("\n")[0].lstrip("# ")
        add(f"examples/{spec.stem}.md", page)
        add(f"examples/{spec.stem}.html", standalone)
    add("examples/index.md", examples_index(_specs(), titles))
    for module, short in API:
        add(f"api/{short}.md", api_page(module))
    add("assets/diagram.css", SVG_STYLE)
    for asset in sorted(KATEX_DIR.rglob("*")):
        if asset.is_file() and asset.suffix in (".js", ".css", ".woff2"):
            add(f"assets/katex/{asset.relative_to(KATEX_DIR).as_posix()}", asset.read_bytes())
    return files
