"""A live server (``tests/_live_server.py``) per test serving the server tests' workflows
(``tests/_served_flows.py``), an HTTP client of it, and the browser of the page tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer, live_servers
from _served_flows import server_workflows


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(store_url, port=0, **create_app_options) -> LiveServer`` serving
    the server tests' workflows; stopped after the test."""
    with live_servers(server_workflows) as start:
        yield start


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the test's ``server`` (a module may define its own server)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def server(start_server: Any, sqlite_url: str) -> LiveServer:
    """A server on a fresh SQLite file, no token."""
    return start_server(sqlite_url)


# -- the browser (the page tests): Debian's chromium driven by Playwright ---------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECT_TIMEOUT_MS = 15_000
"""How long a page test waits for anything on the page."""


def _browser_unavailable(reason: str) -> None:
    # Skips on a laptop without the browser; CI sets WORKFLOWS_REQUIRE_BROWSER=1.
    message = f"browser test needs {reason}"
    if os.environ.get("WORKFLOWS_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (WORKFLOWS_REQUIRE_BROWSER=1)")
    pytest.skip(message)


@pytest.fixture
def chromium() -> str:
    """The browser executable (skips, or fails in CI, when it or Playwright is missing)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _browser_unavailable("playwright (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        _browser_unavailable(f"{CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def page(chromium: str) -> AsyncIterator[Any]:
    """A fresh page in headless Chromium; fails the test on JavaScript errors."""
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 1000})
            tab = await context.new_page()
            tab.set_default_timeout(EXPECT_TIMEOUT_MS)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            yield tab
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            await browser.close()
