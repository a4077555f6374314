"""The inbox stream's fan-out: one reader of request changes per app, deltas to every viewer.

Every change of a request (created, claimed, unclaimed, assigned, answered, overdue,
expired, cancelled) appends an entry to the store's request audit log in the same
transaction, with a global increasing id (:meth:`~workflows.stores.RunStore.audit_after`).
One task per app (owned by :class:`InboxFanout`, started and stopped by the app's
lifespan) follows that log with a cursor. Woken by the engine's inbox signal (a change
made through this process) or, at the latest, every ``poll`` seconds (changes made by
other processes on the same store), it reads the entries past its cursor, fetches each
request they name once, and turns them into ``request_created`` (new since the last
read) / ``request_updated`` (its assignee changed, or it became overdue) /
``request_closed`` SSE messages, each serialised once and offered to every subscriber
who may see the request (an admin's stream takes them all; a user's only those
:func:`~workflows.stores.visible_to` them, and a ``request_hidden`` when a change takes
a request out of their sight). Every request of the store is followed, however many
are open. A request created and closed between two reads is not mentioned.

A subscriber holds at most ``queue_size`` messages: one that falls that far behind (a
stalled connection) has its backlog replaced by a single ``resync`` message — it
re-lists the inbox — so a slow viewer never holds up the reader or the other viewers,
and costs bounded memory. A change of more requests than a queue holds (hundreds
created or closed at once) is sent to everyone as one ``resync``, without reading them.

Without subscribers the reader reads nothing; the first subscriber starts the cursor
where the log ends, before its stream starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence

from ..engine import Engine
from ..errors import CorruptRecordError, InputRequestNotFoundError, WorkflowError
from ..stores import AuditEntry, InputRequest, Viewer, visible_to
from ._audit_feed import audit_end
from ._errors import ApiError, stream_error_body
from ._views import Views

logger = logging.getLogger("workflows.server")

__all__ = ["HEARTBEAT", "RESYNC", "Delta", "InboxFanout", "Subscription", "format_event"]

HEARTBEAT = ": heartbeat\n\n"
QUEUE_SIZE = 256
"""Messages a subscriber may fall behind before it is resynced."""
SLICE = 32
"""Subscribers handed a change before the reader lets the event loop run (their sends
and every other request) again: a change never holds the loop for all viewers at once.
Also how many changed requests are fetched from the store at a time."""
MIN_INTERVAL = 0.5
"""Seconds between two reads of the log: changes arriving meanwhile are read and sent
together, so a burst of answers costs a few reads, not one each."""
POLL = 2.0
"""Seconds between two reads of the log without a signal from this process's engine:
how late a change made by another process on the same store may reach the streams."""
BATCH = 1000
"""Audit entries read from the store at a time."""
_ASSIGNEE_ACTIONS = frozenset({"claimed", "unclaimed", "assigned"})


@dataclasses.dataclass(slots=True)
class _Touched:
    """What the entries of one read say about one request.

    Attributes:
        created: it was created since the previous read: no viewer has seen it yet.
        reassigned: its assignee changed since the previous read.
        assignee_before: its assignee before the first of those changes.
    """

    created: bool = False
    reassigned: bool = False
    assignee_before: str | None = None


def _fold(entries: Sequence[AuditEntry], touched: dict[str, _Touched]) -> None:
    """Add what ``entries`` (in log order) say to ``touched``, by request id."""
    for entry in entries:
        seen = touched.get(entry.request_id)
        if seen is None:
            seen = touched[entry.request_id] = _Touched()
        if entry.action == "created":
            seen.created = True
        elif entry.action in _ASSIGNEE_ACTIONS and not seen.reassigned:
            previous = entry.detail.get("previous")
            seen.reassigned = True
            seen.assignee_before = previous if isinstance(previous, str) else None


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
    """The app's one reader of request changes, broadcasting them to every subscriber.

    Args:
        engine: the app's engine (open while :meth:`start`-ed); its store holds the
            request audit log.
        views: builds the ``RequestOut`` JSON of changed requests.
        heartbeat: seconds between two heartbeat comments to every subscriber.
        queue_size: messages a subscriber may fall behind before it is resynced.
        poll: seconds after which the log is read without a signal from the engine, to
            see changes made by other processes on the same store.
    """

    def __init__(
        self,
        engine: Engine,
        views: Views,
        *,
        heartbeat: float,
        queue_size: int = QUEUE_SIZE,
        poll: float = POLL,
    ) -> None:
        self._engine = engine
        self._views = views
        self._heartbeat = heartbeat
        self._queue_size = queue_size
        self._poll = poll
        self._subscribers: set[Subscription] = set()
        self._cursor: int | None = None  # the last audit entry read; None: no reader
        self._failing = False  # the last read failed (its error was sent)
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
            WorkflowError: the store could not be read for where its log ends.
        """
        if self._task is None or self._task.done():
            raise ApiError(
                "not_ready", "the inbox stream is not running (the server is starting or stopping)"
            )
        async with self._lock:
            if self._cursor is None:
                self._cursor = await audit_end(self._engine.store)
            subscription = Subscription(self._queue_size, viewer)
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription`` (its stream ended)."""
        self._subscribers.discard(subscription)

    # -- the reader ------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._heartbeat
        wakes = self._engine.inbox_changes(heartbeat=min(self._poll, self._heartbeat))
        try:
            async for _ in wakes:  # a change made here, or time to look for others'
                began = loop.time()
                if began >= next_beat:
                    next_beat = began + self._heartbeat
                    await self._broadcast([Delta(_HEARTBEAT)])
                if not self._subscribers:
                    self._cursor = None  # nobody reads: the next subscriber starts anew
                    self._failing = False
                    continue
                async with self._lock:
                    try:
                        await self._refresh()
                    except Exception:  # a bug: keep serving the changes after these
                        logger.exception("inbox stream: a change could not be sent")
                        await self._skip_to_end()
                # Changes made meanwhile set the engine's next signal: none is missed.
                await asyncio.sleep(max(0.0, began + MIN_INTERVAL - loop.time()))
        finally:
            self._close_all()

    async def _refresh(self) -> None:
        """Read the log past the cursor and send what changed."""
        assert self._cursor is not None
        try:
            deltas, cursor = await self._changes(self._cursor)
        except WorkflowError as exc:  # the store went away or a record cannot be decoded
            if not self._failing:  # said once; the cursor stays, nothing is lost
                logger.warning("inbox stream: cannot read the request changes: %s", exc)
                body = json.dumps(stream_error_body(exc))
                await self._broadcast([Delta(format_event("error", body).encode())])
            self._failing = True
            return
        self._cursor = cursor
        if self._failing:  # the error shown by the viewers is over: they re-list
            self._failing = False
            deltas = [Delta(RESYNC)]
        if deltas:
            await self._broadcast(deltas)

    async def _skip_to_end(self) -> None:
        """Resync everyone and go on from where the log ends now."""
        try:
            self._cursor = await audit_end(self._engine.store, self._cursor or 0)
        except WorkflowError as exc:
            logger.warning("inbox stream: cannot read the request changes: %s", exc)
        await self._broadcast([Delta(RESYNC)])

    async def _changes(self, cursor: int) -> tuple[list[Delta], int]:
        """The messages of the changes logged after ``cursor``, and the new cursor."""
        store = self._engine.store
        touched: dict[str, _Touched] = {}
        while entries := await store.audit_after(cursor, limit=BATCH):
            cursor = entries[-1].id
            _fold(entries, touched)
            if len(touched) > self._queue_size:
                # More than a queue holds: one re-list each is cheaper than that many
                # deltas, and the requests need not be read.
                return [Delta(RESYNC)], await audit_end(store, cursor)
            if len(entries) < BATCH:
                break
        deltas: list[Delta] = []
        request_ids = list(touched)
        for start in range(0, len(request_ids), SLICE):
            chunk = request_ids[start : start + SLICE]
            # Each record is made into its message at once and dropped: kept across
            # awaits, records would be promoted to older GC generations.
            for request_id, request in zip(
                chunk, await asyncio.gather(*map(self._fetch, chunk)), strict=True
            ):
                seen = touched[request_id]
                if request is None:  # deleted or unreadable: nothing to describe it with
                    if not seen.created:
                        return [Delta(RESYNC)], cursor  # who saw it is unknown: re-list
                elif seen.created:  # nobody has seen it; closed already: not worth a word
                    if request.status == "pending":
                        deltas.append(self._delta("request_created", request))
                else:
                    deltas.append(self._changed(request, seen))
        return deltas, cursor

    async def _fetch(self, request_id: str) -> InputRequest | None:
        """The request as it is now; ``None`` once deleted with its run (or too damaged
        to be read: a damaged request that wedged the reader would stop every stream)."""
        try:
            return await self._engine.store.get_request(request_id)
        except (InputRequestNotFoundError, CorruptRecordError):
            return None

    def _changed(self, request: InputRequest, seen: _Touched) -> Delta:
        """The message of a change of a request viewers may have seen."""
        kind = "request_updated" if request.status == "pending" else "request_closed"
        delta = self._delta(kind, request)
        if seen.reassigned and seen.assignee_before != request.assignee:
            delta.before = dataclasses.replace(request, assignee=seen.assignee_before)
            body = json.dumps({"request_id": request.request_id})
            delta.hidden = format_event("request_hidden", body).encode()
        return delta

    def _delta(self, kind: str, request: InputRequest) -> Delta:
        body = self._views.request(request).model_dump_json()
        return Delta(format_event(kind, body).encode(), request)

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
        self._cursor = None
