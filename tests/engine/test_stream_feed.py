"""Stream readers in the engine that executes the run get its committed entries from
the engine (no read back after each commit), and the same events the store holds;
entries committed by another process still come from the store."""

from __future__ import annotations

import asyncio
from typing import Any

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

TIMEOUT = 60.0


class Chat(Workflow):
    @step
    async def open(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("turns", ev.turns)
        await ctx.store.set("n", 0)
        return InputRequiredEvent(prefix="q0")

    @step
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        n = await ctx.store.get("n") + 1
        await ctx.store.set("n", n)
        ctx.write_event_to_stream(HumanResponseEvent(response=f"echo {ev.response}"))
        if n >= await ctx.store.get("turns"):
            return StopEvent(result=n)
        return InputRequiredEvent(prefix=f"q{n}")


WORKFLOWS = {"chat": Chat(timeout=None)}


def count_calls(store: Any, *names: str) -> dict[str, int]:
    """Wrap the store instance's methods ``names``; returns their call counts."""
    counts = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(store, name)

        async def wrapper(
            *args: Any, _original: Any = original, _name: str = name, **kw: Any
        ) -> Any:
            counts[_name] += 1
            return await _original(*args, **kw)

        setattr(store, name, wrapper)
    return counts


async def converse(engine: Engine, run_id: str) -> list[Any]:
    """Stream the run, answering each prompt; returns the events seen."""
    seen: list[Any] = []
    handle = engine.get(run_id)
    async for event in handle.stream_events():
        seen.append(event)
        if isinstance(event, InputRequiredEvent):
            request_id = f"{run_id}:{handle.last_seq}"
            assert await engine.respond(request_id, f"a{len(seen)}") is True
    return seen


def shown(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(type(e).__name__, e.model_dump(mode="json")) for e in events]


async def test_a_local_reader_is_fed_what_the_store_holds(store_url: str) -> None:
    # A long poll interval: every store read below is one the reader asked for.
    async with Engine(store_url, WORKFLOWS, idle_release_after=None, poll_interval=600) as engine:
        handle = await engine.start("chat", turns=12)
        counts = count_calls(engine.store, "read_stream", "get_run")
        seen = await asyncio.wait_for(converse(engine, handle.run_id), TIMEOUT)
        assert counts == {"read_stream": 1, "get_run": 1}  # the reader's first look only
        assert isinstance(seen[-1], StopEvent) and seen[-1].result == 12
        stored = [e async for e in engine.get(handle.run_id).stream_events()]
        assert shown(seen) == shown(stored)
        assert sum(isinstance(e, InputRequiredEvent) for e in seen) == 12


async def test_entries_committed_by_another_engine_come_from_the_store(sqlite_url: str) -> None:
    async with Engine(sqlite_url, WORKFLOWS, idle_release_after=0) as reader:
        handle = await reader.start("chat", turns=3)
        async with Engine(sqlite_url, WORKFLOWS, idle_release_after=0) as executor:
            seen: list[Any] = []

            async def answer_elsewhere() -> None:
                async for event in handle.stream_events():
                    seen.append(event)
                    if isinstance(event, InputRequiredEvent):
                        # Answered and executed by the other engine (the reader released it).
                        await asyncio.sleep(0.05)
                        request_id = f"{handle.run_id}:{handle.last_seq}"
                        assert await executor.respond(request_id, "x") is True

            await asyncio.wait_for(answer_elsewhere(), TIMEOUT)
            stored = [e async for e in executor.get(handle.run_id).stream_events()]
    assert isinstance(seen[-1], StopEvent) and seen[-1].result == 3
    assert shown(seen) == shown(stored)
