"""The server tests' workflows and a live server (``tests/_live_server.py``) per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _live_server import LiveServer
from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)
from workflows.server import create_app

__all__ = ["LiveServer", "workflows"]


class Approval(Workflow):
    """Asks a person to approve an amount; reports the verdict."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.get("amount", 0))
        return InputRequiredEvent(prefix=f"Approve {ev.get('amount', 0)}?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        amount = await ctx.store.get("amount")
        return StopEvent(result={"amount": amount, "verdict": str(ev.response)})


class Double(Workflow):
    """Finishes at once with twice its input."""

    @step
    async def double(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.get("x", 0) * 2)


class Nudge(HumanResponseEvent):
    """A typed answer."""

    value: int


class Nudged(Workflow):
    """Waits for a Nudge sent to the run."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="nudge me")

    @step
    async def take(self, ev: Nudge) -> StopEvent:
        return StopEvent(result=ev.value + 1)


class Progress(Event):
    """Written to the stream by Chatty."""

    n: int


class Chatty(Workflow):
    """Writes a few events to the stream, asks, then finishes."""

    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent | Progress:
        for n in range(3):
            ctx.write_event_to_stream(Progress(n=n))
        return InputRequiredEvent(prefix="go on?")

    @step
    async def finish(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result="done")

    @step
    async def sink(self, ev: Progress) -> None:
        """Names Progress in a signature, so the engine may store it (never called)."""


def workflows() -> dict[str, Workflow]:
    """Fresh instances of the test workflows by name."""
    return {
        "approval": Approval(timeout=None),
        "double": Double(timeout=None),
        "nudged": Nudged(timeout=None),
        "chatty": Chatty(timeout=None),
    }


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"


@pytest.fixture
def start_server() -> Iterator[Any]:
    """``start_server(store_url, **create_app_options) -> LiveServer``; stopped after."""
    started: list[LiveServer] = []

    def start(store: str, **options: Any) -> LiveServer:
        options.setdefault("heartbeat", 0.5)
        server = LiveServer(create_app(store, workflows(), **options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.thread.is_alive():
            server.stop()


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
