"""The playground's web app: Starlette routes for the page and its assets, and one
WebSocket per tab that carries the page's requests and the server's frames.

Messages are JSON objects with a ``type``. From the page: ``config``, ``data``,
``preset``, ``upload``, ``play``, ``pause``, ``step``, ``epoch``, ``reset``,
``select`` (a weight, bias or unit; ``null`` to clear), ``surface``. From the server:
``data``, ``frame``, ``derivation``, ``surface``, ``status`` and ``error``. A message the
server cannot use (not JSON, too large, an unknown type, a bad field) is answered with an
``error`` naming the problem; the connection stays open.

The page is served only under the names the server was started for (``Host``), and a
WebSocket only from its own page (``Origin``), so another web site open in the same
browser cannot drive the playground.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._vendor import KATEX_DIR
from . import surfaces
from .datasets import MAX_UPLOAD_BYTES
from .session import Session, Target, TrainingStopped

STATIC = Path(__file__).with_name("static")
# A message is a few hundred bytes; an upload carries a CSV file (base64: 4/3 of its size).
MAX_MESSAGE = MAX_UPLOAD_BYTES * 4 // 3 + 4096
FRAME_BUDGET = 0.03  # seconds of training per frame while playing
FRAME_PAUSE = 0.01  # seconds between frames, for the page's own messages
DERIVATION_EVERY = 0.3  # seconds between derivations of the selection while playing
LOCAL_NAMES = ["127.0.0.1", "localhost", "[::1]", "::1", "testserver"]
# The engine's switches are process-wide: ``no_grad`` (a heat map being drawn) turns off
# recording for every thread, and explain's ``listen_backward`` hears every backward().
# So the tabs' computations take turns, one at a time; their state stays their own.
ENGINE = threading.Lock()


def locked(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` while holding ENGINE (called in a worker thread)."""
    with ENGINE:
        return fn(*args)


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


class Tab:
    """One WebSocket connection and its session; training runs in a worker thread."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self.session = Session()
        self.lock = asyncio.Lock()  # one computation on the session at a time
        self.send_lock = asyncio.Lock()
        self.playing = False
        self.player: asyncio.Task | None = None
        self.selected: Target | None = None
        self.last_derivation = 0.0

    async def send(self, message: dict[str, Any]) -> None:
        try:
            text = json.dumps(message, allow_nan=False, default=_plain)
        except ValueError:  # a NaN or infinite loss: null in JSON
            text = json.dumps(_nan_to_none(message), allow_nan=False, default=_plain)
        async with self.send_lock:
            await self.ws.send_text(text)

    async def error(self, text: str) -> None:
        await self.send({"type": "error", "message": text})

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        async with self.lock:
            return await asyncio.to_thread(locked, fn, *args)

    async def send_frame(self, derive: bool = True) -> None:
        frame = await self.run(self.session.frame)
        frame["playing"] = self.playing
        await self.send(frame)
        if derive and self.selected is not None:
            await self.send_derivation()

    async def send_derivation(self) -> None:
        self.last_derivation = time.monotonic()
        try:
            message = await self.run(self.session.derivation, self.selected)
        except ValueError as error:
            self.selected = None
            await self.error(str(error))
            return
        await self.send(message)

    async def play(self) -> None:
        """Steps for FRAME_BUDGET seconds, a frame, a short pause; until paused."""
        try:
            while self.playing:
                await self.run(self._steps)
                due = time.monotonic() - self.last_derivation > DERIVATION_EVERY
                await self.send_frame(derive=due)
                await asyncio.sleep(FRAME_PAUSE)
        except (TrainingStopped, ValueError) as error:
            self.playing = False
            await self.error(str(error))
            await self.send_frame(derive=False)
        except (WebSocketDisconnect, RuntimeError):  # the tab closed while playing
            self.playing = False

    def _steps(self) -> None:
        started = time.perf_counter()
        self.session.step()
        while time.perf_counter() - started < FRAME_BUDGET:
            self.session.step()

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        session = self.session
        if kind == "play":
            if not self.playing:
                self.playing = True
                self.player = asyncio.create_task(self.play())
            return
        if kind == "pause":
            await self.stop()
            await self.send_frame()
            return
        if kind in ("step", "epoch"):
            await self.stop()
            await self.run(session.step if kind == "step" else session.epoch)
            await self.send_frame()
            return
        if kind == "reset":
            await self.run(session.reset)
            await self.send_frame()
            return
        if kind in ("config", "data", "preset", "upload"):
            await self.change(kind, message)
            return
        if kind == "select":
            target = message.get("target")
            self.selected = None if target is None else Target.from_dict(target)
            if self.selected is not None:
                await self.send_derivation()
            return
        if kind == "surface":
            await self.send(await asyncio.to_thread(locked, surfaces.run, message))
            return
        raise ValueError(
            f"unknown message type {kind!r}; expected one of config, data, preset, upload, "
            "play, pause, step, epoch, reset, select, surface"
        )

    async def change(self, kind: str, message: dict[str, Any]) -> None:
        session = self.session
        if kind == "config":
            await self.run(session.set_config, message.get("config"))
        elif kind == "data":
            await self.run(session.set_toy, message.get("data"))
        elif kind == "preset":
            await self.run(session.set_preset, message.get("name"))
        else:
            name, raw = _upload(message)
            await self.run(session.set_csv, name, raw, message.get("target") or None)
        if kind != "config":  # new data: another network, the clicked weight is gone
            self.selected = None
            await self.send(await self.run(session.points))
        await self.send_frame()

    async def stop(self) -> None:
        self.playing = False
        if self.player is not None:
            await self.player
            self.player = None


def _upload(message: dict[str, Any]) -> tuple[str, bytes]:
    """The file of an ``upload`` message: {name, content (base64)}, size-capped."""
    name, content = message.get("name"), message.get("content")
    if not isinstance(name, str) or not isinstance(content, str):
        raise ValueError("upload expected {name: text, content: the file in base64}")
    if len(content) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ValueError(
            f"{name}: the upload is larger than the playground's {MAX_UPLOAD_BYTES:,}-byte limit"
        )
    try:
        raw = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: the upload's content is not base64") from None
    return name[:200], raw


def _plain(value: Any) -> Any:
    """NumPy scalars and NaN for JSON (NaN is not JSON: it becomes null)."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    return value


