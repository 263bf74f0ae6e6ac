"""Fixtures of the browser tests: a live playground server and a headless Chromium.

The server is ``descentlab.web.server.create_app()`` under uvicorn on 127.0.0.1 at a
free port, in a background thread, for the whole session. The browser is Debian's
Chromium (``/usr/bin/chromium``) driven by Python Playwright; both are required: if
either is missing the tests fail with a message saying what to install (CI installs
both), they are never skipped.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("DESCENTLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: How long to wait for the back end (web/server.py) to appear while it is being written.
SERVER_WAIT_SECONDS = float(os.environ.get("DESCENTLAB_E2E_SERVER_WAIT", "0"))
#: The three screens of issue 16: name -> (CSS width, CSS height, device scale factor).
#: "projector" is a 1280x720 projector at 150 % zoom.
VIEWPORTS: dict[str, tuple[int, int, float]] = {
    "desktop": (1280, 800, 1),
    "projector": (853, 480, 1.5),
    "phone": (390, 844, 2),
}
#: The Network-landscape tab's settings, small and quick: a few hundred steps, planes every
#: few frames (test_landscape_tab.py, test_field_errors.py).
LANDSCAPE_FAST: dict[str, object] = {
    "dataset": "moons",
    "points": 300,
    "hidden": [8],
    "epochs": 30,
    "grid": 21,
    "samples": 200,
    "plane_every": 4,
    "steps_per_frame": 3,
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _create_app() -> Any:
    deadline = time.monotonic() + SERVER_WAIT_SECONDS
    while True:
        try:
            from descentlab.web.server import create_app
        except ImportError as err:
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"the playground back end is missing: cannot import "
                    f"descentlab.web.server.create_app ({err})"
                )
            time.sleep(60)
            continue
        return create_app()


@pytest.fixture(autouse=True, scope="module")
def _earlier_objects_frozen() -> Iterator[None]:
    """The server runs ``gc.collect()`` in this process whenever its last tab closes
    (``_release_memory``), after almost every test here, holding the GIL the test's
    Playwright calls need: with the objects of the tests before this module frozen it
    walks only this module's, not the whole suite's (0.33 s each at 500,000 objects)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Base URL of a playground server running for the whole test session."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(
        _create_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="playground-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"the playground server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def _have_chromium() -> bool:
    return Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is not None


def _install_chromium_if_missing() -> None:
    """On a fresh Debian machine where the tests run as root (as CI does), install
    Debian's Chromium with apt-get, so that the README's test command works there."""
    apt = shutil.which("apt-get")
    if _have_chromium() or apt is None or os.geteuid() != 0 or os.environ.get("DESCENTLAB_NO_APT"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], capture_output=True, env=env, timeout=900, check=False)
    subprocess.run(
        [apt, "install", "-y", "-qq", "chromium"],
        capture_output=True,
        env=env,
        timeout=1800,
        check=False,
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium shared by the tests (their pages come from ``page_pool``)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Python Playwright is missing: pip install playwright "
            "(the browser itself is Debian's chromium, not `playwright install`)"
        )
    _install_chromium_if_missing()
    if not _have_chromium():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as err:  # noqa: BLE001 - report any launch problem as a failure
        pw.stop()
        pytest.fail(f"could not launch Chromium at {CHROMIUM}: {err}")
    yield browser
    browser.close()
    pw.stop()


