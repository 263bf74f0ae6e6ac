"""The playground server: FastAPI app, one WebSocket per browser tab, static page.

``create_app(limits)`` builds the app; ``serve(host, port, open_browser)`` runs it with
uvicorn (``descentlab playground`` on the command line). Each connection owns a
:class:`~descentlab.web.session.Session`; a ticker task advances its playing runs at
most ``limits.max_fps`` times a second. Heavy work (parsing a message, a training epoch,
a surface or a boundary grid) runs in a worker thread so that other tabs keep
streaming, and one connection's requests are handled one at a time, in order, from a
queue of at most ``limits.max_pending`` requests. Every client message is validated
(:mod:`descentlab.web.protocol`); a refused one is answered with an ``error`` message
and the tab, its runs and the server keep going. When a tab goes, its work stops.

The server answers only its own origin: a request whose ``Host`` is not the bound
address (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``; DNS rebinding) or
whose ``Origin`` is another site (or ``null``) is refused with 403 (HTTP) or a
rejected handshake, close code 1008 (WebSocket). A WebSocket without ``Origin`` (a
non-browser client such as ``websockets``; browsers always send one) is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import os
import socket
import threading
import time
import webbrowser
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from descentlab.web.protocol import Limits, ProtocolError, error_message, parse_client_message
from descentlab.web.session import Session, hello, registry

__all__ = ["STATIC_DIR", "Limits", "allowed_hosts_for", "create_app", "serve"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger("descentlab.web")

_MISSING_PAGE = """<!doctype html><meta charset="utf-8"><title>descentlab playground</title>
<p>The playground page (descentlab/web/static/index.html) is missing from this install.
The API is up: <a href="/api/health">/api/health</a>, WebSocket at <code>/ws</code>.</p>"""

#: WebSocket close code for "try again later" (server full).
CLOSE_TRY_AGAIN = 1013
#: WebSocket close code for a refused origin or host.
CLOSE_POLICY_VIOLATION = 1008
#: Worker threads for heavy work, shared by all tabs: more than the cores only adds
#: memory (a stack and an allocator arena per thread), not speed.
WORKER_THREADS = max(4, 2 * (os.cpu_count() or 2))
#: The names of the loopback address, as they appear in a Host header.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("", "0.0.0.0", "::", "[::]")


def allowed_hosts_for(host: str, port: int | None) -> frozenset[str]:
    """The ``Host`` header values of a server bound to ``host:port``: the loopback names
    and ``host`` itself (unless a wildcard), each with ``:port`` (bare too for port 80)."""
    names = set(LOOPBACK_NAMES)
    host = host.strip().lower()
    if host not in _WILDCARDS:
        names.add(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    if port is None:
        return frozenset(names)
    out = {f"{name}:{port}" for name in names}
    if port == 80:
        out |= names
    return frozenset(out)


class SameOriginMiddleware:
    """Refuse HTTP requests and WebSocket handshakes from another site or host.

    ``allowed_hosts`` are the accepted ``Host`` header values; None means the loopback
    names with the port the server is listening on (the ASGI scope's ``server``). The
    accepted origins are ``http://`` + an accepted host; a request without ``Origin`` is
    accepted (same-origin GETs and non-browser clients send none)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None = None) -> None:
        self.app = app
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.strip().lower() for h in allowed_hosts)
        )

    def _hosts(self, scope: Scope) -> frozenset[str]:
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        server = scope.get("server")
        port = server[1] if server and len(server) > 1 else None
        return allowed_hosts_for("127.0.0.1", port)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request is refused, or None."""
        headers = Headers(scope=scope)
        hosts = self._hosts(scope)
        host = headers.get("host")
        if host is None or host.strip().lower() not in hosts:
            return f"host {host!r} is not this server"
        origin = headers.get("origin")
        if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in hosts}:
            return f"origin {origin!r} is not this server"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is None:
            await self.app(scope, receive, send)
            return
        log.warning("refused %s %s: %s", scope["type"], scope.get("path"), reason)
        if scope["type"] == "http":
            await PlainTextResponse(f"forbidden: {reason}", status_code=403)(scope, receive, send)
            return
        await receive()  # websocket.connect
        await WebSocketClose(CLOSE_POLICY_VIOLATION, reason[:120])(scope, receive, send)


def _release_memory() -> None:
    """Give the memory of closed tabs back to the system: collect cycles, then ask glibc's
    allocator to return its free pages (worker threads leave them in per-thread arenas)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).malloc_trim(0)


def _is_race_pause(raw: str | bytes) -> bool:
    """Whether a raw client message asks to pause the race (read as it arrives, before it
    waits in the queue behind the frame being computed)."""
    if len(raw) > 200:
        return False
    try:
        msg = json.loads(raw)
    except ValueError:  # the worker answers malformed messages
        return False
    return (
        isinstance(msg, dict) and msg.get("type") == "race.control" and msg.get("action") == "pause"
    )


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, allow_nan=False, separators=(",", ":"))


