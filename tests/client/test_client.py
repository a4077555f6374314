"""WorkflowClient against the real server over loopback HTTP."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from _served_flows import Nudge, Order, Progress, Review
from workflows.client import (
    GenericEvent,
    RemoteHandle,
    RunFailedError,
    ServerUnreachableError,
    UnauthorizedError,
    WorkflowClient,
)
from workflows.errors import (
    InputRequestAlreadyAnsweredError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunNotFoundError,
    WorkflowCancelledByUser,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)
from workflows.events import Event, InputRequiredEvent, StopEvent, WorkflowCancelledEvent


async def until_prompt(handle: RemoteHandle) -> list[Event]:
    """Stream the run's events up to (and including) its first prompt."""
    seen: list[Event] = []
    async with aclosing(handle.stream_events()) as stream:
        async for event in stream:
            seen.append(event)
            if isinstance(event, InputRequiredEvent):
                break
    return seen


async def test_lists_workflows_with_schemas(client: WorkflowClient) -> None:
    found = {wf.name: wf for wf in await client.workflows()}
    assert {"approval", "chatty", "double", "nudged", "broken"} <= set(found)
    assert "approved" in found["approval"].response_schema["properties"]
    assert found["double"].start_schema["properties"]["qty"]["type"] == "integer"
    assert found["approval"].mermaid.startswith("flowchart")
    assert (await client.workflow("double")).name == "double"
    assert (await client.health())["status"] == "ok"


async def test_start_and_await_result(client: WorkflowClient) -> None:
    handle = await client.start("double", qty=21)
    assert await handle == 42
    assert await handle.status() == "completed"
    again = await client.start("double", start_event=Order(qty=2))
    assert await again.result() == 4


async def test_start_errors_map_to_library_errors(client: WorkflowClient) -> None:
    with pytest.raises(WorkflowConfigurationError, match="nope"):
        await client.start("nope")
    with pytest.raises(WorkflowValidationError):
        await client.start("double", qty="many")
    with pytest.raises(WorkflowRuntimeError):
        await client.start("double", start_event=Order(qty=1), qty=2)


async def test_unknown_run_and_request(client: WorkflowClient) -> None:
    handle = client.get("no-such-run")
    with pytest.raises(RunNotFoundError) as info:
        await handle.info()
    assert "no-such-run" in str(info.value)
    with pytest.raises(RunNotFoundError):
        await handle
    with pytest.raises(InputRequestNotFoundError):
        await client.respond("no-such-request", "yes")
    with pytest.raises(InputRequestNotFoundError):
        await client.request("no-such-request")


async def test_answer_through_the_inbox(client: WorkflowClient) -> None:
    handle = await client.start("approval", amount=420)
    events = await until_prompt(handle)
    assert events[-1].prefix == "Approve 420?"
    (request,) = await client.inbox(run_id=handle.run_id)
    assert request.prompt_text == "Approve 420?"
    assert isinstance(request.prompt, InputRequiredEvent)
    assert request.response_schema["required"] == ["approved"]
    assert (await client.request(request.request_id)).run_id == handle.run_id

    with pytest.raises(InvalidResponseError):
        await client.respond(request.request_id, {"approved": "perhaps"})
    assert await client.respond(request.request_id, Review(approved=True, note="ok"), "k1")
    assert not await client.respond(request.request_id, {"approved": True, "note": "ok"}, "k1")
    with pytest.raises(InputRequestAlreadyAnsweredError):
        await client.respond(request.request_id, {"approved": False})

    assert await handle == {"amount": 420, "approved": True, "note": "ok"}
    assert await client.inbox(run_id=handle.run_id) == []
    (answered,) = await client.inbox(run_id=handle.run_id, status="all")
    assert answered.status == "answered"


async def test_events_come_back_as_their_classes(client: WorkflowClient) -> None:
    handle = await client.start("chatty", count=2)
    events = await until_prompt(handle)
    assert [type(e) for e in events] == [Progress, Progress, InputRequiredEvent]
    assert [e.n for e in events[:2]] == [0, 1]
    assert handle.last_seq == 3
    (request,) = await client.inbox(run_id=handle.run_id)
    await client.respond(request.request_id, "go")
    rest = [e async for e in handle.stream_events(after=handle.last_seq)]
    assert [type(e) for e in rest] == [Progress, Progress, StopEvent]
    assert await handle == "done after 4"


