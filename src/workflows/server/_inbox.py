"""The inbox stream's fan-out: one reader of inbox changes per app, deltas to every viewer.

The engine signals *that* the inbox changed, not what changed. One task per app (owned
by :class:`InboxFanout`, started and stopped by the app's lifespan) waits for those
signals, re-reads the pending requests once, compares them with what it saw before and
turns the difference into ``request_created`` / ``request_closed`` SSE messages, each
serialised once and offered to every subscriber. A subscriber holds at most
``queue_size`` messages: one that falls that far behind (a stalled connection) has its
backlog replaced by a single ``resync`` message — it re-lists the inbox — so a slow
viewer never holds up the reader or the other viewers, and costs bounded memory. A
change bigger than a queue (hundreds of requests created or closed at once) is sent to
everyone as one ``resync``.

Without subscribers the reader reads nothing; the first subscriber takes the baseline
it will be compared against, before its stream starts.
"""

from __future__ import annotations

import asyncio
import json
import logging

from ..engine import Engine
from ..errors import WorkflowError
from ..stores import InputRequest
from ._errors import ApiError, stream_error_body
from ._views import Views

logger = logging.getLogger("workflows.server")

__all__ = ["HEARTBEAT", "RESYNC", "InboxFanout", "Subscription", "format_event"]

HEARTBEAT = ": heartbeat\n\n"
WINDOW = 1000
"""How many pending requests (the newest) the reader compares between two changes."""
QUEUE_SIZE = 256
"""Messages a subscriber may fall behind before it is resynced."""
SLICE = 32
"""Subscribers handed a change before the reader lets the event loop run (their sends
and every other request) again: a change never holds the loop for all viewers at once."""
MIN_INTERVAL = 0.5
"""Seconds between two re-reads of the inbox: changes arriving meanwhile are compared
together, so a burst of answers costs a few re-reads, not one each."""


def _created_at(request: InputRequest) -> float:
    return request.created_at


