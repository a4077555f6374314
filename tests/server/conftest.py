"""The server tests' workflows and a live server (``tests/_live_server.py``) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
def server(start_server: Any, sqlite_url: str) -> LiveServer:
    """A server on a fresh SQLite file, no token."""
    return start_server(sqlite_url)
