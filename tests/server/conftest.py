"""The server tests serve their workflows (``tests/_served_flows.py``) on the live
servers of ``tests/conftest.py``; ``client`` is an HTTP client of ``server``; and the
browser of the page tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from _served_flows import server_workflows
from workflows import Workflow


@pytest.fixture
def served_workflows() -> Callable[[], dict[str, Workflow]]:
    """What the live servers of these tests serve (``start_server``, ``server``)."""
    return server_workflows


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the test's ``server`` (a module may define its own server)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


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
