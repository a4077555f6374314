"""The durable engine on every store: start, inbox, respond, stream, idle release, restart.

Every wait synchronises on the engine or the store (awaiting results, polling the inbox
with a bounded loop); nothing sleeps for a fixed time to let work happen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from _runs import released, requests_of
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    StoreConnectionError,
)
from workflows.events import (
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)

RESULT_TIMEOUT = 30
RELOADED = ["prompted", "waiting"]


class Prompted(Workflow):
    """Asks with a returned InputRequiredEvent; the answer goes to a step."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("n", ev.n)
        return InputRequiredEvent(prefix=f"n={ev.n}?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        n = await ctx.store.get("n")
        return StopEvent(result=f"{n}:{ev.response}")


class Waiting(Workflow):
    """Asks with ctx.wait_for_event inside one step."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"approve {ev.n}?"),
            requirements={"topic": "approval"},
            timeout=None,
        )
        return StopEvent(result=f"{ev.n}:{answer.response}:{answer.topic}")


WORKFLOWS = {"prompted": Prompted(timeout=None), "waiting": Waiting(timeout=None)}


def engine_for(url: str, **options: Any) -> Engine:
    options.setdefault("idle_release_after", None)
    return Engine(url, dict(WORKFLOWS), **options)


async def result(handle: Any, timeout: float = RESULT_TIMEOUT) -> Any:
    return await asyncio.wait_for(handle.result(), timeout)


async def test_start_inbox_respond_result(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start("prompted", n=5)
        [request] = await requests_of(engine)
        assert request.run_id == handle.run_id
        assert request.workflow == "prompted"
        assert "n=5?" in str(request.payload)
        assert request.status == "pending"
        await engine.respond(request.request_id, "yes")
        assert await result(handle) == "5:yes"
        assert await handle.status() == "completed"
        assert await engine.inbox() == []


async def test_wait_for_event_answered_via_inbox(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start("waiting", n=7)
        [request] = await requests_of(engine)
        assert request.run_id == handle.run_id
        assert "approve 7?" in str(request.payload)
        assert request.response_schema.get("type") == "object"
        assert "InputRequiredEvent" in request.event_type
        await engine.respond(request.request_id, {"response": "ok"})
        assert await result(handle) == "7:ok:approval"
        assert await engine.inbox() == []


@pytest.mark.parametrize("workflow", ["prompted", "waiting"])
async def test_second_different_answer_is_refused(store_url: str, workflow: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start(workflow, n=1)
        [request] = await requests_of(engine)
        await engine.respond(request.request_id, "first")
        with pytest.raises(InputRequestAlreadyAnsweredError) as info:
            await engine.respond(request.request_id, "second")
        assert request.request_id in str(info.value)
        assert (await result(handle)).startswith("1:first")


@pytest.mark.parametrize("workflow", ["prompted", "waiting"])
async def test_same_idempotency_key_is_delivered_once(store_url: str, workflow: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start(workflow, n=2)
        [request] = await requests_of(engine)
        await engine.respond(request.request_id, "yes", idempotency_key="k1")
        await engine.respond(request.request_id, "yes", idempotency_key="k1")
        assert (await result(handle)).startswith("2:yes")
        # Once finished, the same key is still a no-op; nothing was delivered twice.
        await engine.respond(request.request_id, "yes", idempotency_key="k1")
        events = [e async for e in engine.get(handle.run_id).stream_events(after=0)]
        assert sum(isinstance(e, InputRequiredEvent) for e in events) == 1
        assert sum(isinstance(e, StopEvent) for e in events) == 1


async def test_unknown_request_id_is_refused(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        with pytest.raises(InputRequestNotFoundError) as info:
            await engine.respond("no-such-run:1", "yes")
        assert "no-such-run:1" in str(info.value)


async def test_stream_events_resumes_after_a_sequence(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        handle = await engine.start("prompted", n=3)
        [request] = await requests_of(engine)
        stream = handle.stream_events(after=0)
        first = await asyncio.wait_for(anext(stream), RESULT_TIMEOUT)
        assert isinstance(first, InputRequiredEvent)
        seen = handle.last_seq
        assert seen >= 1
        await stream.aclose()
        await engine.respond(request.request_id, "go")
        assert await result(handle) == "3:go"
        everything = [e async for e in engine.get(handle.run_id).stream_events(after=0)]
        rest_handle = engine.get(handle.run_id)
        rest = [e async for e in rest_handle.stream_events(after=seen)]
        assert rest == everything[1:]
        assert isinstance(rest[-1], StopEvent)
        assert rest[-1].result == "3:go"
        assert [e async for e in rest_handle.stream_events(after=rest_handle.last_seq)] == []


@pytest.mark.parametrize("workflow", RELOADED)
async def test_idle_run_is_released_and_answering_loads_it(store_url: str, workflow: str) -> None:
    async with engine_for(store_url, idle_release_after=0) as engine:
        handle = await engine.start(workflow, n=4)
        [request] = await requests_of(engine)
        await released(engine, handle.run_id)
        waiting = await engine.runs(status="waiting")
        assert [r.run_id for r in waiting] == [handle.run_id]
        await engine.respond(request.request_id, "later")
        assert (await result(handle, RESULT_TIMEOUT)).startswith("4:later")
        assert await engine.runs(status="waiting") == []


async def test_many_paused_runs_are_not_kept_in_memory(store_url: str) -> None:
    async with engine_for(store_url, idle_release_after=0) as engine:
        handles = [await engine.start("prompted", n=i) for i in range(20)]
        requests = await requests_of(engine, 20)
        await released(engine)
        by_run = {r.run_id: r for r in requests}
        for i, handle in enumerate(handles):
            await engine.respond(by_run[handle.run_id].request_id, f"a{i}")
        for i, handle in enumerate(handles):
            assert await result(handle) == f"{i}:a{i}"


@pytest.mark.parametrize("workflow", RELOADED)
async def test_new_engine_on_the_same_file_finishes_the_run(sqlite_url: str, workflow: str) -> None:
    async with engine_for(sqlite_url) as first:
        handle = await first.start(workflow, n=9)
        [request] = await requests_of(first)
        run_id = handle.run_id
    async with engine_for(sqlite_url) as second:
        [again] = await requests_of(second)
        assert again.request_id == request.request_id
        await second.respond(again.request_id, "restarted")
        assert (await result(second.get(run_id), RESULT_TIMEOUT)).startswith("9:restarted")
        events = [e async for e in second.get(run_id).stream_events(after=0)]
        assert sum(isinstance(e, InputRequiredEvent) for e in events) == 1


@pytest.mark.parametrize("workflow", RELOADED)
async def test_new_engine_on_postgres_finishes_the_run(
    postgres_schema_url: str, workflow: str
) -> None:
    async with engine_for(postgres_schema_url) as first:
        handle = await first.start(workflow, n=8)
        [request] = await requests_of(first)
    async with engine_for(postgres_schema_url) as second:
        await second.respond(request.request_id, "pg")
        assert (await result(second.get(handle.run_id), RESULT_TIMEOUT)).startswith("8:pg")


async def test_answer_stored_while_no_engine_runs_is_delivered_on_open(sqlite_url: str) -> None:
    async with engine_for(sqlite_url) as first:
        handle = await first.start("prompted", n=6)
        [request] = await requests_of(first)
    from workflows.stores import open_store

    store = await open_store(sqlite_url)
    try:
        await store.answer_request(request.request_id, {"response": "offline"})
    finally:
        await store.close()
    async with engine_for(sqlite_url) as second:
        assert await result(second.get(handle.run_id)) == "6:offline"


@pytest.mark.parametrize(
    "url",
    ["nosuchscheme://x", "sqlite://host/x.db", "not a url", "memory://extra/path"],
)
async def test_bad_store_url_is_a_store_connection_error(url: str) -> None:
    with pytest.raises(StoreConnectionError):
        async with Engine(url, dict(WORKFLOWS)):
            pass


async def test_unreachable_postgres_is_a_store_connection_error() -> None:
    pytest.importorskip("asyncpg")
    url = "postgresql://127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(StoreConnectionError):
        async with Engine(url, dict(WORKFLOWS)):
            pass


async def test_unwritable_sqlite_path_is_a_store_connection_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'deeper' / 'runs.db'}"
    with pytest.raises(StoreConnectionError):
        async with Engine(url, dict(WORKFLOWS)):
            pass


async def test_a_start_with_invalid_input_is_one_clear_error_and_leaves_nothing(
    sqlite_url: str,
) -> None:
    from pydantic import Field

    from workflows.errors import WorkflowValidationError

    class Claim(StartEvent):
        amount: float = Field(gt=0)
        employee: str

    class Pays(Workflow):
        @step
        async def pay(self, ev: Claim) -> StopEvent:
            return StopEvent(result=ev.amount)

    async with Engine(sqlite_url, {"pays": Pays()}) as engine:
        with pytest.raises(WorkflowValidationError) as info:
            await engine.start("pays", amount="abc")
        message = str(info.value)
        assert "amount:" in message and "employee: Field required" in message
        assert "\n" not in message and "https://" not in message
        assert engine.loaded == {}
        assert await engine.runs() == []
