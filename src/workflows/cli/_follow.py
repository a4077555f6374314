"""Following a run (local or on a server) at the terminal: progress lines and prompts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, cast

import click

from ..client import (
    GenericEvent,
    InputRequestInfo,
    RemoteHandle,
    RunFailedError,
    WorkflowClient,
)
from ..engine import Engine, RunHandle
from ..errors import (
    InputRequestAlreadyAnsweredError,
    InvalidResponseError,
    WorkflowCancelledByUser,
    WorkflowError,
    WorkflowTimeoutError,
)
from ..events import Event, StopEvent
from ..stores import InputRequest, InputRequestClosedError
from ._loading import RuntimeFailure
from ._messages import one_line
from ._output import show_event, show_result
from ._prompting import answer_example, ask_response

__all__ = [
    "Answerer",
    "Responder",
    "finish",
    "follow",
    "follow_remote",
    "interactive_answerer",
    "request_info",
    "show_waiting",
]

Answerer = Callable[[InputRequestInfo], Awaitable[None]]
"""Answers one pending request of a followed run (or raises to stop)."""

Responder = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Sends an answer: ``respond(request_id, fields)`` of an engine or a client."""


def request_info(request: InputRequest) -> InputRequestInfo:
    """A stored request in the client's shape (the prompt as a generic event)."""
    payload = request.payload if isinstance(request.payload, dict) else {}
    key = str(payload.get("$event", request.event_type))
    data = payload.get("data")
    prompt = GenericEvent.of(key.rpartition(".")[2], key, data if isinstance(data, dict) else {})
    return InputRequestInfo(
        request_id=request.request_id,
        run_id=request.run_id,
        workflow=request.workflow,
        status=request.status,
        created_at=request.created_at,
        deadline=request.deadline,
        prompt=prompt,
        response_schema=request.response_schema,
        response=request.response,
        answered_at=request.answered_at,
        answered_by=request.answered_by,
        assignee=request.assignee,
        candidate_users=tuple(request.candidate_users),
        candidate_groups=tuple(request.candidate_groups),
        priority=request.priority,
        due=request.due,
        follow_up=request.follow_up,
        overdue_at=request.overdue_at,
    )


def interactive_answerer(respond: Responder) -> Answerer:
    """An answerer that asks at the terminal until ``respond`` accepts an answer."""

    async def answer(request: InputRequestInfo) -> None:
        while True:
            fields = await asyncio.to_thread(
                ask_response, request.prompt_text, request.response_schema
            )
            try:
                await respond(request.request_id, fields)
                return
            except InvalidResponseError as exc:
                click.echo(f"invalid answer: {one_line(exc.detail)}", err=True)
            except (InputRequestClosedError, InputRequestAlreadyAnsweredError) as exc:
                click.echo(f"skipped: {one_line(str(exc))}", err=True)
                return

    return answer


async def follow(
    engine: Engine, handle: RunHandle, *, after: int = 0, answer: Answerer | None
) -> list[InputRequestInfo]:
    """Show the run's events from ``after`` on; answer prompts with ``answer``.

    Returns:
        ``[]`` once the run has ended, or the pending requests it waits for when
        ``answer`` is None (the run stays in the store, waiting).
    """

    async def pending() -> list[InputRequestInfo]:
        stored = await engine.inbox(run_id=handle.run_id)
        return [request_info(r) for r in reversed(stored)]

    seq = after
    handled: set[str] = set()
    while True:
        progressed = False
        async for event in handle.stream_events(after=seq):
            seq, progressed = handle.last_seq, True
            waiting = await _on_event(seq, event, pending, handled, answer)
            if waiting is not None:
                return waiting
        # RunHandle.stream_events may end when it sees the run finished between reading
        # the stream and reading the run, before yielding the last events: read again.
        if not progressed:
            return []


async def follow_remote(
    client: WorkflowClient, handle: RemoteHandle, *, answer: Answerer | None
) -> list[InputRequestInfo]:
    """:func:`follow` for a run on a server (its SSE stream and inbox)."""

    async def pending() -> list[InputRequestInfo]:
        return list(reversed(await client.inbox(run_id=handle.run_id)))

    handled: set[str] = set()
    async with aclosing(cast(AsyncGenerator[Event, None], handle.stream_events())) as stream:
        async for event in stream:
            waiting = await _on_event(handle.last_seq, event, pending, handled, answer)
            if waiting is not None:
                return waiting
    return []


async def _on_event(
    seq: int,
    event: Event,
    pending: Callable[[], Awaitable[list[InputRequestInfo]]],
    handled: set[str],
    answer: Answerer | None,
) -> list[InputRequestInfo] | None:
    """Show one event and answer what it asks; the requests left waiting, if any."""
    show_event(seq, event)
    if isinstance(event, StopEvent):
        return []
    new = [request for request in await pending() if request.request_id not in handled]
    if new and answer is None:
        return new
    for request in new:
        handled.add(request.request_id)
        await answer(request)  # type: ignore[misc]
    return None


async def finish(handle: RunHandle | RemoteHandle) -> Any:
    """Print the finished run's result; a run that did not complete is a failure."""
    try:
        result = await handle
    except WorkflowCancelledByUser:
        raise RuntimeFailure(f"run {handle.run_id} was cancelled") from None
    except WorkflowTimeoutError as exc:
        raise RuntimeFailure(f"run {handle.run_id} timed out: {one_line(str(exc))}") from None
    except RunFailedError as exc:
        raise RuntimeFailure(one_line(str(exc))) from None
    except WorkflowError as exc:
        why = one_line(str(exc)).removeprefix("run failed: ")
        raise RuntimeFailure(f"run {handle.run_id} failed: {why}") from None
    except Exception as exc:
        raise RuntimeFailure(
            f"run {handle.run_id} failed: {type(exc).__name__}: {one_line(str(exc))}"
        ) from None
    show_result(result)
    return result


def show_waiting(run_id: str, pending: list[InputRequestInfo], where: str = "") -> None:
    """Tell the person how to answer a run left waiting (``where``: ``--url ...`` or
    ``--store ...`` to repeat in the suggested command)."""
    click.echo(f"run {run_id} waits for input:", err=True)
    for request in pending:
        click.echo(f"  {request.request_id}  {request.prompt_text}", err=True)
    for request in pending[:1]:
        value = answer_example(request.response_schema)
        command = f"workflows respond {request.request_id} {value}"
        click.echo(f"answer with: {command}{' ' + where if where else ''}", err=True)
