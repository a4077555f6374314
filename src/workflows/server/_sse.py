"""Server-sent event streams: a run's events, and changes of the inbox.

Both streams interleave ``: heartbeat`` comments while nothing happens, so proxies keep
the connection and clients notice a dead one. The producer of each stream is awaited
one item at a time (no unbounded buffer): a slow client slows only its own stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import WorkflowError
from ..stores import InputRequest
from ._errors import ApiError
from ._models import RequestOut, StreamEventOut
from ._parse import query_int
from ._state import ServerState, state_of

__all__ = ["format_event", "requests_stream", "run_events"]

T = TypeVar("T")

HEARTBEAT = ": heartbeat\n\n"
INBOX_LIMIT = 1000
"""How many pending requests the inbox stream compares between two changes."""

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def format_event(event: str, data: str, event_id: int | None = None) -> str:
    """One SSE message (``data`` is a single line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


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
        value = header.strip()
        if not value.isdigit() or len(value) > 18:
            raise ApiError(400, "Last-Event-ID must be a non-negative integer")
        return int(value)
    return query_int(request, "after", 0, 0, None)


async def run_events(request: Request) -> Response:
    """``GET /runs/{run_id}/events``: the run's committed stream events as SSE."""
    state = state_of(request)
    run_id = request.path_params["run_id"]
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
    """``GET /requests/stream``: ``request_created`` / ``request_closed`` as SSE."""
    state = state_of(request)
    known = await _pending(state)
    return StreamingResponse(
        _inbox_messages(state, known), media_type="text/event-stream", headers=HEADERS
    )


async def _pending(state: ServerState) -> dict[str, InputRequest]:
    requests = await state.engine.store.list_requests(status="pending", limit=INBOX_LIMIT)
    return {r.request_id: r for r in requests}


async def _inbox_messages(state: ServerState, known: dict[str, InputRequest]) -> AsyncIterator[str]:
    engine = state.engine
    yield ": connected\n\n"
    try:
        async for changed in engine.inbox_changes(heartbeat=state.heartbeat):
            if not changed:
                yield HEARTBEAT
            # A heartbeat also re-reads the inbox: other processes may have changed it.
            current = await _pending(state)
            for request_id in sorted(
                current.keys() - known.keys(), key=lambda i: current[i].created_at
            ):
                yield _inbox_event("request_created", state, current[request_id])
            for request_id in known.keys() - current.keys():
                try:
                    closed = await engine.store.get_request(request_id)
                except WorkflowError:  # deleted with its run
                    closed = known[request_id]
                if closed.status != "pending":  # not just pushed out of the window
                    yield _inbox_event("request_closed", state, closed)
            known = current
    except WorkflowError as exc:
        yield format_event(
            "error", json.dumps({"error": {"code": "unavailable", "message": str(exc)}})
        )


def _inbox_event(kind: str, state: ServerState, request: InputRequest) -> str:
    out: RequestOut = state.views.request(request)
    return format_event(kind, out.model_dump_json())
