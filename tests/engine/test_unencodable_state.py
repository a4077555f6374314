"""A run whose state cannot be encoded fails visibly on the durable engine.

Under the JSON serializer a value such as ``object()`` in ``ctx.store`` (or in a
StopEvent's result, or in a start event) cannot be committed. The run must end as
``failed`` with a ContextSerdeError that names what could not be encoded; awaiting its
handle raises it; the store keeps the last snapshot that could be encoded, never a
partial one; and the stream ends with a WorkflowFailedEvent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import ContextSerdeError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowFailedEvent,
)

RESULT_TIMEOUT = 10
BAD_STATE = "at key 'handle': cannot encode a value of type object"


class Later(Event):
    pass


class Gate:
    """Holds a step until the test has started awaiting the run's result."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()


class PoisonsThenGoesOn(Workflow):
    """A later step puts a value JSON cannot hold in the store, and the run goes on."""

    def __init__(self, gate: Gate | None = None, **options: Any) -> None:
        super().__init__(timeout=None, **options)
        self.gate = gate

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Later:
        await ctx.store.set("ok", 1)
        return Later()

    @step
    async def poison(self, ctx: Context, ev: Later) -> StopEvent:
        if self.gate is not None:
            await self.gate.opened.wait()
        await ctx.store.set("handle", object())
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), timeout=None
        )
        return StopEvent(result=answer.response)


class PoisonsItsLastStep(Workflow):
    """The step that ends the run is the one that poisons the store."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Later:
        await ctx.store.set("ok", 1)
        return Later()

    @step
    async def end(self, ctx: Context, ev: Later) -> StopEvent:
        await ctx.store.set("handle", object())
        return StopEvent(result="done")


class UnencodableResult(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> StopEvent:
        return StopEvent(result=object())


class Echo(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result="echo")


def engine_for(url: str, **workflows: Workflow) -> Engine:
    return Engine(url, dict(workflows), idle_release_after=None)


async def ended(engine: Engine, handle: Any) -> BaseException:
    """What awaiting the run raised (it must raise)."""
    with pytest.raises(ContextSerdeError) as info:
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    return info.value


async def stream_of(handle: Any) -> list[Event]:
    return [ev async for ev in handle.stream_events()]


async def test_a_run_awaited_while_it_fails_raises_the_context_serde_error(store_url: str) -> None:
    gate = Gate()
    async with engine_for(store_url, flow=PoisonsThenGoesOn(gate)) as engine:
        handle = await engine.start("flow")
        waiting = asyncio.ensure_future(handle.result())
        await asyncio.sleep(0)  # the result is awaited before the run fails
        gate.opened.set()
        with pytest.raises(ContextSerdeError, match=BAD_STATE):
            await asyncio.wait_for(waiting, RESULT_TIMEOUT)
        record = await handle.record()
        assert record.status == "failed"
        assert record.error is not None
        assert record.error["type"] == "ContextSerdeError"
        assert BAD_STATE in record.error["message"]
        events = await stream_of(handle)
        assert isinstance(events[-1], WorkflowFailedEvent)
        assert await engine.inbox() == []  # no request is left open


@pytest.mark.parametrize(
    ("flow", "start", "problem"),
    [
        (PoisonsThenGoesOn(), {}, BAD_STATE),
        (PoisonsItsLastStep(), {}, BAD_STATE),
        (UnencodableResult(), {}, "cannot encode StopEvent"),
        (Echo(), {"payload": object()}, "cannot encode StartEvent"),
    ],
    ids=["mid-run", "last-step", "stop-result", "start-event"],
)
async def test_an_unencodable_run_is_stored_failed_with_the_error_named(
    store_url: str, flow: Workflow, start: dict[str, Any], problem: str
) -> None:
    async with engine_for(store_url, flow=flow) as engine:
        handle = await engine.start("flow", **start)
        error = await ended(engine, handle)
        # Awaited after the end, the error is read back from the store.
        assert "ContextSerdeError" in f"{type(error).__name__}: {error}"
        assert problem in str(error)
        record = await handle.record()
        assert (record.status, record.result) == ("failed", None)
        assert record.error is not None and problem in record.error["message"]
        events = await stream_of(handle)
        assert isinstance(events[-1], WorkflowFailedEvent)
        assert not any(type(ev) is StopEvent for ev in events)


@pytest.mark.parametrize(
    "flow", [PoisonsThenGoesOn(workflow_name="flow"), PoisonsItsLastStep(workflow_name="flow")]
)
async def test_the_stored_snapshot_is_the_last_one_that_could_be_encoded(
    store_url: str, flow: Workflow
) -> None:
    async with engine_for(store_url, flow=flow) as engine:
        handle = await engine.start("flow")
        await ended(engine, handle)
        record = await handle.record()
        restored = Context.from_dict(flow, record.snapshot)
        assert await restored.store.get("ok") == 1
        assert await restored.store.get("handle", default=None) is None


async def test_a_run_never_stored_whole_gets_a_fresh_snapshot(store_url: str) -> None:
    flow = Echo(workflow_name="flow")
    async with engine_for(store_url, flow=flow) as engine:
        handle = await engine.start("flow", payload=object())
        await ended(engine, handle)
        record = await handle.record()
        restored = Context.from_dict(flow, record.snapshot)
        assert restored.is_running is False


async def test_other_runs_of_the_engine_go_on(store_url: str) -> None:
    async with engine_for(store_url, bad=PoisonsItsLastStep(), echo=Echo()) as engine:
        bad = await engine.start("bad")
        await ended(engine, bad)
        good = await engine.start("echo")
        assert await asyncio.wait_for(good.result(), RESULT_TIMEOUT) == "echo"
