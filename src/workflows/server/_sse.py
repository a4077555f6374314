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
from starlette.types import Receive, Scope, Send

from ..errors import CorruptRecordError, WorkflowError
from ..stores import RunRecord
from ._errors import ApiError, stream_error_body
from ._identity import identity_of
from ._inbox import HEARTBEAT, InboxFanout, Subscription, format_event
from ._models import StreamEventOut
from ._parse import parse_int, path_id, query_int
from ._state import ServerState, state_of

__all__ = ["InboxStreamResponse", "format_event", "requests_stream", "run_events", "stored_run"]

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


async def stored_run(state: ServerState, run_id: str) -> RunRecord:
    """The stored run; one whose stored data is damaged comes back as far as it could be
    read (marked ``corrupt``, its damage as ``error``), as listings show it.

    Raises:
        RunNotFoundError: no such run (404).
        CorruptRecordError: damaged beyond that (409).
    """
    try:
        return await state.engine.get(run_id).record()
    except CorruptRecordError as exc:
        if isinstance(exc.record, RunRecord):
            return exc.record
        raise


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
    record = await stored_run(state, run_id)
    if record.workflow not in state.engine.workflows:
        raise ApiError(
            "workflow_not_registered",
            f"workflow {record.workflow!r} is not registered on this server",
        )
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
        yield format_event("error", json.dumps(stream_error_body(exc)))


async def requests_stream(request: Request) -> Response:
    """``GET /requests/stream``: ``request_created`` / ``request_updated`` /
    ``request_closed`` (and ``request_hidden``) as SSE, about the requests the caller
    may see, from the app's one inbox reader (see ``_inbox.py``)."""
    state = state_of(request)
    identity = identity_of(request)
    viewer = None if identity.admin else identity.viewer
    return InboxStreamResponse(state.inbox, await state.inbox.subscribe(viewer))


class InboxStreamResponse(Response):
    """Sends a subscription's messages as they come, until it closes or the client goes.

    Lighter than a ``StreamingResponse`` (no task group per viewer: one task watching
    for the client's disconnect), which matters with hundreds of open inbox pages.
    """

    media_type = "text/event-stream"

    def __init__(self, inbox: InboxFanout, subscription: Subscription) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(HEADERS)  # no body: no Content-Length
        self._inbox = inbox
        self._subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._subscription
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            chunk: bytes | None = b": connected\n\n"
            while chunk is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await subscription.next()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away (servers of ASGI 2.4 raise it from send)
            pass
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self._inbox.unsubscribe(subscription)

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._subscription.close()