def format_event(event: str, data: str, event_id: int | None = None) -> str:
    """One SSE message (``data`` is a single line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


RESYNC = format_event("resync", "{}").encode()
"""Sent instead of messages a subscriber missed (or the reader could not compute): list
the inbox again (``GET /requests``)."""
_HEARTBEAT = HEARTBEAT.encode()


class Subscription:
    """One viewer's bounded queue of encoded SSE messages (shared with other viewers).

    Attributes:
        resyncs: how many times this viewer's backlog was replaced by ``resync``.
    """

    __slots__ = ("_items", "_limit", "_ready", "closed", "resyncs")

    def __init__(self, limit: int) -> None:
        self._items: list[bytes] = []
        self._limit = limit
        self._ready = asyncio.Event()
        self.closed = False
        self.resyncs = 0

    def offer(self, messages: list[bytes]) -> None:
        """Queue ``messages``; past the limit, replace the backlog with ``resync``."""
        if len(self._items) + len(messages) > self._limit:
            self._items = [RESYNC]
            self.resyncs += 1
        else:
            self._items.extend(messages)
        self._ready.set()

    def close(self) -> None:
        """End the stream once the queued messages are taken."""
        self.closed = True
        self._ready.set()

    async def next(self) -> bytes | None:
        """Every queued message as one chunk, waiting for one; ``None`` once closed and
        drained."""
        while not self._items:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        items, self._items = self._items, []
        return items[0] if len(items) == 1 else b"".join(items)


class InboxFanout:
    """The app's one reader of inbox changes, broadcasting them to every subscriber.

    Args:
        engine: the app's engine (open while :meth:`start`-ed).
        views: builds the ``RequestOut`` JSON of changed requests.
        heartbeat: seconds without a change after which every subscriber gets a
            heartbeat comment (and the inbox is re-read, to see changes made by other
            processes on the same store).
        queue_size: messages a subscriber may fall behind before it is resynced.
        window: how many of the newest pending requests are compared.
    """

    def __init__(
        self,
        engine: Engine,
        views: Views,
        *,
        heartbeat: float,
        queue_size: int = QUEUE_SIZE,
        window: int = WINDOW,
    ) -> None:
        self._engine = engine
        self._views = views
        self._heartbeat = heartbeat
        self._queue_size = queue_size
        self._window = window
        self._subscribers: set[Subscription] = set()
        # Only the ids: the records of a re-read die with it (kept records would survive
        # into the oldest GC generation, whose collections then pause every viewer).
        self._known: set[str] | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        """How many streams are subscribed now."""
        return len(self._subscribers)

    async def start(self) -> None:
        """Start the reader (the engine must be open)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="workflows-inbox-fanout"
            )

    async def stop(self) -> None:
        """Stop the reader and end every subscriber's stream."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._close_all()

    async def subscribe(self) -> Subscription:
        """A new subscription; changes after this call reach it.

        Raises:
            ApiError: 503 while the reader is not running (the app is starting or
                stopping).
            WorkflowError: the store could not be read for the baseline.
        """
        if self._task is None or self._task.done():
            raise ApiError(
                "not_ready", "the inbox stream is not running (the server is starting or stopping)"
            )
        async with self._lock:
            if self._known is None:
                self._known = await self._read()
            subscription = Subscription(self._queue_size)
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription`` (its stream ended)."""
        self._subscribers.discard(subscription)

    # -- the reader ------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for changed in self._engine.inbox_changes(heartbeat=self._heartbeat):
                began = loop.time()
                if not changed:
                    await self._broadcast([_HEARTBEAT])
                if not self._subscribers:
                    self._known = None  # nobody compares: the next subscriber reads afresh
                    continue
                async with self._lock:
                    try:
                        await self._refresh()
                    except Exception:  # a bug: keep serving the other changes
                        logger.exception("inbox stream: a change could not be sent")
                        self._known = None
                # Changes made meanwhile set the engine's next signal: none is missed.
                await asyncio.sleep(max(0.0, began + MIN_INTERVAL - loop.time()))
        finally:
            self._close_all()

    async def _refresh(self) -> None:
        try:
            messages = await self._changes()
        except WorkflowError as exc:  # the store went away or a record cannot be decoded
            logger.warning("inbox stream: cannot read the inbox: %s", exc)
            self._known = None  # compared afresh (with a resync) once the store answers
            body = json.dumps(stream_error_body(exc))
            await self._broadcast([format_event("error", body).encode()])
            return
        if len(messages) > self._queue_size:
            # More than a queue holds: one re-list each is cheaper than that many deltas.
            messages = [RESYNC]
        if messages:
            await self._broadcast(messages)

    async def _read(self) -> set[str]:
        requests = await self._engine.requests(status="pending", limit=self._window)
        return {r.request_id for r in requests}

    async def _changes(self) -> list[bytes]:
        """The messages of what changed since the last read (``self._known`` updated)."""
        requests = await self._engine.requests(status="pending", limit=self._window)
        current = {r.request_id for r in requests}
        known, self._known = self._known, current
        if known is None:
            return [RESYNC]
        # Messages are built at once and the records dropped before the next await: kept
        # across awaits they would be promoted to older GC generations with every read.
        created = sorted((r for r in requests if r.request_id not in known), key=_created_at)
        messages = [self._message("request_created", r) for r in created]
        del requests, created
        for request_id in known - current:
            try:
                closed = await self._engine.request(request_id)
            except WorkflowError:  # deleted with its run: nothing to describe it with
                messages.append(RESYNC)
                continue
            if closed.status != "pending":  # not just pushed out of the window
                messages.append(self._message("request_closed", closed))
        return messages

    def _message(self, kind: str, request: InputRequest) -> bytes:
        return format_event(kind, self._views.request(request).model_dump_json()).encode()

    async def _broadcast(self, messages: list[bytes]) -> None:
        subscribers = list(self._subscribers)
        for start in range(0, len(subscribers), SLICE):
            if start:
                await asyncio.sleep(0)  # let the woken streams send, and others be served
            for subscription in subscribers[start : start + SLICE]:
                subscription.offer(messages)

    def _close_all(self) -> None:
        for subscription in self._subscribers:
            subscription.close()
        self._subscribers.clear()
        self._known = None
