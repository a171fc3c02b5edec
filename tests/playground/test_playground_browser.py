"""The playground in a real headless browser (Playwright with the system's chromium):
load, play, the loss falls, click a weight, and the derivation's numbers are explain's.

Skipped without Playwright for Python or a chromium on PATH (Debian: apt install
chromium; CHAINRULE_CHROMIUM names another binary). Never downloads a browser.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

import chainrule as cr  # noqa: E402
from chainrule.explain import fmt  # noqa: E402
from chainrule.explain.spec import build, read  # noqa: E402
from chainrule.playground.server import create_app  # noqa: E402

MAZUR = pathlib.Path(__file__).resolve().parents[2] / "examples" / "explain" / "mazur_2_2_2.toml"
CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM") or next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")


@pytest.fixture(scope="module")
def url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(url)
    tab.wait_for_selector("#diagram path.hit")
    yield tab
    context.close()
    assert errors == []


def _loss(page) -> float:
    return float(page.get_attribute("#loss-train", "data-value"))


def test_play_trains_and_the_loss_falls(page):
    page.wait_for_function("document.querySelector('#loss-train').dataset.value")
    first = _loss(page)
    page.click("#play")
    page.wait_for_function(
        f"Number(document.querySelector('#loss-train').dataset.value) < {0.8 * first}",
        timeout=20_000,
    )
    page.click("#play")
    page.wait_for_selector("#play:has-text('play')")
    assert _loss(page) < 0.8 * first
    assert page.inner_text("#counter").startswith("step ")
    drawn = page.evaluate(
        "(() => { const c = document.querySelector('#heatmap');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " return new Set(d).size; })()"
    )
    assert drawn > 10  # the heat map is painted, not blank


def _explained(model_kwargs: dict, element: str = "w5"):
    return cr.explain(**{**model_kwargs, "params": [element]})


def test_clicking_a_weight_shows_explains_derivation(page):
    page.click("button[data-preset=mazur_2_2_2]")
    page.wait_for_selector("#data-info:has-text('2-2-2 sigmoid')")
    page.locator('#diagram path.hit[data-layer="1"][data-row="0"][data-col="0"]').dispatch_event(
        "click"
    )
    page.wait_for_selector("#d-label:has-text('w5')")
    spec = build(read(MAZUR))
    first = _explained(spec)
    assert page.inner_text("#d-grad") == fmt.num(first.gradients["2.weight"][0, 0], 9)
    assert page.inner_text("#d-grad") == "0.0821670406"
    assert page.inner_text("#d-loss") == fmt.num(first.losses[0], 9)
    assert page.inner_text("#d-fd").startswith("0.082167 ✓")
    assert page.inner_text("#d-after") == fmt.num(first.updated["2.weight"][0, 0], 9)
    assert page.locator("#derivation .katex").count() > 20  # maths rendered by KaTeX
    assert page.locator("#derivation .katex-error").count() == 0  # and all of it valid
    assert page.inner_text("#d-focus").startswith("∂E/∂w5")  # its chain comes first
    assert "0.593269992" in page.inner_text("#derivation")  # out_h1 of the tutorial

    # One step later the panel follows: compare with explain on the stepped network
    # (the playground trains the biases too, so none are frozen here).
    for p in spec["model"].parameters():
        p.requires_grad = True
    stepped = cr.explain(**{**spec, "lr": 0.5})
    with cr.no_grad():
        for name, p in spec["model"].named_parameters():
            p.data[...] = stepped.updated[name]
    expected = _explained({**spec, "lr": None})
    page.click("#step")
    page.wait_for_selector("#d-step:has-text('1 (next batch')")
    assert page.inner_text("#d-grad") == fmt.num(expected.gradients["2.weight"][0, 0], 9)
    assert np.isclose(float(page.inner_text("#d-value")), stepped.updated["2.weight"][0, 0])


# A piece of each optimizer's update line, to know the panel shows the new optimizer.
UPDATE_MARKS = {
    "sgd": "− η · g",
    "momentum": "− η·buf⁺",
    "nesterov": "μ·buf⁺)",
    "adagrad": "sum⁺",
    "rmsprop": "√v⁺",
    "adadelta": "u⁺",
    "adam": "m̂",
}


@pytest.mark.parametrize("loss", ["bce_with_logits", "huber"])
def test_every_formula_of_a_derivation_renders(page, loss):
    # Matrix form (250 rows), every optimizer's update lines, batch norm and dropout notes.
    page.select_option("#loss", loss)
    page.select_option("#dropout", "0.1")
    page.check("#batch-norm")
    page.select_option("#l2", "0.01")
    page.locator('#diagram path.hit[data-layer="0"][data-row="1"][data-col="0"]').dispatch_event(
        "click"
    )
    for optimizer, mark in UPDATE_MARKS.items():
        page.select_option("#optimizer", optimizer)
        page.click("#step")
        page.wait_for_selector(f'#d-update .eq[data-text*="{mark}"]')
        assert page.locator("#derivation .katex-error").count() == 0, optimizer
        assert "Batch norm in layer 1" in page.inner_text("#derivation")
        assert page.inner_text("#d-focus").startswith("∂E/∂0.weight[1,0]")
