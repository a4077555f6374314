"""``RunHandle``: the caller's side of a durable run, usable from any process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..events import Event, StopEvent
from ..runtime.host import registry_for
from ..stores import RunRecord, StreamEntry

if TYPE_CHECKING:
    from ._parts import EngineCore

__all__ = ["RunHandle", "StreamFeed"]


logger = logging.getLogger("workflows.engine")


class StreamFeed:
    """The stream entries an engine committed for one run while a reader streams it."""

    def __init__(self) -> None:
        self._entries: list[StreamEntry] = []
        self._stale = False

    def extend(self, entries: list[StreamEntry]) -> None:
        """Add entries just committed (in ``seq`` order)."""
        self._entries.extend(entries)

    def mark_stale(self) -> None:
        """Something else changed the run (another process committed, or it was set
        aside): the next :meth:`take` sends the reader to the store."""
        self._stale = True

    def take(self, seq: int) -> list[StreamEntry] | None:
        """Take the entries after ``seq``: [] if none was fed, None if the store must be
        read (the feed is stale, or its entries do not follow ``seq`` without a gap)."""
        fresh = [entry for entry in self._entries if entry.seq > seq]
        self._entries = []
        if self._stale:
            self._stale = False
            return None
        expected = seq + 1
        for entry in fresh:
            if entry.seq != expected:
                return None
            expected += 1
        return fresh

    def discard_through(self, seq: int) -> None:
        """Forget the entries up to ``seq`` (read from the store instead)."""
        self._entries = [entry for entry in self._entries if entry.seq > seq]


class RunHandle:
    """A durable run: await it for the result, stream its committed events, send to it.

    The same API as :class:`~workflows.handler.WorkflowHandler`; every method goes
    through the engine's store, so a handle made with ``engine.get(run_id)`` in another
    process sees the same run.
    """

    def __init__(self, engine: EngineCore, run_id: str) -> None:
        self._engine = engine
        self.run_id = run_id

    def __await__(self) -> Generator[Any, None, Any]:
        return self._engine.await_result(self.run_id).__await__()

    async def result(self) -> Any:
        """The run's result (waits for the end); raises what ended a failed run."""
        return await self._engine.await_result(self.run_id)

    async def record(self) -> RunRecord:
        """The run's stored record (status, version, result...)."""
        return await self._engine.store.get_run(self.run_id)

    async def status(self) -> str:
        """``running``, ``waiting``, ``completed``, ``failed``, ``cancelled``, ``timed_out``
        or ``quarantined`` (set aside: its stored data could not be loaded)."""
        return (await self.record()).status

    async def stream_events(self, after: int = 0) -> AsyncIterator[Event]:
        """Yield the run's committed stream events with sequence > ``after``, in order,
        ending after the StopEvent. Events come back as their Python types.

        Each event's sequence number is available as ``handle.last_seq`` after it is
        yielded, to resume later with ``stream_events(after=last_seq)``.
        """
        engine = self._engine
        record = await engine.store.get_run(self.run_id)
        serializer = engine.serializer_for(engine.workflow(record.workflow))
        types = registry_for(engine.workflow(record.workflow), serializer)
        seq = after
        # What this engine commits for the run from now on comes through the feed, so a
        # reader woken by a local commit does not read back what was just written.
        feed = engine.open_feed(self.run_id)
        from_store = True
        try:
            while True:
                signal = engine.signal(self.run_id)
                entries = None if from_store else feed.take(seq)
                if entries is None:  # woken from elsewhere, or a gap: the store tells
                    entries = await engine.store.read_stream(self.run_id, after=seq)
                    feed.discard_through(entries[-1].seq if entries else seq)
                for entry in entries:
                    seq = entry.seq
                    self.last_seq = seq
                    if entry.corrupt is not None:  # a damaged row: nothing to give back
                        logger.warning(
                            "run %s: stream entry %d is damaged: %s",
                            self.run_id,
                            seq,
                            entry.corrupt,
                        )
                        continue
                    event = serializer.decode(entry.payload, types)
                    yield event
                    if isinstance(event, StopEvent):
                        return
                if entries:
                    from_store = False
                    continue
                if self.run_id not in engine.loaded:
                    # Not executing here: it may have finished, or be executed elsewhere.
                    record = await engine.store.get_run(self.run_id)
                    if record.is_finished:
                        # The last commit may have landed between the two reads.
                        for entry in await engine.store.read_stream(self.run_id, after=seq):
                            seq = self.last_seq = entry.seq
                            if entry.corrupt is None:
                                yield serializer.decode(entry.payload, types)
                        return
                # The timeout covers a commit by another process whose wake-up we missed.
                from_store = True
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(signal.wait(), engine.poll_interval)
                    from_store = False  # woken: by a local commit, unless the feed is stale
        finally:
            engine.close_feed(self.run_id, feed)

    last_seq: int = 0

    async def send_event(self, event: Event, step: str | None = None) -> None:
        """Send an event into the run (stored durably first)."""
        await self._engine.send_event(self.run_id, event, step)

    async def cancel_run(self, timeout: float | None = 10.0) -> None:
        """Cancel the run, wherever it executes; its stream ends with
        WorkflowCancelledEvent. Waits up to ``timeout`` seconds for the run to end (the
        cancel is stored before that: a run executed elsewhere ends at its next turn)."""
        await self._engine.cancel(self.run_id)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.result(), timeout)

    def __repr__(self) -> str:
        return f"<RunHandle run_id={self.run_id}>"
