"""explain against backward(): every layer and loss, optimizers, sizes, renderers."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule.explain.render_latex import document


def _reference_grads(model, loss_fn, x, y):
    import copy

    m = copy.deepcopy(model).double()
    loss = loss_fn(m(cr.tensor(np.asarray(x, dtype=np.float64))), cr.tensor(np.asarray(y)))
    loss.backward()
    return {n: p.grad for n, p in m.named_parameters() if p.requires_grad}


ACTIVATIONS = [
    nn.Sigmoid,
    nn.Tanh,
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.Softplus,
    lambda: nn.Softmax(dim=-1),
    lambda: nn.LogSoftmax(dim=-1),
    nn.Identity,
]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: getattr(a, "__name__", "lambda"))
def test_every_activation_matches_backward(act):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4, generator=1), act(), nn.Linear(4, 2, generator=2))
    x, y = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    e = cr.explain(model, F.mse_loss, x, y, lr=0.1)
    for name, grad in _reference_grads(model, F.mse_loss, x, y).items():
        np.testing.assert_allclose(e.gradients[name], grad, rtol=1e-12, atol=1e-15)
    assert e.checks and e.all_checks_pass
    assert "✗" not in e.to_text()


LOSSES = {
    "mse": (F.mse_loss, "float"),
    "l1": (F.l1_loss, "float"),
    "huber": (F.huber_loss, "float"),
    "smooth_l1": (F.smooth_l1_loss, "float"),
    "bce": (lambda o, t: F.binary_cross_entropy(F.sigmoid(o), t), "prob"),
    "bce_logits": (F.binary_cross_entropy_with_logits, "prob"),
    "cross_entropy": (F.cross_entropy, "class"),
    "nll": (lambda o, t: F.nll_loss(F.log_softmax(o, dim=-1), t), "class"),
    "half_sse": (lambda o, t: 0.5 * F.mse_loss(o, t, reduction="sum"), "float"),
}


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_matches_backward(name):
    loss_fn, kind = LOSSES[name]
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(3, 3, generator=3), nn.Tanh(), nn.Linear(3, 3, generator=4))
    x = rng.normal(size=(4, 3))
    y = {
        "float": rng.normal(size=(4, 3)),
        "prob": rng.uniform(size=(4, 3)),
        "class": np.array([0, 2, 1, 2]),
    }[kind]
    e = cr.explain(model, loss_fn, x, y, lr=0.05)
    for pname, grad in _reference_grads(model, loss_fn, x, y).items():
        np.testing.assert_allclose(e.gradients[pname], grad, rtol=1e-12, atol=1e-15)
    assert e.all_checks_pass


def test_dropout_and_batchnorm_eval_and_train():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    model = nn.Sequential(
        nn.Linear(3, 4, generator=5),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Dropout(0.5, generator=0),
        nn.Linear(4, 2, generator=6),
    )
    model.eval()
    e = cr.explain(model, F.mse_loss, x, y, lr=0.1)
    assert e.all_checks_pass
    assert "eval mode: the running mean and variance" in e.to_text()
    model.train()
    e = cr.explain(model, F.mse_loss, x, y, lr=0.1)
    assert e.all_checks_pass  # the finite differences replay the same mask and batch
    text = e.to_text()
    assert "Dropout (train mode)" in text and "train mode: the batch's mean" in text
    assert model[1].running_mean.data.tolist() == [0, 0, 0, 0]  # the user's model untouched


def test_non_layered_model_is_explained_op_by_op():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, generator=7)
            self.b = nn.Linear(2, 2, generator=8)

        def forward(self, x):
            h = F.tanh(self.a(x))
            return self.b(h) + h

    x, y = [[0.3, -0.2]], [[0.1, 0.4]]
    e = cr.explain(Skip(), F.mse_loss, x, y, lr=0.1)
    assert e.form == "generic" and e.all_checks_pass
    for name, grad in _reference_grads(Skip(), F.mse_loss, x, y).items():
        np.testing.assert_allclose(e.gradients[name], grad, rtol=1e-12)


def test_aliases_and_param_selection():
    model = nn.Sequential(nn.Linear(2, 2, generator=9), nn.Sigmoid(), nn.Linear(2, 2, generator=10))
    e = cr.explain(
        model, F.mse_loss, [[0.1, 0.2]], [[0.0, 1.0]], lr=0.5, params=["w5", "0.weight[1,0]"]
    )
    labels = [c.label for c in e.checks]
    assert labels[:2] == ["w5", "w3"]  # w3 = i1 → h2 is 0.weight[1,0]
    with pytest.raises(ValueError, match="unknown parameter"):
        cr.explain(model, F.mse_loss, [[0.1, 0.2]], [[0.0, 1.0]], params=["nope"])


@pytest.mark.parametrize("opt_name", ["momentum", "adam", "rmsprop"])
def test_optimizer_updates_match_the_real_optimizer(opt_name):
    model = nn.Sequential(nn.Linear(2, 2, generator=11), nn.Tanh(), nn.Linear(2, 1, generator=12))
    model.double()
    x, y = np.array([[0.5, -1.0]]), np.array([[0.3]])
    make = {
        "momentum": lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9),
        "adam": lambda p: cr.optim.Adam(p, lr=0.01),
        "rmsprop": lambda p: cr.optim.RMSprop(p, lr=0.01),
    }[opt_name]
    e = cr.explain(model, F.mse_loss, x, y, optimizer=make(model.parameters()), steps=3)
    opt = make(model.parameters())
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(cr.tensor(x)), cr.tensor(y)).backward()
        opt.step()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(e.updated[name], p.data, rtol=1e-12)
    assert len(e.losses) == 3 and e.losses[-1] < e.losses[0]
    if opt_name == "adam":
        assert "exp_avg_sq" in e.to_text()


def test_steps_show_the_loss_going_down():
    model = nn.Sequential(
        nn.Linear(2, 2, generator=13), nn.Sigmoid(), nn.Linear(2, 2, generator=14)
    )
    e = cr.explain(model, F.mse_loss, [[0.05, 0.1]], [[0.01, 0.99]], lr=0.5, steps=5)
    assert len(e.losses) == 5 and all(b < a for a, b in zip(e.losses, e.losses[1:], strict=False))
    assert "(down ✓)" in e.to_text()


def test_wide_network_matrix_form_under_a_second():
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Linear(64, 64, generator=1),
        nn.ReLU(),
        nn.Linear(64, 64, generator=2),
        nn.ReLU(),
        nn.Linear(64, 10, generator=3),
    )
    x, y = rng.normal(size=(32, 64)), rng.integers(0, 10, size=32)
    cr.explain(model, F.cross_entropy, x, y, lr=0.1)  # warm up imports
    start = time.perf_counter()
    e = cr.explain(model, F.cross_entropy, x, y, lr=0.1, params=["2.weight[3,4]"])
    text = e.to_text()
    assert time.perf_counter() - start < 1.0
    assert e.form == "matrix" and e.all_checks_pass
    assert len(text) < 20_000  # never megabytes unasked
    assert "∂E/∂2.weight[3,4]" in text


def _explanation():
    model = nn.Sequential(
        nn.Linear(2, 2, generator=15), nn.Sigmoid(), nn.Linear(2, 2, generator=16)
    )
    return cr.explain(model, F.mse_loss, [[0.05, 0.1]], [[0.01, 0.99]], lr=0.5)


class _Checker(html.parser.HTMLParser):
    VOID = {"meta", "br", "img", "link", "hr", "input"}  # noqa: RUF012

    def __init__(self):
        super().__init__()
        self.stack, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def test_html_is_well_formed_and_self_contained():
    # The default page inlines KaTeX's scripts (issue 15: rendered maths, offline), so
    # "no script" holds for katex=False only; no page links out (tests/explain/
    # test_explain_html.py checks the inlined assets and URLs in detail).
    for katex in (True, False):
        page = _explanation().to_html(katex=katex)
        checker = _Checker()
        checker.feed(page)
        checker.close()
        assert not checker.stack
        assert "link" not in checker.tags and "∂E/∂w5" in page
        assert ("script" in checker.tags) == katex
    assert "http" not in _explanation().to_html(katex=False)


def test_html_in_headless_browser(tmp_path):
    browser = next(
        (
            shutil.which(b)
            for b in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(b)
        ),
        None,
    )
    if browser is None:
        pytest.skip("no headless browser installed")
    page = tmp_path / "e.html"
    page.write_text(_explanation().to_html(), encoding="utf-8")
    done = subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "∂E/∂w5" in done.stdout


def test_latex_is_ascii_and_compiles(tmp_path):
    fragment = _explanation().to_latex()
    assert fragment.isascii()
    assert r"\partial" in fragment
    if shutil.which("pdflatex") is None:
        pytest.skip("no TeX installation")
    (tmp_path / "e.tex").write_text(document(fragment))
    subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "e.tex"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert (tmp_path / "e.pdf").exists()


def test_dot_graph(tmp_path):
    e = _explanation()
    dot = e.to_dot()
    assert dot.startswith("digraph") and "linear" in dot and "0.weight" in dot
    out = e.render_graph(tmp_path / "graph.svg")
    assert out.exists()
    if shutil.which("dot") is None:
        assert out.suffix == ".dot"
