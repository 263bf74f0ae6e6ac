"""The playground server: FastAPI app, one WebSocket per browser tab, static page.

``create_app(limits)`` builds the app; ``serve(host, port, open_browser)`` runs it with
uvicorn (``descentlab playground`` on the command line). Each connection owns a
:class:`~descentlab.web.session.Session`; a ticker task advances its playing runs at
most ``limits.max_fps`` times a second. Heavy work (a training epoch, a surface or a
boundary grid) runs in a worker thread so that other tabs keep streaming, and one
connection's requests are handled one at a time. Every client message is validated
(:mod:`descentlab.web.protocol`); a refused one is answered with an ``error`` message
and the tab, its runs and the server keep going.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from descentlab.web.protocol import Limits, ProtocolError, parse_client_message
from descentlab.web.session import Session, hello, registry

__all__ = ["STATIC_DIR", "Limits", "create_app", "serve"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("descentlab.web")

_MISSING_PAGE = """<!doctype html><meta charset="utf-8"><title>descentlab playground</title>
<p>The playground page (descentlab/web/static/index.html) is missing from this install.
The API is up: <a href="/api/health">/api/health</a>, WebSocket at <code>/ws</code>.</p>"""

#: WebSocket close code for "try again later" (server full).
CLOSE_TRY_AGAIN = 1013


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, allow_nan=False, separators=(",", ":"))


class _Connection:
    """One WebSocket: its session, a send lock and the ticker task."""

    def __init__(self, ws: WebSocket, limits: Limits) -> None:
        self.ws = ws
        self.limits = limits
        self.session = Session(limits)
        self.lock = asyncio.Lock()  # one request or frame at a time per session
        self.send_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.closed = False

    async def send(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        text = _dumps(msg)
        async with self.send_lock:
            await self.ws.send_text(text)

    async def send_all(self, msgs: list[dict[str, Any]]) -> None:
        for msg in msgs:
            await self.send(msg)

    async def handle_text(self, raw: str | bytes) -> None:
        request = None
        out: list[dict[str, Any]] = []
        try:
            msg = parse_client_message(raw, self.limits)
            request = getattr(msg, "type", None)
            async with self.lock:
                if request == "ping":
                    out = self.session.handle(msg)
                else:
                    out = await anyio.to_thread.run_sync(self.session.handle, msg)
        except ProtocolError as err:
            if err.request is None:
                err.request = request
            out = [err.as_message()]
        except Exception as err:  # a bug must not end the tab or the server
            log.exception("error while handling a playground message")
            out = [{"type": "error", "message": f"internal error: {err}", "field": None,
                    "request": request}]
        await self.send_all(out)
        if self.session.playing:
            self.wake.set()

    async def ticker(self) -> None:
        period = 1.0 / self.limits.max_fps
        while not self.closed:
            if not self.session.playing:
                self.wake.clear()
                await self.wake.wait()
                continue
            t0 = time.perf_counter()
            try:
                async with self.lock:
                    if self.session.light_tick:  # a few race steps: cheaper than a thread hop
                        frames = self.session.tick()
                    else:
                        frames = await anyio.to_thread.run_sync(self.session.tick)
            except Exception as err:  # stop the runs, keep the tab
                log.exception("error while advancing a playground run")
                self.session.pause()
                frames = [{"type": "error", "message": f"internal error: {err}; the runs "
                           "were paused", "field": None, "request": None}]
            await self.send_all(frames)
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t0)))


def create_app(limits: Limits | None = None) -> FastAPI:
    """The playground app: ``/`` and ``/static`` (the page), ``/api/registry``,
    ``/api/health`` and the WebSocket ``/ws`` (protocol in ``docs/playground.md``)."""
    limits = limits or Limits()
    app = FastAPI(title="descentlab playground", version="1")
    app.state.limits = limits
    app.state.connections = set()
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> Any:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page)
        return HTMLResponse(_MISSING_PAGE)

    @app.get("/api/registry")
    async def api_registry() -> JSONResponse:
        return JSONResponse(registry())

    @app.get("/api/health")
    async def api_health() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await ws.accept()
        connections: set[_Connection] = app.state.connections
        if len(connections) >= limits.max_sessions:
            with contextlib.suppress(Exception):
                await ws.send_text(_dumps({
                    "type": "error", "field": None, "request": None,
                    "message": f"the server is full ({limits.max_sessions} sessions); "
                               "try again later"}))
                await ws.close(code=CLOSE_TRY_AGAIN)
            return
        conn = _Connection(ws, limits)
        connections.add(conn)
        ticker: asyncio.Task[None] | None = None
        try:
            await conn.send(hello(limits))
            ticker = asyncio.create_task(conn.ticker())
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                await conn.handle_text(raw)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            conn.closed = True
            connections.discard(conn)
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ticker
            async with conn.lock:  # let a request in a worker thread finish first
                conn.session.close()

    return app


def _check_port_free(host: str, port: int) -> None:
    """Fail early, with one clear line, when the address cannot be listened on."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be an integer in 1..65535, got {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OSError(f"cannot listen on {host}:{port}: unknown host ({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as err:
            raise OSError(f"cannot listen on {host}:{port}: {err.strerror}; choose another "
                          "--port") from None


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, *,
          limits: Limits | None = None, log_level: str = "info") -> None:
    """Run the playground with uvicorn at ``http://host:port/`` until interrupted.

    The browser is opened (``webbrowser``) once the server is up, unless
    ``open_browser`` is False. WebSocket frames far beyond ``max_message_bytes`` are
    refused by uvicorn itself (the connection closes); smaller oversized messages get
    an ``error`` answer.
    """
    import uvicorn

    _check_port_free(host, port)
    limits = limits or Limits()
    config = uvicorn.Config(
        create_app(limits), host=host, port=port, log_level=log_level,
        ws_max_size=max(1 << 20, 16 * limits.max_message_bytes), ws_ping_interval=20.0,
    )
    server = uvicorn.Server(config)
    if open_browser:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        url = f"http://{shown}:{port}/"

        def open_when_up() -> None:
            for _ in range(300):
                if server.started:
                    webbrowser.open(url)
                    return
                if server.should_exit:
                    return
                time.sleep(0.05)

        threading.Thread(target=open_when_up, daemon=True).start()
    server.run()
