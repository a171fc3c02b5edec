"""The playground's server through Starlette's TestClient: messages good and bad, uploads,
two tabs at once, and what it serves (skipped without the 'playground' extra)."""

from __future__ import annotations

import base64
import json
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
with warnings.catch_warnings():  # newer Starlette prefers httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from chainrule.playground.datasets import MAX_UPLOAD_BYTES
from chainrule.playground.server import MAX_MESSAGE, create_app


@pytest.fixture
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def receive(ws, kind: str, limit: int = 50) -> dict:
    """The next message of type ``kind`` (frames of a running play loop are skipped)."""
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == kind:
            return message
        assert message["type"] != "error" or kind == "error", message
    raise AssertionError(f"no {kind} message in {limit}")


def opened(client):
    ws = client.websocket_connect("/ws")
    socket = ws.__enter__()
    assert socket.receive_json()["type"] == "data"
    assert socket.receive_json()["type"] == "frame"
    return ws, socket


def test_the_page_and_its_assets_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "chainrule playground" in page.text
    for path in ("/static/app.js", "/static/style.css", "/katex/katex.min.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/katex/fonts/KaTeX_Main-Regular.woff2").status_code == 200
    assert client.get("/static/../server.py").status_code == 404


def test_other_host_names_are_refused(client):
    # DNS rebinding: a page of another site that resolves to 127.0.0.1 sends its own Host.
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