class _PagePool:
    """Warm pages kept between the tests, each in a browser context of its own, by their
    context options (viewport, scale, touch).

    A test's page is taken from here (or made, the first time) and loaded from about:blank:
    a new document, its own JavaScript realm and WebSocket, so a new server session, as in
    a new context. The page uses no storage (no cookies, localStorage or IndexedDB), so a
    context kept between tests carries nothing from one test to the next that the page
    reads. On a 2-vCPU VM a page made with its context and then closed cost 2.1 s, a warm
    one 0.5 s (median of 8, 2026-12-02); the browser tests open about 60 pages. When a test
    ends its pages go back to about:blank, which closes their sessions at once.
    """

    BLANK = "about:blank"

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.idle: dict[str, list[Any]] = {}
        self.errors: dict[int, list[str]] = {}  # a page's id -> the list its errors go to
        self.keys: dict[int, str] = {}
        self.contexts: list[Any] = []

    def take(self, errors: list[str], context: dict[str, Any]) -> Any:
        """A page at about:blank with these context options; its errors go to ``errors``."""
        key = json.dumps(context, sort_keys=True)
        idle = self.idle.setdefault(key, [])
        while idle:
            page = idle.pop()
            if not page.is_closed():
                break
        else:
            page = self._make(key, context)
        self.errors[id(page)] = errors
        return page

    def _make(self, key: str, context: dict[str, Any]) -> Any:
        ctx = self.browser.new_context(**context)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page_id, sink = id(page), self.errors

        def on_console(message: Any) -> None:
            if message.type == "error":
                sink[page_id].append(message.text)

        page.on("pageerror", lambda exc: sink[page_id].append(str(exc)))
        page.on("console", on_console)
        self.keys[page_id] = key
        return page

    def give_back(self, page: Any) -> None:
        """The test is done with ``page``: what it says from now on is nobody's error, and
        it leaves the playground (its session ends) for about:blank, ready for the next."""
        self.errors[id(page)] = []
        if page.is_closed():
            return
        try:
            page.goto(self.BLANK)
        except Exception:  # noqa: BLE001 - a page that cannot leave is not reused
            page.context.close()
            return
        self.idle[self.keys[id(page)]].append(page)

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture(scope="session")
def page_pool(browser: Any) -> Iterator[_PagePool]:
    """The warm pages of the session's browser (``_PagePool``)."""
    pool = _PagePool(browser)
    yield pool
    pool.close()


class _Pages:
    """Pages opened for one test, from the pool; the JavaScript errors of all of them,
    which fail the test when it ends."""

    def __init__(self, pool: _PagePool, server_url: str) -> None:
        self.pool, self.server_url = pool, server_url
        self.pages: list[Any] = []
        self.errors: list[str] = []

    def open(self, hash_or_url: str, **context: Any) -> Any:
        """A page with ``context`` (Playwright's context options), loaded and ready."""
        page = self.pool.take(self.errors, context)
        self.pages.append(page)
        url = hash_or_url if hash_or_url.startswith("http") else self.server_url + hash_or_url
        page.goto(url)
        page.wait_for_function(
            "window.__descentlab && window.__descentlab.ready === true", timeout=15000
        )
        return page

    def close(self) -> None:
        for page in self.pages:
            self.pool.give_back(page)
        assert not self.errors, f"JavaScript errors in the page: {self.errors}"


@pytest.fixture()
def new_page(page_pool: _PagePool, server_url: str) -> Iterator[Any]:
    """Factory of pages at the playground (1440x960); JavaScript errors fail the test."""
    pages = _Pages(page_pool, server_url)

    def make(hash_or_url: str = "", width: int = 1440, height: int = 960) -> Any:
        return pages.open(hash_or_url, viewport={"width": width, "height": height})

    yield make
    pages.close()


@pytest.fixture()
def page_at(page_pool: _PagePool, server_url: str) -> Iterator[Any]:
    """Factory of pages at one of the VIEWPORTS, connected to the server.

    ``page_at("phone")`` or ``page_at("projector", "?present=1#race")``: a fresh
    page at that CSS size and device scale factor (touch and mobile for the
    phone), loaded and ready. JavaScript errors fail the test.
    """
    pages = _Pages(page_pool, server_url)

    def make(viewport_name: str, hash_or_url: str = "") -> Any:
        if viewport_name not in VIEWPORTS:
            raise ValueError(
                f"unknown viewport {viewport_name!r}; expected one of {list(VIEWPORTS)}"
            )
        width, height, scale = VIEWPORTS[viewport_name]
        phone = viewport_name == "phone"
        return pages.open(
            hash_or_url,
            viewport={"width": width, "height": height},
            device_scale_factor=scale,
            is_mobile=phone,
            has_touch=phone,
        )

    yield make
    pages.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