class _Connection:
    """One WebSocket: its session, its queue of pending requests, a worker that answers
    them in order and a ticker that streams the playing runs."""

    def __init__(
        self, ws: WebSocket, limits: Limits, threads: anyio.CapacityLimiter | None = None
    ) -> None:
        self.ws = ws
        self.limits = limits
        self.threads = threads
        self.session = Session(limits)
        self.lock = asyncio.Lock()  # one request or frame at a time per session
        self.send_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.pending: asyncio.Queue[str | bytes] = asyncio.Queue(maxsize=limits.max_pending)
        self.closed = False

    async def send(self, msg: dict[str, Any]) -> None:
        if self.closed:
            return
        text = _dumps(msg)
        async with self.send_lock:
            try:
                await self.ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):  # the tab went away mid-send
                self.close()

    async def send_all(self, msgs: list[dict[str, Any]]) -> None:
        for msg in msgs:
            await self.send(msg)

    def close(self) -> None:
        """Stop everything this tab started (safe to call twice)."""
        self.closed = True
        self.session.cancel()
        self.wake.set()

    async def submit(self, raw: str | bytes) -> None:
        """Queue a request, or refuse it when the client floods."""
        try:
            self.pending.put_nowait(raw)
        except asyncio.QueueFull:
            await self.send(
                error_message(
                    f"too many requests waiting ({self.limits.max_pending}); this one was "
                    "dropped: wait for the answers before sending more",
                    "message",
                )
            )

    def _answer(self, raw: str | bytes) -> list[dict[str, Any]]:
        """Validate and answer one raw message (in a worker thread)."""
        request = None
        try:
            msg = parse_client_message(raw, self.limits)
            request = getattr(msg, "type", None)
            return self.session.handle(msg)
        except ProtocolError as err:
            if err.request is None:
                err.request = request
            return [err.as_message()]

    async def worker(self) -> None:
        """Answer the queued requests one at a time, in order."""
        while not self.closed:
            raw = await self.pending.get()
            try:
                async with self.lock:
                    out = await anyio.to_thread.run_sync(self._answer, raw, limiter=self.threads)
                    await self.send_all(out)
            except Exception as err:  # a bug must not end the tab or the server
                log.exception("error while handling a playground message")
                await self.send(error_message(f"internal error: {err}"))
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
            async with self.lock:
                try:
                    if self.session.light_tick:  # a few race steps: cheaper than a thread hop
                        frames = self.session.tick()
                    else:
                        frames = await anyio.to_thread.run_sync(
                            self.session.tick, limiter=self.threads
                        )
                except Exception as err:  # stop the runs, keep the tab
                    log.exception("error while advancing a playground run")
                    self.session.pause()
                    frames = [error_message(f"internal error: {err}; the runs were paused")]
                await self.send_all(frames)  # under the lock: frames leave in order
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t0)))


def create_app(
    limits: Limits | None = None, *, allowed_hosts: Iterable[str] | None = None
) -> FastAPI:
    """The playground app: ``/`` and ``/static`` (the page), ``/api/registry``,
    ``/api/health`` and the WebSocket ``/ws`` (protocol in ``docs/playground.md``).

    ``allowed_hosts`` are the accepted ``Host`` header values (``"127.0.0.1:8000"``);
    the default is the loopback names with the port the server listens on.
    ``serve(host, port)`` passes :func:`allowed_hosts_for` ``(host, port)``; tests with
    Starlette's ``TestClient`` pass ``["testserver"]``. Any other ``Host``, and an
    ``Origin`` that is not ``http://`` + an allowed host, is refused."""
    limits = limits or Limits()
    app = FastAPI(title="descentlab playground", version="1")
    app.state.limits = limits
    app.state.connections = set()
    app.state.threads = None
    app.add_middleware(SameOriginMiddleware, allowed_hosts=allowed_hosts)
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
                await ws.send_text(
                    _dumps(
                        error_message(
                            f"the server is full ({limits.max_sessions} sessions); try again later"
                        )
                    )
                )
                await ws.close(code=CLOSE_TRY_AGAIN)
            return
        if app.state.threads is None:  # created in the server's event loop
            app.state.threads = anyio.CapacityLimiter(WORKER_THREADS)
        conn = _Connection(ws, limits, app.state.threads)
        connections.add(conn)
        tasks: list[asyncio.Task[None]] = []
        try:
            await conn.send(hello(limits))
            tasks = [asyncio.create_task(conn.worker()), asyncio.create_task(conn.ticker())]
            while not conn.closed:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                if _is_race_pause(raw):  # stop the frame being stepped now, not after it
                    conn.session.pause_race_now()
                await conn.submit(raw)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            conn.close()  # the running step or epoch sees the flag and stops
            for task in tasks:
                task.cancel()
            for task in tasks:  # a worker thread finishes its current step first
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            connections.discard(conn)
            conn.session.close()
            if not connections:  # the last tab went: the server is idle again
                await anyio.to_thread.run_sync(_release_memory)

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
            raise OSError(
                f"cannot listen on {host}:{port}: {err.strerror}; choose another --port"
            ) from None


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = True,
    *,
    limits: Limits | None = None,
    log_level: str = "info",
) -> None:
    """Run the playground with uvicorn at ``http://host:port/`` until interrupted.

    The browser is opened (``webbrowser``) once the server is up, unless
    ``open_browser`` is False. Only requests addressed to ``host:port`` (or the
    loopback names with ``port``) from the page's own origin are answered. WebSocket frames far beyond ``max_message_bytes`` are
    refused by uvicorn itself (the connection closes); smaller oversized messages get
    an ``error`` answer.
    """
    import uvicorn

    _check_port_free(host, port)
    limits = limits or Limits()
    app = create_app(limits, allowed_hosts=allowed_hosts_for(host, port))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ws_max_size=max(1 << 20, 16 * limits.max_message_bytes),
        ws_ping_interval=20.0,
        # no per-message deflate: on the loopback it buys nothing and costs each tab a
        # zlib state (~300 kB) and CPU on every frame
        ws_per_message_deflate=False,
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
