"""Server-sent event streams: a run's events, and changes of the inbox.

Both streams interleave ``: heartbeat`` comments while nothing happens, so proxies keep
the connection and clients notice a dead one. A run's stream reads one event at a time
from the store (no unbounded buffer): a slow client slows only its own stream. The inbox
stream takes its messages from the app's one inbox reader (``_inbox.py``) through a
bounded queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import WorkflowError
from ._errors import ApiError
from ._inbox import HEARTBEAT, Subscription, format_event
from ._models import StreamEventOut
from ._parse import parse_int, path_id, query_int
from ._state import ServerState, state_of

__all__ = ["format_event", "requests_stream", "run_events"]

T = TypeVar("T")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def with_heartbeats(source: AsyncIterator[T], interval: float) -> AsyncIterator[T | None]:
    """Yield the items of ``source``, and ``None`` after every ``interval`` seconds
    without one. The pending read is owned here and cancelled when the consumer stops."""
    pending: asyncio.Task[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(source.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                item = task.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


def _resume_point(request: Request) -> int:
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        return parse_int(header.strip(), "Last-Event-ID", 0)
    return query_int(request, "after", 0, 0, None)


async def run_events(request: Request) -> Response:
    """``GET /runs/{run_id}/events``: the run's committed stream events as SSE."""
    state = state_of(request)
    run_id = path_id(request, "run_id", "run")
    after = _resume_point(request)
    record = await state.engine.store.get_run(run_id)  # RunNotFoundError -> 404
    if record.workflow not in state.engine.workflows:
        raise ApiError(409, f"workflow {record.workflow!r} is not registered on this server")
    return StreamingResponse(
        _run_messages(state, run_id, record.workflow, after),
        media_type="text/event-stream",
        headers=HEADERS,
    )


async def _run_messages(
    state: ServerState, run_id: str, workflow: str, after: int
) -> AsyncIterator[str]:
    handle = state.engine.get(run_id)
    try:
        async for event in with_heartbeats(handle.stream_events(after=after), state.heartbeat):
            if event is None:
                yield HEARTBEAT
                continue
            out = state.views.event(event)
            item = StreamEventOut(seq=handle.last_seq, **out.model_dump())
            yield format_event(out.type, item.model_dump_json(), handle.last_seq)
    except WorkflowError as exc:  # the store went away or a payload cannot be decoded
        yield format_event(
            "error", json.dumps({"error": {"code": "unavailable", "message": str(exc)}})
        )


async def requests_stream(request: Request) -> Response:
    """``GET /requests/stream``: ``request_created`` / ``request_closed`` as SSE, from
    the app's one inbox reader (see ``_inbox.py``)."""
    state = state_of(request)
    subscription = await state.inbox.subscribe()
    return StreamingResponse(
        _inbox_messages(state, subscription), media_type="text/event-stream", headers=HEADERS
    )


async def _inbox_messages(state: ServerState, subscription: Subscription) -> AsyncIterator[str]:
    try:
        yield ": connected\n\n"
        while True:
            message = await subscription.next()
            if message is None:
                return
            yield message
    finally:
        state.inbox.unsubscribe(subscription)
