"""The inbox stream's fan-out: one reader of inbox changes per app, deltas to every viewer.

The engine signals *that* the inbox changed, not what changed. One task per app (owned
by :class:`InboxFanout`, started and stopped by the app's lifespan) waits for those
signals, re-reads the pending requests once, compares them with what it saw before and
turns the difference into ``request_created`` / ``request_updated`` (its assignee
changed, or it became overdue) / ``request_closed`` SSE messages, each serialised once
and offered to every subscriber who may see the request (an admin's stream takes them
all; a user's only those :func:`~workflows.stores.visible_to` them, and a
``request_hidden`` when a change takes a request out of their sight). A subscriber
holds at most
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
import dataclasses
import json
import logging

from ..engine import Engine
from ..errors import WorkflowError
from ..stores import InputRequest, Viewer, visible_to
from ._errors import ApiError, stream_error_body
from ._views import Views

logger = logging.getLogger("workflows.server")

__all__ = ["HEARTBEAT", "RESYNC", "Delta", "InboxFanout", "Subscription", "format_event"]

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


def _version(request: InputRequest) -> tuple[str | None, float | None]:
    """What of a pending request may change and is worth a ``request_updated``."""
    return (request.assignee, request.overdue_at)


@dataclasses.dataclass(slots=True)
class Delta:
    """One change of the inbox as SSE messages, for those who may see it.

    Attributes:
        message: the encoded message.
        request: the request it is about, for the visibility rule; ``None``: a message
            for every subscriber (``resync``, an error).
        before: for an update, the request as it was: a viewer who saw it then but does
            not now gets ``hidden`` instead.
        hidden: the ``request_hidden`` message of an update.
    """

    message: bytes
    request: InputRequest | None = None
    before: InputRequest | None = None
    hidden: bytes | None = None

    def for_viewer(self, viewer: Viewer) -> bytes | None:
        """The message ``viewer`` gets, if any."""
        if self.request is None or visible_to(viewer, self.request):
            return self.message
        if self.before is not None and visible_to(viewer, self.before):
            return self.hidden
        return None


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
        viewer: whose stream it is: only messages about requests they may see are
            queued; ``None``: every message (an admin).
        resyncs: how many times this viewer's backlog was replaced by ``resync``.
    """

    __slots__ = ("_items", "_limit", "_ready", "closed", "resyncs", "viewer")

    def __init__(self, limit: int, viewer: Viewer | None = None) -> None:
        self._items: list[bytes] = []
        self._limit = limit
        self._ready = asyncio.Event()
        self.closed = False
        self.resyncs = 0
        self.viewer = viewer

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
        self._known: dict[str, tuple[str | None, float | None]] | None = None
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

    async def subscribe(self, viewer: Viewer | None = None) -> Subscription:
        """A new subscription; changes after this call reach it (those about requests
        ``viewer`` may see; ``None``: all of them).

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
            subscription = Subscription(self._queue_size, viewer)
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
                    await self._broadcast([Delta(_HEARTBEAT)])
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
            deltas = await self._changes()
        except WorkflowError as exc:  # the store went away or a record cannot be decoded
            logger.warning("inbox stream: cannot read the inbox: %s", exc)
            self._known = None  # compared afresh (with a resync) once the store answers
            body = json.dumps(stream_error_body(exc))
            await self._broadcast([Delta(format_event("error", body).encode())])
            return
        if len(deltas) > self._queue_size:
            # More than a queue holds: one re-list each is cheaper than that many deltas.
            deltas = [Delta(RESYNC)]
        if deltas:
            await self._broadcast(deltas)

    async def _read(self) -> dict[str, tuple[str | None, float | None]]:
        requests = await self._engine.requests(status="pending", limit=self._window)
        return {r.request_id: _version(r) for r in requests}

    async def _changes(self) -> list[Delta]:
        """The messages of what changed since the last read (``self._known`` updated)."""
        requests = await self._engine.requests(status="pending", limit=self._window)
        current = {r.request_id: _version(r) for r in requests}
        known, self._known = self._known, current
        if known is None:
            return [Delta(RESYNC)]
        # Messages are built at once and the records dropped before the next await: kept
        # across awaits they would be promoted to older GC generations with every read.
        created = sorted((r for r in requests if r.request_id not in known), key=_created_at)
        deltas = [self._delta("request_created", r) for r in created]
        for r in requests:
            before = known.get(r.request_id)
            if before is not None and before != current[r.request_id]:
                deltas.append(self._update(r, before[0]))
        del requests, created
        for request_id in known.keys() - current.keys():
            try:
                closed = await self._engine.request(request_id)
            except WorkflowError:  # deleted with its run: nothing to describe it with
                deltas.append(Delta(RESYNC))
                continue
            if closed.status != "pending":  # not just pushed out of the window
                deltas.append(self._delta("request_closed", closed))
        return deltas

    def _delta(self, kind: str, request: InputRequest) -> Delta:
        body = self._views.request(request).model_dump_json()
        return Delta(format_event(kind, body).encode(), request)

    def _update(self, request: InputRequest, assignee_before: str | None) -> Delta:
        delta = self._delta("request_updated", request)
        if assignee_before != request.assignee:
            delta.before = dataclasses.replace(request, assignee=assignee_before)
            body = json.dumps({"request_id": request.request_id})
            delta.hidden = format_event("request_hidden", body).encode()
        return delta

    async def _broadcast(self, deltas: list[Delta]) -> None:
        subscribers = list(self._subscribers)
        everything = [delta.message for delta in deltas]
        for start in range(0, len(subscribers), SLICE):
            if start:
                await asyncio.sleep(0)  # let the woken streams send, and others be served
            for subscription in subscribers[start : start + SLICE]:
                viewer = subscription.viewer
                if viewer is None or viewer.admin:
                    subscription.offer(everything)
                    continue
                messages = [m for m in (d.for_viewer(viewer) for d in deltas) if m is not None]
                if messages:
                    subscription.offer(messages)

    def _close_all(self) -> None:
        for subscription in self._subscribers:
            subscription.close()
        self._subscribers.clear()
        self._known = None
