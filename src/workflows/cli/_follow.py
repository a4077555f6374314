"""Following a local durable run at the terminal: progress lines and prompts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import click

from ..client import GenericEvent, InputRequestInfo
from ..engine import Engine, RunHandle
from ..errors import (
    InputRequestAlreadyAnsweredError,
    InvalidResponseError,
    WorkflowCancelledByUser,
    WorkflowError,
    WorkflowTimeoutError,
)
from ..events import StopEvent
from ..stores import InputRequest, InputRequestClosedError
from ._loading import RuntimeFailure
from ._output import show_event, show_result
from ._prompting import ask_response

__all__ = [
    "Answerer",
    "finish",
    "follow",
    "interactive_answerer",
    "request_info",
    "show_waiting",
]

Answerer = Callable[[Engine, InputRequestInfo], Awaitable[None]]
"""Answers one pending request of a followed run (or raises to stop)."""


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
    )


async def interactive_answerer(engine: Engine, request: InputRequestInfo) -> None:
    """Ask at the terminal until the engine accepts an answer."""
    while True:
        fields = await asyncio.to_thread(ask_response, request.prompt_text, request.response_schema)
        try:
            await engine.respond(request.request_id, fields)
            return
        except InvalidResponseError as exc:
            click.echo(f"invalid answer: {exc.detail}", err=True)
        except (InputRequestClosedError, InputRequestAlreadyAnsweredError) as exc:
            click.echo(f"skipped: {exc}", err=True)
            return


async def follow(
    engine: Engine, handle: RunHandle, *, after: int = 0, answer: Answerer | None
) -> list[InputRequestInfo]:
    """Show the run's events from ``after`` on; answer prompts with ``answer``.

    Returns:
        ``[]`` once the run has ended, or the pending requests it waits for when
        ``answer`` is None (the run stays in the store, waiting).
    """
    handled: set[str] = set()
    seq = after
    while True:
        progressed = False
        async for event in handle.stream_events(after=seq):
            seq, progressed = handle.last_seq, True
            show_event(seq, event)
            if isinstance(event, StopEvent):
                return []
            stored = await engine.inbox(run_id=handle.run_id)
            pending = [request_info(r) for r in reversed(stored) if r.request_id not in handled]
            if pending and answer is None:
                return pending
            for request in pending:
                handled.add(request.request_id)
                await answer(engine, request)  # type: ignore[misc]
        # RunHandle.stream_events may end when it sees the run finished between reading
        # the stream and reading the run, before yielding the last events: read again.
        if not progressed:
            return []


async def finish(handle: RunHandle) -> Any:
    """Print the finished run's result; a run that did not complete is a failure."""
    try:
        result = await handle
    except WorkflowCancelledByUser:
        raise RuntimeFailure(f"run {handle.run_id} was cancelled") from None
    except WorkflowTimeoutError as exc:
        raise RuntimeFailure(f"run {handle.run_id} timed out: {exc}") from None
    except WorkflowError as exc:
        raise RuntimeFailure(f"run {handle.run_id} failed: {exc}") from None
    except Exception as exc:
        raise RuntimeFailure(f"run {handle.run_id} failed: {type(exc).__name__}: {exc}") from None
    show_result(result)
    return result


def show_waiting(run_id: str, pending: list[InputRequestInfo]) -> None:
    """Tell the person how to answer a run left waiting."""
    click.echo(f"run {run_id} waits for input:", err=True)
    for request in pending:
        click.echo(f"  {request.request_id}  {request.prompt_text}", err=True)
    click.echo("answer with: workflows respond REQUEST_ID VALUE", err=True)
