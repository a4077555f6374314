"""Several engines on one database: leases, heartbeats, wake-ups and takeover.

An engine with an ``owner`` id takes a lease on every run before it executes it
(``store.claim_run``); every claim bumps the run's version, so whatever executed the run
before can commit nothing more (fencing, see :mod:`._leases`). The :class:`Coordinator`
tasks

- renew the leases of the runs in memory every ``lease_seconds / 3`` (never re-taking
  one that was lost),
- give leases back for runs dropped from memory,
- listen for wake-ups (PostgreSQL ``LISTEN/NOTIFY``: ``work:<run id>`` when a run got
  an event, answer or was created; ``commit:<run id>`` when a worker committed),
  reconnecting with backoff and polling once after reconnecting, and
- poll ``store.runs_with_work`` every ``poll_interval`` as a fallback, which is also how
  the runs of a dead worker are found once its lease expired, and fires due deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ..errors import CorruptRecordError, StoreError, WorkflowRuntimeError
from ..stores import LivenessStore, NotifyingStore, WatchedStore
from ._leases import Leases

if TYPE_CHECKING:
    from ._parts import EngineCore

logger = logging.getLogger("workflows.engine")


class Coordinator:
    """The engine's background tasks for leases, wake-ups, polling and deadlines."""

    def __init__(self, engine: EngineCore) -> None:
        self._engine = engine
        self.leases = Leases(engine)
        self._releases: set[str] = set()
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._picking: set[str] = set()
        self._pick_again: set[str] = set()
        self._to_claim: set[str] = set()  # woken for, not held here: claimed in batches
        self._claimer: asyncio.Task[None] | None = None
        self._stopping = False
        self._catch_up = False
        #: Set while the listener is subscribed (and holds this worker's liveness lock).
        self.subscribed = asyncio.Event()
        #: ``"off"`` (no notifying store, or not needed), ``"connecting"``,
        #: ``"listening"`` or ``"reconnecting"`` (lost; polling covers the gap).
        self.listener_state = "off"
        self.listener_error: str | None = None
        #: Monotonic time the maintenance loop last finished a turn.
        self.last_turn: float | None = None

    @property
    def notifying(self) -> NotifyingStore | None:
        """The store, if it can wake other processes."""
        store = self._engine.store
        return store if isinstance(store, NotifyingStore) else None

    @property
    def liveness(self) -> LivenessStore | None:
        """The store, if this engine takes over runs of workers whose session is gone."""
        store = self._engine.store
        engine = self._engine
        if engine.owner is None or not engine.execute or self.notifying is None:
            return None
        return store if isinstance(store, LivenessStore) else None

    @property
    def watched(self) -> WatchedStore | None:
        """The store, if changes by other processes are found by watching it (a SQLite
        file shared with a CLI or a second program); a notifying store tells instead."""
        store = self._engine.store
        if self.notifying is not None or not isinstance(store, WatchedStore):
            return None
        return store

    @property
    def claiming(self) -> bool:
        """True while this engine may take up runs (open and not stopping)."""
        return not self._stopping and self._engine.phase == "open"

    def start(self) -> None:
        """Start the maintenance loop (and the listener, on a notifying store)."""
        self._loop("maintain", self._maintain())
        if self.notifying is not None and (self._engine.owner or not self._engine.execute):
            self.listener_state = "connecting"
            self._loop("listen", self._listen())

    def _loop(self, name: str, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"workflows:{name}")
        self._loops.append(task)
        task.add_done_callback(lambda done: self._ended(name, done))

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping:
            return
        exc = task.exception()
        self._engine.component_failed(
            name, exc or WorkflowRuntimeError(f"the {name} task ended on its own")
        )

    async def halt(self, timeout: float) -> None:
        """Stop looking for work: no claim, renewal or pick starts after this returns
        (or after ``timeout`` seconds, if a store call is stuck)."""
        self._stopping = True
        self._wake.set()
        for task in self._loops:
            task.cancel()
        if self._loops:
            await asyncio.wait(self._loops, timeout=timeout)
        self._loops.clear()

    async def stop(self, timeout: float) -> None:
        """Stop every task (waiting ``timeout`` seconds at most) and give back the
        leases still held."""
        await self.halt(timeout)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                logger.warning("%d engine tasks did not stop within %.1f s", len(pending), timeout)
        _read_exceptions(tasks)
        try:
            await asyncio.wait_for(self._flush_releases(), timeout)
        except asyncio.TimeoutError:
            logger.warning("leases not given back within %.1f s: they expire", timeout)

    async def _nap(self, delay: float) -> None:
        """Sleep ``delay`` seconds or until woken (``asyncio.wait_for`` is avoided: on
        Python 3.10/3.11 it can swallow a cancellation that races the wake-up)."""
        handle = asyncio.get_running_loop().call_later(delay, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            handle.cancel()

    # -- leases ----------------------------------------------------------------------------
    def release_later(self, run_id: str) -> None:
        """Give the lease on ``run_id`` back at the next turn of the loop."""
        self.leases.forget(run_id)
        if self._engine.owner is not None:
            self._releases.add(run_id)
            self._wake.set()

    async def _flush_releases(self) -> None:
        owner = self._engine.owner
        if owner is None:
            self._releases.clear()
            return
        # One at a time, forgotten only once sent: a flush cancelled by a stop leaves
        # the rest for the final flush.
        for run_id in list(self._releases):
            if run_id not in self._engine.loaded:  # (else: loaded again meanwhile)
                with suppress(StoreError):
                    await self._engine.store.release_run(run_id, owner)
            self._releases.discard(run_id)

    def check_finished(self, run_id: str) -> None:
        """Settle the result future of ``run_id`` if the store says it finished."""
        self._spawn(self._engine.settle_checked(run_id))

    def _spawn(self, coro: Any) -> None:
        self.adopt([asyncio.get_running_loop().create_task(coro)])

    def adopt(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Own ``tasks`` (e.g. the cancelled workers of a released run): awaited at stop."""
        self._tasks.extend(tasks)
        if len(self._tasks) > 64:
            done = [t for t in self._tasks if t.done()]
            _read_exceptions(done)
            self._tasks = [t for t in self._tasks if not t.done()]

    # -- discovery -------------------------------------------------------------------------
    def pick(self, run_id: str) -> None:
        """Look at ``run_id`` soon: load it if it has work and we have room."""
        if not self._engine.execute or not self.claiming:
            return
        if run_id in self._picking:
            self._pick_again.add(run_id)  # news during a pick: look once more after it
            return
        self._picking.add(run_id)
        self._spawn(self._pick(run_id))

    async def _pick(self, run_id: str) -> None:
        engine = self._engine
        try:
            durable = engine.loaded.get(run_id)
            if (
                durable is not None
                and self.leases.overdue(run_id)
                and not await self.leases.renew(durable)
            ):
                # Woken after a pause longer than the lease (a frozen process), and the
                # lease is gone: this copy was dropped; a claim below loads it afresh.
                durable = None
            if durable is None and engine.has_room() and self.claiming:
                durable = await engine.ensure_loaded(run_id)
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

    @property
    def _batch_claims(self) -> bool:
        """True when runs are claimed in batches (worker mode, a store with claim_runs)."""
        engine = self._engine
        return engine.owner is not None and hasattr(engine.store, "claim_runs")

    def _room(self) -> int:
        """How many more runs this engine may take up now."""
        engine = self._engine
        if engine.concurrency is None:
            return _CLAIM_BATCH
        return min(_CLAIM_BATCH, engine.concurrency - len(engine.loaded) - len(engine.loading))

    def claim_soon(self, run_ids: list[str]) -> None:
        """Take up ``run_ids`` (woken for, or freed by a dead worker) soon: the runs held
        here are picked (their news delivered); the others are claimed together, in
        batches (``store.claim_runs``): one statement for all the wake-ups that arrive
        while a claim is on its way, and no waiting for a run another worker is
        claiming at the same moment."""
        engine = self._engine
        if not engine.execute or not self.claiming:
            return
        for run_id in run_ids:
            if not self._batch_claims or run_id in engine.loaded or run_id in engine.loading:
                self.pick(run_id)
            else:
                self._to_claim.add(run_id)
        if self._to_claim and (self._claimer is None or self._claimer.done()):
            self._claimer = asyncio.get_running_loop().create_task(self._claim_queued())
            self.adopt([self._claimer])

    async def _claim_queued(self) -> None:
        while self._to_claim and self.claiming:
            room = self._room()
            if room <= 0:
                self._to_claim.clear()  # no room: the poll takes them up later
                return
            ids = list(self._to_claim)[:room]
            self._to_claim.difference_update(ids)
            claimed = await self.claim(ids, len(ids))
            # A run skipped because another worker's statement held its row for a moment
            # (SKIP LOCKED) is tried again; one claimed elsewhere is simply not found.
            missed = [run_id for run_id in ids if run_id not in claimed]
            for _ in range(_CLAIM_RETRIES):
                if not missed or not self.claiming:
                    break
                await asyncio.sleep(_CLAIM_RETRY_DELAY)
                claimed = await self.claim(missed, len(missed))
                missed = [run_id for run_id in missed if run_id not in claimed]

    async def claim(self, run_ids: list[str] | None, limit: int) -> set[str]:
        """Claim up to ``limit`` runs with work (``run_ids``: among those) in one store
        statement, and load each claimed run; returns the ids claimed."""
        engine = self._engine
        owner = engine.owner
        assert owner is not None
        if limit <= 0 or not self.claiming:
            return set()
        sent = time.monotonic()
        try:
            records = await engine.store.claim_runs(
                owner,
                engine.lease_seconds,
                limit=limit,
                run_ids=run_ids,
                exclude=[*engine.loaded, *engine.loading],
                now=time.time(),
            )
        except asyncio.CancelledError:
            raise
        except StoreError as exc:
            logger.warning("could not claim runs: %s", exc)
            return set()
        for record in records:
            self._spawn(self._take(record, sent))
        return {record.run_id for record in records}

    async def _take(self, record: Any, claimed_at: float) -> None:
        """Load a run this engine just claimed, from the claimed record."""
        engine = self._engine
        run_id = record.run_id
        try:
            durable = await engine.ensure_loaded(run_id, claimed=(record, claimed_at))
            if durable is not None and durable.version < record.version:
                # A copy loaded from an earlier claim of ours that this claim overtook:
                # it can commit nothing more. Load the run again from this claim.
                engine.release(durable, give_back=False)
                durable = await engine.ensure_loaded(run_id, claimed=(record, claimed_at))
            if durable is not None:
                await durable.pull_inbound()  # inbound stored while it was being loaded
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("run %s: could not take it up: %s", run_id, exc)

    async def _listen(self) -> None:
        store = self.notifying
        assert store is not None
        backoff = _BACKOFF_FIRST
        options: dict[str, Any] = {"on_listening": self._listening}
        if self.liveness is not None:
            options["hold_owner_lock"] = self._engine.owner
        while not self._stopping:
            try:
                async for message in store.work_notifications(**options):
                    backoff = _BACKOFF_FIRST
                    self._listening()
                    kind, _, run_id = message.partition(":")
                    if kind == "work":
                        self.claim_soon([run_id])
                    elif kind == "commit":
                        self._engine.remote_commit(run_id)
                        self._engine.inbox_changed()  # (inbox streams batch these)
                error = "the notification stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = str(exc)
            if self.listener_state != "reconnecting":
                logger.warning("wake-up listener lost its connection, reconnecting: %s", error)
            self.subscribed.clear()
            self.listener_state = "reconnecting"
            self.listener_error = error
            self._catch_up = True  # whatever was sent meanwhile is found by a poll
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _listening(self) -> None:
        self.subscribed.set()
        if self.listener_state != "listening":
            if self.listener_state == "reconnecting":
                logger.info("wake-up listener reconnected")
            self.listener_state = "listening"
            self.listener_error = None

    def _listener_back(self) -> bool:
        """True once a lost listener is subscribed again (or the store cannot say)."""
        listening = getattr(self._engine.store, "listening", None)
        if listening is None:
            return True
        if listening:
            self._listening()
        return bool(listening)

    async def look_at_outside_changes(self) -> None:
        """Another process wrote to the store: deliver what it stored for our runs."""
        engine = self._engine
        engine.notice_outside_writes()  # answers, requests, results, streams
        if not engine.execute or not self.claiming:
            return
        for run_id in await engine.store.runs_with_work(now=time.time()):
            if run_id in engine.loaded:
                self.pick(run_id)  # an answer, event or cancel for a run held here
            elif engine.owner is None and engine.has_room():
                # Without leases, only a run at rest is taken up: a running one may be
                # executing in the process that wrote.
                try:
                    record = await engine.store.get_run(run_id)
                except CorruptRecordError:
                    self.pick(run_id)  # cannot be executing anywhere: its load sets it aside
                    continue
                if record.status == "waiting":
                    self.pick(run_id)

    async def take_over_gone_owners(self) -> None:
        """Claim soon the runs of workers whose database session ended (kill -9)."""
        store = self.liveness
        if store is None or not self.subscribed.is_set() or not self.claiming:
            return  # (without our own liveness lock we could be the one thought gone)
        owner = self._engine.owner
        assert owner is not None
        freed = await store.expire_gone_owners(owner, now=time.time())
        if freed:
            logger.info("taking over %d runs of workers that are gone", len(freed))
            self.claim_soon(freed)

    async def _maintain(self) -> None:
        engine = self._engine
        next_poll = next_renew = next_timers = next_takeover = next_watch = 0.0
        while not self._stopping:
            now = time.monotonic()
            if self.listener_state in ("connecting", "reconnecting"):
                self._listener_back()
            try:
                if self._releases:
                    await self._flush_releases()
                if engine.owner is not None and now >= next_renew:
                    next_renew = now + engine.lease_seconds / 3
                    await self.leases.renew_all()
                if self._catch_up and self._listener_back():
                    self._catch_up = False
                    next_poll = next_timers = 0.0  # look at once for what was missed
                    # ... including input for the runs held here: the poll skips them
                    # (their lease is valid), and their wake-up may have been lost.
                    for run_id in list(engine.loaded):
                        self.pick(run_id)
                if self.watched is not None and now >= next_watch:
                    next_watch = now + _WATCH_INTERVAL
                    if await self.watched.changed_elsewhere():
                        await self.look_at_outside_changes()
                if self.liveness is not None and now >= next_takeover:
                    next_takeover = now + _TAKEOVER_INTERVAL
                    await self.take_over_gone_owners()
                if engine.execute and now >= next_timers and self.claiming:
                    next_timers = now + engine.timer_interval
                    now_wall = time.time()
                    for request in await engine.store.due_requests(now_wall):
                        self.pick(request.run_id)
                    overdue = await engine.store.mark_overdue(now_wall)
                    if overdue:  # the runs' holders, here or in other processes
                        engine.inbox_changed()
                        await notify_many(engine, [f"work:{r.run_id}" for r in overdue])
                        for request in overdue:
                            self.pick(request.run_id)
                if engine.execute and engine.owner is not None and now >= next_poll:
                    next_poll = now + engine.poll_interval
                    if self._batch_claims:
                        await self.claim(None, self._room())
                    else:
                        for run_id in await engine.store.runs_with_work(now=time.time()):
                            if not engine.has_room() or not self.claiming:
                                break
                            self.pick(run_id)
                if not engine.execute and now >= next_poll:
                    # Results of runs executed elsewhere, in case a wake-up was missed.
                    next_poll = now + engine.poll_interval
                    await engine.settle_awaited()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failing store must not stop the loop
                logger.error("engine maintenance failed: %s", exc)
            self.last_turn = time.monotonic()
            self._wake.clear()
            if self._stopping:
                break
            delay = min(
                engine.timer_interval,
                engine.poll_interval
                if engine.owner or not engine.execute
                else engine.timer_interval,
                engine.lease_seconds / 3 if engine.owner else engine.timer_interval,
                _BACKOFF_MAX if self._catch_up else math.inf,
                _TAKEOVER_INTERVAL if self.liveness is not None else math.inf,
                _WATCH_INTERVAL if self.watched is not None else math.inf,
            )
            await self._nap(delay)


_CLAIM_BATCH = 500  # most runs claimed in one statement
_WATCH_INTERVAL = 0.05  # how often a SQLite engine checks for writes by other processes
_CLAIM_RETRIES = 3  # a named run skipped by SKIP LOCKED is tried this many times more
_CLAIM_RETRY_DELAY = 0.1
_TAKEOVER_INTERVAL = 0.5  # how often a PostgreSQL worker looks for workers that are gone
_BACKOFF_FIRST = 0.05
_BACKOFF_MAX = 1.0  # reconnect attempts at least once a second while the database is away


def _read_exceptions(tasks: list[asyncio.Task[Any]]) -> None:
    """Log what finished tasks raised (instead of "exception was never retrieved")."""
    for task in tasks:
        if task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                logger.error("engine task %s failed: %r", task.get_name(), exc)


async def notify(engine: EngineCore, message: str) -> None:
    """Send a wake-up message to other processes, if the store can."""
    store: Any = engine.store
    if isinstance(store, NotifyingStore) and (engine.owner is not None or not engine.execute):
        try:
            await store.notify_work(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # polling picks the work up anyway
            logger.warning("could not send wake-up %r: %s", message, exc)


async def notify_many(engine: EngineCore, messages: list[str]) -> None:
    """Send several wake-up messages to other processes at once, if the store can."""
    store: Any = engine.store
    if not isinstance(store, NotifyingStore) or (engine.owner is None and engine.execute):
        return
    try:
        many = getattr(store, "notify_work_many", None)
        if many is not None and len(messages) > 1:
            await many(messages)
        else:
            for message in messages:
                await store.notify_work(message)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # polling picks the work up anyway
        logger.warning("could not send %d wake-ups: %s", len(messages), exc)