def _same_origin(websocket: WebSocket) -> bool:
    """A browser sends Origin with every WebSocket; it must be this server's own page."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (a test client, a script run by the user)
    host = websocket.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def socket(websocket: WebSocket) -> None:
    if not _same_origin(websocket):
        await websocket.close(code=1008)
        return
    await websocket.accept()
    tab = Tab(websocket)
    try:
        await tab.send(tab.session.points())
        await tab.send_frame()
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                break
            text = received.get("text")
            if text is None:
                await tab.error("expected a JSON text message, got binary data")
                continue
            if len(text) > MAX_MESSAGE:
                await tab.error(
                    f"message of {len(text):,} characters is larger than the {MAX_MESSAGE:,} "
                    "allowed (uploads are limited to "
                    f"{MAX_UPLOAD_BYTES:,} bytes)"
                )
                continue
            try:
                message = json.loads(text)
            except ValueError as error:
                await tab.error(f"expected a JSON message, got invalid JSON ({error})")
                continue
            if not isinstance(message, dict):
                await tab.error(
                    f"expected a JSON object with a 'type', got {type(message).__name__}"
                )
                continue
            try:
                await tab.handle(message)
            except (ValueError, TypeError) as error:  # DataError, bad fields: said, not fatal
                await tab.error(str(error))
    except WebSocketDisconnect:
        pass
    finally:
        tab.playing = False
        if tab.player is not None:
            tab.player.cancel()


def create_app(hosts: list[str] | None = None) -> Starlette:
    """The ASGI app. ``hosts``: Host names accepted besides the local ones."""
    routes = [
        Route("/", index),
        WebSocketRoute("/ws", socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Mount("/katex", StaticFiles(directory=KATEX_DIR), name="katex"),
    ]
    allowed = [*LOCAL_NAMES, *(hosts or [])]
    return Starlette(
        routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed)]
    )


def serve(host: str, port: int, open_browser: bool = True) -> None:
    """Run the app on ``host:port`` (0: a free port) until Ctrl-C; open the browser once
    the socket is bound. Raises OSError when the address cannot be bound."""
    import socket as sockets
    import webbrowser

    import uvicorn

    family = sockets.AF_INET6 if ":" in host else sockets.AF_INET
    sock = sockets.socket(family, sockets.SOCK_STREAM)
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    extra = [] if host in ("127.0.0.1", "localhost", "::1") else [host, shown]
    config = uvicorn.Config(
        create_app(extra), log_level="warning", ws_max_size=MAX_MESSAGE + 1024, lifespan="off"
    )
    server = uvicorn.Server(config)
    print(f"chainrule playground: {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
