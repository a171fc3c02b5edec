"""explain's HTML page: KaTeX inlined, the network as SVG, samples, kinks, escaping."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule._vendor import KATEX_DIR
from chainrule.cli.main import main
from chainrule.explain import fmt
from chainrule.explain.kinks import KINK_EXPLANATION
from chainrule.explain.records import Eq, Matrix
from chainrule.explain.render_latex import equation, math
from chainrule.explain.spec import explain_spec

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "explain"
SPECS = sorted(EXAMPLES.glob("*.toml"))

EDGE = re.compile(
    r'<g class="edge" data-param="([^"]+)" data-index="(\d+),(\d+)" '
    r'data-value="([^"]+)" data-grad="([^"]+)">'
)


def _outside_scripts(page: str) -> str:
    """The page less its inlined scripts (KaTeX's code holds "<svg", "<img", URLs)."""
    return re.sub(r"<script>.*?</script>", "", page, flags=re.S)


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


def _weights(e) -> dict[str, np.ndarray]:
    return {layer.weight_name: layer.weight for layer in e.diagram.layers}


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_svg_has_one_edge_per_weight_with_explains_numbers(spec):
    e = explain_spec(spec)
    page = e.to_html()
    edges = EDGE.findall(page)
    weights = _weights(e)
    assert len(edges) == sum(w.size for w in weights.values())
    assert len({(p, j, k) for p, j, k, _, _ in edges}) == len(edges)
    for param, j, k, value, grad in edges:
        index = (int(j), int(k))
        # The numbers shown are explain's own, formatted as in the derivation.
        assert grad == fmt.num(e.gradients[param][index], e.precision)
        assert _number(grad) == pytest.approx(e.gradients[param][index], rel=1e-8, abs=1e-12)
        assert value == fmt.num(weights[param][index], e.precision)


def test_mazur_edges_labelled_with_value_and_gradient():
    e = explain_spec(EXAMPLES / "mazur_2_2_2.toml")
    page = e.to_html()
    assert '<tspan class="w">w5 = 0.4</tspan>' in page
    assert f"∂E/∂w5 = {fmt.num(e.quantities['∂E/∂w5'], 9)}</tspan>" in page
    assert "∂E/∂w5 = 0.0821670406" in page  # the tutorial's 0.082167041
    assert "∂E/∂w1 = 0.000438567734" in page  # the tutorial's 0.000438568
    assert "out_h1 = 0.593269992" in page  # one sample: its value under the unit
    assert page.count('<g class="unit"') == 6  # i1 i2 h1 h2 o1 o2
    assert "Values, one sample per column" not in page


def test_weights_of_large_networks_are_edges_without_labels():
    model = nn.Sequential(nn.Linear(8, 16, generator=0), nn.Tanh(), nn.Linear(16, 3, generator=1))
    x = np.random.default_rng(0).normal(size=(4, 8))
    e = cr.explain(model, F.cross_entropy, x, np.array([0, 1, 2, 0]))
    page = e.to_html()
    assert len(EDGE.findall(page)) == 8 * 16 + 16 * 3
    assert '<tspan class="w">' not in page  # 176 labels would overlap: tooltips instead
    assert "<title>0.weight[0,0] = " in page


def test_several_samples_get_a_column_each():
    e = explain_spec(EXAMPLES / "linear_chain_abcd.toml")
    page = e.to_html()
    n = e.diagram.samples
    assert n == 3
    assert "Values, one sample per column" in page
    assert "".join(f"<th>sample {k + 1}</th>" for k in range(n)) in page
    for name, values in e.diagram.rows:
        cells = "".join(f"<td>{fmt.num(v, e.precision)}</td>" for v in values)
        assert f"<tr><td>{name}</td>{cells}</tr>" in page


def test_values_per_sample_are_the_forward_pass():
    model = nn.Sequential(nn.Linear(2, 2, generator=3), nn.Sigmoid(), nn.Linear(2, 1, generator=4))
    x = np.array([[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]])
    e = cr.explain(model, F.mse_loss, x, np.zeros((3, 1)))
    rows = dict(e.diagram.rows)
    with cr.no_grad():
        hidden = model[1](model[0](cr.tensor(x, dtype=np.float64))).numpy()
    np.testing.assert_allclose(rows["out_h1"], hidden[:, 0], rtol=1e-12)
    np.testing.assert_allclose(rows["out_h2"], hidden[:, 1], rtol=1e-12)
    np.testing.assert_allclose(rows["i2"], x[:, 1])


KINK_SPEC = {
    "inputs": [[1.0, 2.0]],
    "targets": [[0.5]],
    "loss": "mse",
    "lr": 0.1,
    "layers": [
        {"weight": [[0.5, -0.25], [0.3, 0.2]], "bias": [0.0, 0.1], "activation": "relu"},
        {"weight": [[0.7, -0.4]], "bias": [0.2]},
    ],
}


def _spec_file(tmp_path, spec) -> pathlib.Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_kinks_are_explained_and_drawn(tmp_path):
    e = explain_spec(_spec_file(tmp_path, KINK_SPEC))
    page = e.to_html()
    assert "Kinks: where the loss has no derivative" in page
    assert KINK_EXPLANATION.replace("'", "&#x27;") in page
    for label in ("w1", "w2", "b1"):
        assert f"<li><strong>{label}</strong>: backprop gives" in page
    assert "one-sided: right −0.868, left 0" in page
    assert '<g class="unit kink" data-unit="h1">' in page
    assert '<g class="unit" data-unit="h2">' in page


def test_no_kink_section_without_kinks():
    page = explain_spec(EXAMPLES / "mazur_2_2_2.toml").to_html()
    assert "Kinks:" not in page and 'class="unit kink"' not in page


def test_katex_is_inlined_and_nothing_links_out():
    page = explain_spec(EXAMPLES / "relu_softmax_ce.toml").to_html()
    script = (KATEX_DIR / "katex.min.js").read_text(encoding="utf-8")
    assert f"<script>{script}</script>" in page
    fonts = sorted(p.stem for p in (KATEX_DIR / "fonts").glob("*.woff2"))
    assert page.count("src:url(data:font/woff2;base64,") == len(fonts) == 20
    assert "url(fonts/" not in page and re.search(r"url\((?!data:)", page) is None
    # Outside the inlined scripts nothing refers to a file or a URL (KaTeX's own code
    # names XML namespaces, and builds <img src=…> for \includegraphics, which its
    # default trust setting refuses).
    outside = _outside_scripts(page)
    assert re.search(r"<(script|img|link|iframe)[^>]*\s(src|href)=", outside) is None
    assert " href=" not in outside and " src=" not in outside
    assert "http" not in outside and "file:" not in outside
    assert page.count("<script>") == 2


def test_every_formula_carries_the_latex_renderers_translation():
    e = explain_spec(EXAMPLES / "relu_softmax_ce.toml")
    page = e.to_html()
    formulas = [b for b in e.blocks if isinstance(b, Eq | Matrix)]
    assert page.count("data-tex=") == len(formulas)
    first = next(b for b in formulas if isinstance(b, Eq))
    assert f'data-tex="{equation(first).replace("&", "&amp;")}"' in page


def test_user_names_are_escaped():
    model = nn.Sequential(nn.Linear(2, 1, generator=0), nn.Sigmoid())
    e = cr.explain(
        model,
        F.mse_loss,
        [[0.5, 0.25]],
        [[1.0]],
        lr=0.1,
        title='</title><script>alert("t")</script>',
        names={'<img src=x onerror="alert(1)">': "0.weight[0,0]"},
        notes=["<b>bold</b> & 'quoted'"],
    )
    for katex in (True, False):
        page = e.to_html(katex=katex)
        assert page.count("<script>") == (2 if katex else 0)
        page = _outside_scripts(page)
        assert "<img" not in page and "<b>" not in page
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
        assert "&lt;/title&gt;&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;" in page
    assert 'data-param="0.weight" data-index="0,0"' in page


def test_without_katex_a_small_page_with_the_diagram():
    page = explain_spec(EXAMPLES / "mazur_2_2_2.toml").to_html(katex=False)
    assert len(page) < 60_000
    assert "<script" not in page and "data-tex" not in page
    assert page.count('<g class="edge"') == 8
    assert "out_h1 = σ(net_h1) = 1/(1 + e^(−net_h1)) = 0.593269992" in page


def test_a_graph_that_is_not_a_chain_has_no_diagram():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, generator=0)

        def forward(self, x):
            return self.a(x).tanh() + x

    e = cr.explain(Residual(), F.mse_loss, [[0.1, 0.2]], [[0.0, 1.0]], lr=0.1)
    page = e.to_html()
    assert e.diagram is None and "<svg" not in _outside_scripts(page)
    assert page.count("data-tex=") == sum(isinstance(b, Eq | Matrix) for b in e.blocks)


