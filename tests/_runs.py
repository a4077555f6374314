"""Bounded waits on runs, shared by the tests: a run in this process (its handler) and a
run in a durable engine.

Each returns once what it waits for holds, synchronising on the run's stream where the
run writes an event, else polling with :func:`_wait.until`; each fails naming what it
waited for instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from _wait import TIMEOUT, until
from workflows import Context, Workflow
from workflows.context.serializers import BaseSerializer
from workflows.engine import Engine
from workflows.errors import WorkflowCancelledByUser
from workflows.events import Event, InputRequiredEvent
from workflows.stores import InputRequest


def json_round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through JSON text, as a database hands it back; fails unless that is
    ``data`` again (tuples, non-str keys...)."""
    assert isinstance(data, dict)
    back: dict[str, Any] = json.loads(json.dumps(data))
    assert back == data, "the snapshot changed in a JSON round trip (tuples, non-str keys...)"
    return back


async def result_of(wf: Workflow, **start: Any) -> Any:
    """Run ``wf`` with the start event's fields ``start``; its result."""
    return await asyncio.wait_for(wf.run(**start), TIMEOUT)


def prompts_in(events: list[Event]) -> list[InputRequiredEvent]:
    """The prompts among ``events``."""
    return [ev for ev in events if isinstance(ev, InputRequiredEvent)]


async def first_prompt(handler: Any) -> InputRequiredEvent:
    """The first prompt the run writes to its stream."""

    async def first() -> InputRequiredEvent:
        async for ev in handler.stream_events():
            if isinstance(ev, InputRequiredEvent):
                return ev
        raise AssertionError("the run ended without asking")

    return await asyncio.wait_for(first(), TIMEOUT)


async def events_and_result(handler: Any) -> tuple[list[Event], Any]:
    """Every event the run writes to its stream, and its result."""

    async def consume() -> tuple[list[Event], Any]:
        events = [ev async for ev in handler.stream_events()]
        return events, await handler

    return await asyncio.wait_for(consume(), TIMEOUT)


async def cancelled(handler: Any) -> None:
    """Cancel the run; it ends with WorkflowCancelledByUser."""
    await asyncio.wait_for(handler.cancel_run(), TIMEOUT)
    with pytest.raises(WorkflowCancelledByUser):
        await asyncio.wait_for(handler, TIMEOUT)


async def settled(handler: Any, *, queued: int = 0, buffered: int = 0) -> dict[str, Any]:
    """The run's snapshot, through JSON text, once one call waits for an answer, with
    ``queued`` events in the step queues and ``buffered`` in ``collect_events`` buffers
    (the other branches have ended)."""

    def snapshot() -> dict[str, Any] | None:
        data: dict[str, Any] = handler.ctx.to_dict()
        waiting = len(data["in_flight"]) == 1 and len(data["waiters"]) == 1
        in_queues = sum(len(items) for items in data["queues"].values())
        collected = sum(len(events) for events in data["collect"].values())
        return data if waiting and in_queues == queued and collected == buffered else None

    data = await until(snapshot, "one call waiting for an answer, the others done")
    return json_round_trip(data)


async def snapshot_at_prompt(
    handler: Any, prompts: int = 1, serializer: BaseSerializer | None = None
) -> tuple[dict[str, Any], list[InputRequiredEvent]]:
    """Stream the run until its ``prompts``-th prompt; snapshot it there (with
    ``serializer``, through JSON text) and cancel it; the snapshot and the prompts."""
    seen: list[InputRequiredEvent] = []

    async def at_prompt() -> dict[str, Any]:
        async for ev in handler.stream_events():
            if isinstance(ev, InputRequiredEvent):
                seen.append(ev)
                if len(seen) == prompts:
                    return json_round_trip(handler.ctx.to_dict(serializer=serializer))
        raise AssertionError(f"the run ended after {len(seen)} of {prompts} prompts")

    data = await asyncio.wait_for(at_prompt(), TIMEOUT)
    await cancelled(handler)
    return data, seen


async def paused_snapshot(wf: Workflow, *, queued: int = 0, buffered: int = 0) -> dict[str, Any]:
    """Run ``wf`` until it asks and :func:`settled`; cancel it; the snapshot."""
    handler = wf.run()
    await first_prompt(handler)
    data = await settled(handler, queued=queued, buffered=buffered)
    await cancelled(handler)
    return data


def restore(wf: Workflow, data: dict[str, Any]) -> Context[Any]:
    """``data`` restored for ``wf``, with ``wf``'s serializer."""
    return Context.from_dict(wf, data, serializer=wf.serializer)


async def resume(wf: Workflow, snapshot: dict[str, Any] | Context[Any], *answers: Event) -> Any:
    """Continue ``snapshot`` (or a restored context) in ``wf``, send it ``answers``; the
    result."""
    ctx = snapshot if isinstance(snapshot, Context) else restore(wf, snapshot)
    handler = wf.run(ctx=ctx)
    for answer in answers:
        handler.ctx.send_event(answer)
    return await asyncio.wait_for(handler, TIMEOUT)


# -- a durable engine ----------------------------------------------------------------------


async def requests_of(
    engine: Engine, count: int = 1, *, seconds: float = TIMEOUT, **filters: Any
) -> list[InputRequest]:
    """The engine's inbox (``filters``: those of ``Engine.inbox``) once it lists at
    least ``count`` requests (within ``seconds``)."""

    async def listed() -> list[InputRequest] | None:
        requests = await engine.inbox(**filters)
        return requests if len(requests) >= count else None

    found: list[InputRequest] = await until(listed, f"{count} pending requests", seconds)
    return found


async def released(engine: Engine, run_id: str | None = None) -> None:
    """Until ``run_id`` (every run, if None) has left the engine's memory: an idle
    release, or a run dropped by a worker."""

    def gone() -> bool:
        return not engine.loaded if run_id is None else run_id not in engine.loaded

    await until(gone, f"run {run_id or 'every run'} to leave the engine's memory")


async def answered_after_restart(tmp_path: Path, flow: Workflow, answer: str) -> Any:
    """Start ``flow`` in one engine (on a SQLite file in ``tmp_path``) until it asks;
    close it; answer in a second engine on the same file (the question is the same
    request); the result."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flows = {"flow": flow}
    async with Engine(url, dict(flows), idle_release_after=None) as first:
        handle = await first.start("flow")
        [request] = await requests_of(first)
    async with Engine(url, dict(flows), idle_release_after=None) as second:
        [again] = await requests_of(second)
        assert again.request_id == request.request_id
        await second.respond(again.request_id, answer)
        return await asyncio.wait_for(second.get(handle.run_id).result(), TIMEOUT)


async def answered_after_release(tmp_path: Path, flow: Workflow, answer: str) -> Any:
    """Start ``flow`` in an engine (on a SQLite file in ``tmp_path``) that releases a
    run as soon as it only waits; answer once it left memory (so the answer loads it);
    the result."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with Engine(url, {"flow": flow}, idle_release_after=0) as engine:
        handle = await engine.start("flow")
        [request] = await requests_of(engine)
        await released(engine, handle.run_id)
        await engine.respond(request.request_id, answer)
        return await asyncio.wait_for(handle.result(), TIMEOUT)
