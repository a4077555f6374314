"""Several engines on one database: leases, heartbeats, wake-ups and takeover.

An engine with an ``owner`` id takes a lease on every run before it executes it
(``store.claim_run``); taking a run from another owner bumps the run's version, so the
old owner's next commit is refused (fencing). The :class:`Coordinator` task

- renews the leases of the runs in memory every ``lease_seconds / 3``,
- gives leases back for runs dropped from memory,
- listens for wake-ups (PostgreSQL ``LISTEN/NOTIFY``: ``work:<run id>`` when a run got
  an event, answer or was created; ``commit:<run id>`` when a worker committed) and
- polls ``store.runs_with_work`` every ``poll_interval`` as a fallback, which is also how
  the runs of a dead worker are found once its lease expired, and fires due deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import StoreError

if TYPE_CHECKING:
    from ._engine import Engine

logger = logging.getLogger("workflows.engine")


@runtime_checkable
class NotifyingStore(Protocol):
    """A store that can wake other processes (PostgreSQL)."""

    async def notify_work(self, run_id: str) -> None:
        """Send a wake-up message."""

    def work_notifications(self) -> AsyncIterator[str]:
        """Receive wake-up messages."""


class Coordinator:
    """The engine's background task for leases, wake-ups, polling and deadlines."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._releases: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._picking: set[str] = set()
        self._pick_again: set[str] = set()

    @property
    def notifying(self) -> NotifyingStore | None:
        """The store, if it can wake other processes."""
        store = self._engine.store
        return store if isinstance(store, NotifyingStore) else None

    def start(self) -> None:
        """Start the maintenance loop (and the listener, on a notifying store)."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._maintain(), name="workflows:maintain"))
        if self.notifying is not None and (self._engine.owner or not self._engine.execute):
            self._tasks.append(loop.create_task(self._listen(), name="workflows:listen"))

    async def stop(self) -> None:
        """Stop the tasks and give back every lease still held."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._flush_releases()

    # -- leases ----------------------------------------------------------------------------
    def release_later(self, run_id: str) -> None:
        """Give the lease on ``run_id`` back at the next turn of the loop."""
        if self._engine.owner is not None:
            self._releases.add(run_id)
            self._wake.set()

    async def _flush_releases(self) -> None:
        owner = self._engine.owner
        releases, self._releases = self._releases, set()
        if owner is None:
            return
        for run_id in releases:
            if run_id in self._engine._loaded:
                continue  # loaded again meanwhile
            with suppress(StoreError):
                await self._engine.store.release_run(run_id, owner)

    async def _renew(self) -> None:
        engine = self._engine
        assert engine.owner is not None
        for run_id, durable in list(engine._loaded.items()):
            try:
                record = await engine.store.claim_run(run_id, engine.owner, engine.lease_seconds)
            except StoreError as exc:
                # Lost the lease (or the run): stop executing it; commits are fenced anyway.
                logger.warning("run %s: lease lost, releasing it: %s", run_id, exc)
                engine._release(durable)
                continue
            durable.version = max(durable.version, record.version)

    def check_finished(self, run_id: str) -> None:
        """Settle the result future of ``run_id`` if the store says it finished."""
        self._spawn(self._engine._settle_from_store(run_id))

    def _spawn(self, coro: Any) -> None:
        self.adopt([asyncio.get_running_loop().create_task(coro)])

    def adopt(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Own ``tasks`` (e.g. the cancelled workers of a released run): awaited at stop."""
        self._tasks.extend(tasks)
        if len(self._tasks) > 64:
            self._tasks = [t for t in self._tasks if not t.done()]

    # -- discovery -------------------------------------------------------------------------
    def pick(self, run_id: str) -> None:
        """Look at ``run_id`` soon: load it if it has work and we have room."""
        if not self._engine.execute:
            return
        if run_id in self._picking:
            self._pick_again.add(run_id)  # news during a pick: look once more after it
            return
        self._picking.add(run_id)
        self._spawn(self._pick(run_id))

    async def _pick(self, run_id: str) -> None:
        engine = self._engine
        try:
            durable = engine._loaded.get(run_id)
            if durable is None and engine.has_room():
                durable = await engine._ensure_loaded(run_id)
            if durable is not None:
                # Inbound stored while the run was being loaded is read here too.
                await durable.pull_inbound()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("run %s: could not take it up: %s", run_id, exc)
        finally:
            self._picking.discard(run_id)
            if run_id in self._pick_again:
                self._pick_again.discard(run_id)
                self.pick(run_id)

    async def _listen(self) -> None:
        store = self.notifying
        assert store is not None
        while True:
            try:
                async for message in store.work_notifications():
                    kind, _, run_id = message.partition(":")
                    if kind == "work":
                        self.pick(run_id)
                    elif kind == "commit":
                        self._engine._remote_commit(run_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect after a lost connection; polling covers the gap
                logger.warning("wake-up listener lost its connection: %s", exc)
                await asyncio.sleep(self._engine.poll_interval)

    async def _maintain(self) -> None:
        engine = self._engine
        next_poll = next_renew = next_timers = 0.0
        while True:
            now = time.monotonic()
            try:
                if self._releases:
                    await self._flush_releases()
                if engine.owner is not None and now >= next_renew:
                    next_renew = now + engine.lease_seconds / 3
                    await self._renew()
                if engine.execute and now >= next_timers:
                    next_timers = now + engine.timer_interval
                    for request in await engine.store.due_requests(time.time()):
                        self.pick(request.run_id)
                if engine.execute and engine.owner is not None and now >= next_poll:
                    next_poll = now + engine.poll_interval
                    for run_id in await engine.store.runs_with_work(now=time.time()):
                        if not engine.has_room():
                            break
                        self.pick(run_id)
                if not engine.execute and now >= next_poll:
                    # Results of runs executed elsewhere, in case a wake-up was missed.
                    next_poll = now + engine.poll_interval
                    for run_id in list(engine._results):
                        await engine._settle_from_store(run_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing store must not stop the loop
                logger.error("engine maintenance failed: %s", exc)
            self._wake.clear()
            delay = min(
                engine.timer_interval,
                engine.poll_interval
                if engine.owner or not engine.execute
                else engine.timer_interval,
                engine.lease_seconds / 3 if engine.owner else engine.timer_interval,
            )
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)


async def notify(engine: Engine, message: str) -> None:
    """Send a wake-up message to other processes, if the store can."""
    store: Any = engine.store
    if isinstance(store, NotifyingStore) and (engine.owner is not None or not engine.execute):
        try:
            await store.notify_work(message)
        except StoreError as exc:  # polling picks the work up anyway
            logger.warning("could not send wake-up %r: %s", message, exc)