def test_cli_format_html(tmp_path):
    out = tmp_path / "e.html"
    spec = str(EXAMPLES / "tanh_2_2_1.toml")
    assert main(["explain", spec, "--format", "html", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count('<g class="edge"') == 6
    assert "katex.render" in page


# -- the LaTeX it reuses: subscripts and superscripts that KaTeX (and pdflatex) accept --


@pytest.mark.parametrize(
    "formula, latex",
    [
        ("δ_o1", r"\delta _{o1}"),  # was "\delta _o_{1}": a double subscript
        ("δ_h1_2", r"\delta _{h1,2}"),
        ("1/(1 + e^(−net_h1))", r"1/(1\ +\ e^{-\mathrm{net}_{h1}})"),  # was e\hat{}(...)
        ("e^out", r"e^{\mathrm{out}}"),
        ("x_ (", r"x\_\ ("),
        ("2^(3", r"2\hat{}(3"),
    ],
)
def test_latex_scripts(formula, latex):
    assert math(formula) == latex


# -- in a real browser ---------------------------------------------------------------------


def _browser() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome")
    return next((shutil.which(b) for b in names if shutil.which(b)), None)


def _dump_dom(browser: str, page: pathlib.Path) -> str:
    done = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize("name", ["mazur_2_2_2", "relu_softmax_ce", "linear_chain_a_to_z"])
def test_katex_renders_in_headless_chromium(tmp_path, name):
    browser = _browser()
    if browser is None:
        pytest.skip("no headless chromium installed")
    e = explain_spec(EXAMPLES / f"{name}.toml")
    page = tmp_path / "e.html"
    page.write_text(e.to_html(), encoding="utf-8")
    dom = _dump_dom(browser, page)
    formulas = sum(isinstance(b, Eq | Matrix) for b in e.blocks)
    assert '<body class="katex-on">' in dom
    assert dom.count('<span class="katex">') == formulas
    assert 'class="katex-error"' not in dom
    assert dom.count("<math") == formulas  # KaTeX's MathML, for screen readers
    assert "∂E/∂" in dom


def test_a_large_network_is_summarized_quickly():
    import time

    model = nn.Sequential(
        nn.Linear(784, 256, generator=0), nn.ReLU(), nn.Linear(256, 10, generator=1)
    )
    x = np.random.default_rng(0).normal(size=(20, 784))
    e = cr.explain(model, F.cross_entropy, x, np.arange(20) % 10)
    start = time.perf_counter()
    page = e.to_html()
    assert time.perf_counter() - start < 2.0
    assert "<svg" not in _outside_scripts(page)  # 203,264 edges: not drawn
    assert "203264 weights in 2 layers: too many to draw" in page
    assert "The first 1000 of 203530 are listed." in page
    # 784 inputs, net/out/δ of 256 hidden units, net/δ of 10 outputs
    assert "The first 16 of 20 samples and 300 of 1572 quantities are shown." in page
