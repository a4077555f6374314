"""A wait's deadline is durable: it fires after the run left memory, even after a restart."""

from __future__ import annotations

import asyncio
import time

import pytest

from _runs import requests_of
from _wait import until
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import RunNotFoundError
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.stores import open_store


class Reminder(Workflow):
    """Waits briefly for an answer; on timeout it finishes with a fallback."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        try:
            reply = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix="answer within 0.3 s"),
                timeout=0.3,
            )
        except asyncio.TimeoutError:
            return StopEvent(result="timed out")
        return StopEvent(result=reply.response)


async def test_a_deadline_fires_after_idle_release(sqlite_url: str) -> None:
    async with Engine(
        sqlite_url, {"reminder": Reminder()}, idle_release_after=0, timer_interval=0.05
    ) as engine:
        handle = await engine.start("reminder")
        assert await asyncio.wait_for(handle.result(), 20) == "timed out"
        assert await engine.inbox() == []  # the request was closed, not left pending


async def test_a_deadline_that_passed_while_no_engine_ran_fires_on_open(sqlite_url: str) -> None:
    async with Engine(sqlite_url, {"reminder": Reminder()}, idle_release_after=None) as first:
        handle = await first.start("reminder")
        [request] = await requests_of(first)
        run_id = handle.run_id
    # The first engine is gone; the deadline passes with nobody running (the engine
    # reads the wall clock: the test waits until the store says the request is due).
    store = await open_store(sqlite_url)
    try:

        async def due() -> bool:
            overdue = await store.due_requests(time.time())
            return request.request_id in {r.request_id for r in overdue}

        await until(due, "the request's deadline to pass")
    finally:
        await store.close()
    async with Engine(sqlite_url, {"reminder": Reminder()}, timer_interval=0.05) as second:
        assert await asyncio.wait_for(second.get(run_id).result(), 20) == "timed out"


async def test_an_unknown_run_id_is_a_clear_error(store_url: str) -> None:
    async with Engine(store_url, {"reminder": Reminder()}) as engine:
        with pytest.raises(RunNotFoundError, match="nope"):
            await engine.get("nope").result()