async def test_unknown_event_types_are_generic(server: Any) -> None:
    async with WorkflowClient(server.url) as client:
        handle = await client.start("chatty", count=1)
        events = await until_prompt(handle)
        progress = events[0]
        assert isinstance(progress, GenericEvent)
        assert progress.event_type == "Progress"
        assert progress.event_type_key.endswith("_flows.Progress")
        assert progress.n == 0 and progress["n"] == 0
        assert isinstance(events[1], InputRequiredEvent)  # built-in: always known


async def test_send_event(client: WorkflowClient) -> None:
    handle = await client.start("nudged")
    await until_prompt(handle)
    with pytest.raises(WorkflowValidationError):
        await handle.send_event(GenericEvent.of("Unheard", "x.Unheard", {}))
    await handle.send_event(Nudge(value=41))
    assert await handle == 42
    with pytest.raises(WorkflowRuntimeError):
        await handle.send_event(Nudge(value=1))


async def test_send_a_generic_event_back(server: Any) -> None:
    async with WorkflowClient(server.url) as client:  # does not know Nudge
        handle = await client.start("nudged")
        await until_prompt(handle)
        assert any(t.endswith("Nudge") for t in (await client.workflow("nudged")).event_types)
        await handle.send_event(GenericEvent.of("Nudge", "Nudge", {"value": 1}))
        assert await handle == 2


async def test_cancel(client: WorkflowClient) -> None:
    handle = await client.start("approval", amount=1)
    await until_prompt(handle)
    await handle.cancel_run()
    with pytest.raises(WorkflowCancelledByUser):
        await handle
    events = [e async for e in handle.stream_events()]
    assert isinstance(events[-1], WorkflowCancelledEvent)
    await handle.cancel_run()  # a finished run: nothing happens, as locally
    assert await handle.status() == "cancelled"


async def test_failed_run_raises(client: WorkflowClient) -> None:
    handle = await client.start("broken")
    with pytest.raises(RunFailedError) as info:
        await handle
    assert info.value.run_id == handle.run_id
    assert "kaboom" in str(info.value)


async def test_runs_filters(client: WorkflowClient) -> None:
    done = await client.start("double", qty=1)
    await done
    waiting = await client.start("approval", amount=2)
    await until_prompt(waiting)
    assert [r.run_id for r in await client.runs(workflow="double")] == [done.run_id]
    waiting_runs = await client.runs(status="waiting")
    assert [r.run_id for r in waiting_runs] == [waiting.run_id]
    assert not waiting_runs[0].is_finished
    everything = await client.runs()
    assert [r.run_id for r in everything] == [waiting.run_id, done.run_id]


async def test_token(start_server: Any, sqlite_url: str) -> None:
    server = start_server(sqlite_url, token="s3cret")
    async with WorkflowClient(server.url) as anonymous:
        assert (await anonymous.health())["status"] == "ok"
        with pytest.raises(UnauthorizedError, match="unauthorized"):
            await anonymous.runs()
    async with WorkflowClient(server.url, "wrong") as wrong:
        with pytest.raises(UnauthorizedError):
            await wrong.start("double", qty=1)
    async with WorkflowClient(server.url, "s3cret") as client:
        assert await (await client.start("double", qty=5)) == 10


async def test_lifecycle(server: Any) -> None:
    client = WorkflowClient(server.url)
    assert (await client.health())["status"] == "ok"  # usable without `async with`
    await client.aclose()
    with pytest.raises(WorkflowRuntimeError, match="client is closed"):
        await client.runs()
    with pytest.raises(WorkflowRuntimeError, match="client is closed"):
        client.get("x")
    with pytest.raises(WorkflowRuntimeError):
        async with client:
            pass


async def test_unreachable_server() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with WorkflowClient(f"http://127.0.0.1:{port}", reconnect_for=0.2) as client:
        with pytest.raises(ServerUnreachableError, match="cannot reach"):
            await client.runs()
        with pytest.raises(ServerUnreachableError):
            [e async for e in client.get("r").stream_events()]


def test_a_quarantined_run_is_finished_and_raises_why() -> None:
    """A run the server set aside (its stored data could not be loaded) ends a remote
    wait at once with the server's reason, instead of being waited on forever."""
    from workflows.client import RunFailedError
    from workflows.client._handle import RemoteHandle
    from workflows.client._models import RunInfo

    info = RunInfo.from_json(
        {
            "run_id": "r1",
            "workflow": "flow",
            "status": "quarantined",
            "created_at": 1.0,
            "updated_at": 2.0,
            "error": {"type": "CorruptRecordError", "message": "run 'r1': snapshot is damaged"},
        }
    )
    assert info.is_finished
    with pytest.raises(RunFailedError, match="snapshot is damaged"):
        RemoteHandle(None, "r1")._outcome(info, None)  # type: ignore[arg-type]
