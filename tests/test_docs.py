"""The docs site's generated pages (docs/hooks.py), checked without mkdocs; the full
strict build runs where mkdocs is installed (``pip install ".[docs]"``, as .ci/run does)."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()


def test_every_readme_section_has_a_place():
    _, sections = hooks.split_sections(README)
    headings = [h for h, _ in sections]
    assert "A short tour" in headings and "Explain" in headings
    assert set(headings) == set(hooks.README_PAGES)  # a new section must be placed


def test_the_tour_is_the_readmes_text():
    pages = hooks.readme_pages(README)
    tour = pages["guide/tour.md"]
    assert tour.startswith("# A short tour\n")
    assert "## Training a network" in tour and "## Compiling a training step" in tour
    # Code blocks come through verbatim ("# comments" inside them are not headings).
    block = README.split("## A short tour", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert block in tour
    assert "## Quick start" in pages["index.md"] and "MIT." in pages["index.md"]


def test_readme_links_point_at_site_pages():
    pages = hooks.readme_pages(README)
    explain = pages["guide/explain.md"]
    assert "[`examples/explain/`](../examples/index.md)" in explain
    for page, text in pages.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            resolved = (pathlib.PurePosixPath(page).parent / target).as_posix()
            resolved = re.sub(r"[^/]+/\.\./", "", resolved)
            assert resolved in set(hooks.LINKS.values()) | set(pages), (page, target)
    assert "benchmarks/README.md" in pages["guide/benchmarks.md"]  # named, not linked


@pytest.mark.parametrize(
    "text, page, expected",
    [
        ("[x](CONTRIBUTING.md)", "guide/a.md", "[x](../contributing.md)"),
        ("[a](https://example.org/a)", "index.md", "[a](https://example.org/a)"),
        ("[b](#anchor)", "index.md", "[b](#anchor)"),
        ("[notes](benchmarks/README.md)", "index.md", "notes (`benchmarks/README.md`)"),
        ("[`x.py`](x.py)", "index.md", "`x.py`"),
    ],
)
def test_relink(text, page, expected):
    assert hooks.relink(text, page) == expected


SPECS = hooks._specs()


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_every_example_gets_a_page_with_its_derivation(spec):
    from chainrule.explain.spec import explain_spec

    page, standalone = hooks.example_page(spec)
    e = explain_spec(spec)
    assert page.startswith(f"# {e.title}\n")
    assert "## The derivation" in page and "\n- $" in page  # formulas as $LaTeX$
    assert page.count('<g class="edge"') == e.diagram.edge_count
    assert f"chainrule explain {spec.relative_to(ROOT).as_posix()}`" in page
    assert standalone == e.to_html()
    assert ("Kinks: where the loss has no derivative" in page) == any(c.kink for c in e.checks)


def test_the_kink_example_explains_its_kink():
    assert any(s.stem == "relu_kink" for s in SPECS)
    page, _ = hooks.example_page(ROOT / "docs" / "seeds" / "relu_kink.toml")
    assert "relu'(0) = 0" in page and '<g class="unit kink" data-unit="h1">' in page


def test_strict_build(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    page = (tmp_path / "examples" / "mazur_2_2_2" / "index.html").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in page and "<svg" in page
    assert (tmp_path / "assets" / "katex" / "katex.min.js").is_file()
    assert (tmp_path / "assets" / "katex" / "fonts" / "KaTeX_Main-Regular.woff2").is_file()
    tour = (tmp_path / "guide" / "tour" / "index.html").read_text(encoding="utf-8")
    assert "Training a network" in tour
    api = (tmp_path / "api" / "nn.functional" / "index.html").read_text(encoding="utf-8")
    assert "mse_loss" in api and "cross_entropy" in api