def test_a_websocket_from_another_sites_page_is_refused(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


BAD_MESSAGES = [
    # (what is sent, a substring of the error)
    ("not json", "expected a JSON message, got invalid JSON"),
    ("[1, 2]", "expected a JSON object with a 'type', got list"),
    ('{"type": "dance"}', "unknown message type 'dance'"),
    ('{"no": "type"}', "unknown message type None"),
    ('{"type": "config", "config": {"hidden": [100]}}', "'hidden' expected up to 6"),
    ('{"type": "config", "config": 5}', "config expected an object"),
    ('{"type": "config", "config": {"lr": 1e999}}', "'lr' expected a number"),
    ('{"type": "data", "data": {"kind": "moons"}}', "data set expected one of"),
    ('{"type": "data", "data": {"kind": "xor", "n": 10000000}}', "points expected an integer"),
    ('{"type": "preset", "name": 7}', "preset expected one of"),
    ('{"type": "select", "target": {"kind": "weight", "layer": 9, "row": 0}}', "target layer"),
    ('{"type": "select", "target": "w5"}', "target expected"),
    ('{"type": "surface", "surface": "saddle"}', "surface expected one of"),
    ('{"type": "surface", "steps": 100000000}', "steps expected an integer"),
    ('{"type": "upload", "name": "a.csv"}', "upload expected {name"),
    ('{"type": "upload", "name": "a.csv", "content": "%%%"}', "not base64"),
    (
        '{"type": "upload", "name": "a.csv", "content": "YSxi"}',
        "a.csv: has a header row but no data",
    ),
    ("x" * (MAX_MESSAGE + 1), "is larger than the"),
]


@pytest.mark.parametrize(("text", "message"), BAD_MESSAGES)
def test_a_bad_message_gets_an_error_and_the_tab_keeps_working(client, text, message):
    ws, socket = opened(client)
    try:
        socket.send_text(text)
        error = receive(socket, "error")
        assert message in error["message"]
        socket.send_text('{"type": "step"}')
        assert receive(socket, "frame")["step"] == 1
    finally:
        ws.__exit__(None, None, None)


def test_binary_messages_are_refused_with_an_error(client):
    ws, socket = opened(client)
    try:
        socket.send_bytes(b"\x00\x01")
        assert "expected a JSON text message" in receive(socket, "error")["message"]
    finally:
        ws.__exit__(None, None, None)


def _upload(name: str, raw: bytes) -> str:
    content = base64.b64encode(raw).decode()
    return json.dumps({"type": "upload", "name": name, "content": content})


def test_oversize_uploads_are_refused_before_parsing(client):
    ws, socket = opened(client)
    try:
        socket.send_text(_upload("big.csv", b"a,b\n" + b"1,2\n" * (MAX_UPLOAD_BYTES // 4)))
        assert "1,000,000-byte limit" in receive(socket, "error")["message"]
    finally:
        ws.__exit__(None, None, None)


def test_a_csv_upload_becomes_the_data(client):
    rows = "x1,x2,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    ws, socket = opened(client)
    try:
        socket.send_text(_upload("small.csv", rows.encode()))
        data = receive(socket, "data")
        assert data["source"] == "small.csv" and data["rows"] == [32, 8]
        assert data["task"] == "classification" and data["names"] == ["x1", "x2"]
        assert receive(socket, "frame")["heatmap"] is not None
    finally:
        ws.__exit__(None, None, None)


def test_two_tabs_are_independent(client):
    first, a = opened(client)
    second, b = opened(client)
    try:
        a.send_text('{"type": "config", "config": {"hidden": [3]}}')
        receive(a, "frame")
        a.send_text('{"type": "epoch"}')
        assert receive(a, "frame")["step"] == 1
        b.send_text('{"type": "preset", "name": "mazur_2_2_2"}')
        assert receive(b, "data")["preset"].startswith("The 2-2-2 sigmoid")
        frame = receive(b, "frame")
        assert frame["step"] == 0 and frame["network"]["layers"][0]["weight"][0] == [0.15, 0.2]
        a.send_text('{"type": "step"}')
        frame = receive(a, "frame")
        assert frame["step"] == 2 and len(frame["network"]["layers"][0]["weight"]) == 3
        b.send_text(
            '{"type": "select", "target": {"kind": "weight", "layer": 1, "row": 0, "col": 0}}'
        )
        derivation = receive(b, "derivation")
        assert derivation["label"] == "w5" and derivation["grad"] == "0.0821670406"
    finally:
        second.__exit__(None, None, None)
        first.__exit__(None, None, None)


def test_play_trains_until_paused_and_refreshes_the_selected_derivation(client):
    ws, socket = opened(client)
    try:
        socket.send_text('{"type": "config", "config": {"lr": 0.3}}')
        first = receive(socket, "frame")["history"][-1][1]
        socket.send_text('{"type": "select", "target": {"kind": "unit", "layer": 0, "row": 1}}')
        assert receive(socket, "derivation")["name"] == "0.bias"
        socket.send_text('{"type": "play"}')
        frames = [receive(socket, "frame") for _ in range(5)]
        assert all(f["playing"] for f in frames) and frames[-1]["step"] > frames[0]["step"] > 0
        derivation = receive(socket, "derivation", limit=200)
        assert derivation["step"] > 0
        socket.send_text('{"type": "pause"}')
        for _ in range(200):
            frame = receive(socket, "frame")
            if not frame["playing"]:
                break
        assert not frame["playing"] and frame["history"][-1][1] < first
    finally:
        ws.__exit__(None, None, None)


def test_surface_requests_are_answered_with_paths(client):
    ws, socket = opened(client)
    try:
        socket.send_text('{"type": "surface", "surface": "rosenbrock", "steps": 20}')
        result = receive(socket, "surface")
        assert len(result["paths"]) == 7 and len(result["paths"][0]["points"]) == 21
    finally:
        ws.__exit__(None, None, None)


def test_a_settings_change_keeps_the_selection_and_sends_no_new_data(client):
    # Regression: a "data" message after a settings change cleared the page's selection,
    # so the derivations that followed were dropped.
    ws, socket = opened(client)
    try:
        socket.send_text('{"type": "select", "target": {"kind": "bias", "layer": 1, "row": 0}}')
        assert receive(socket, "derivation")["label"] == "2.bias[0]"
        socket.send_text('{"type": "config", "config": {"optimizer": "adam"}}')
        assert socket.receive_json()["type"] == "frame"
        assert socket.receive_json()["type"] == "derivation"
        socket.send_text('{"type": "step"}')
        assert socket.receive_json()["type"] == "frame"
        derivation = socket.receive_json()
        assert derivation["type"] == "derivation" and derivation["optimizer"] == "Adam"
    finally:
        ws.__exit__(None, None, None)


def test_tabs_training_in_threads_at_once_get_their_own_numbers():
    # Regression: grad mode and explain's backward listener are process-wide, so a heat
    # map drawn under no_grad in one tab's thread, or a derivation, would corrupt another
    # tab's step. The server runs every tab's computation under one lock.
    import threading

    from chainrule.playground.server import locked
    from chainrule.playground.session import Session, Target

    def work(session: Session, out: list) -> None:
        for _ in range(30):
            locked(session.step)
            locked(session.frame)
            out.append(locked(session.derivation, Target("weight", 1, 1, 1))["grad"])

    results: list[list] = [[], []]
    sessions = [Session(), Session()]
    threads = [
        threading.Thread(target=work, args=(s, r)) for s, r in zip(sessions, results, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone: list = []
    work(Session(), alone)
    assert results[0] == alone and results[1] == alone
