"""The commit writer: one task that writes runs' boundaries to the store, in order.

Boundaries of one run that arrive while an earlier commit is being written are folded
into one commit (latest snapshot, all stream entries and requests), so a fast run costs
one store write per writer turn, not one per step. The commits of all the runs that
arrived meanwhile are written together, in one store call and one transaction
(``store.commit_many``, a group commit); each succeeds or fails on its own. Stream
events are published to readers only after the commit that holds them is durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..errors import StaleRunError
from ..stores import Commit, RunRecord
from ._coordination import notify_many
from ._durable_run import CommitPart, DurableRun

if TYPE_CHECKING:
    from ._parts import EngineCore

logger = logging.getLogger("workflows.engine")


class CommitWriter:
    """Owns the writer task; ``submit`` never blocks, ``flush`` waits for the backlog."""

    def __init__(self, engine: EngineCore) -> None:
        self._engine = engine
        self._pending: dict[str, tuple[DurableRun, CommitPart]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._writing: dict[str, DurableRun] = {}  # the batch whose creations are written
        self._dropped: set[str] = set()  # ... and which of its runs were dropped meanwhile

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="workflows:writer")

    def submit(self, durable: DurableRun, part: CommitPart) -> None:
        """Queue a boundary of ``durable`` for writing."""
        queued = self._pending.get(durable.run_id)
        if queued is not None and queued[0] is durable:
            queued[1].merge(part)
        else:
            # (A boundary still queued for an earlier copy of the run, dropped since as
            # its lease was lost, would be refused anyway: it must not carry this one.)
            self._pending[durable.run_id] = (durable, part)
        self._idle.clear()
        self._wake.set()

    def discard(self, durable: DurableRun) -> None:
        """Drop the unwritten boundary of ``durable`` (a copy whose lease was lost), also
        one taken into the batch being written, as long as its commit has not been sent."""
        queued = self._pending.get(durable.run_id)
        if queued is not None and queued[0] is durable:
            del self._pending[durable.run_id]
        if self._writing.get(durable.run_id) is durable:
            self._dropped.add(durable.run_id)

    def has_pending(self, run_id: str) -> bool:
        """True while a boundary of ``run_id`` is not yet written."""
        return run_id in self._pending

    async def flush(self) -> None:
        """Wait until everything submitted so far is written."""
        while self._pending or not self._idle.is_set():
            await self._idle.wait()
            if self._pending:
                self._idle.clear()
                self._wake.set()

    @property
    def alive(self) -> bool:
        """True while the writer task runs."""
        return self._task is not None and not self._task.done()

    @property
    def backlog(self) -> int:
        """How many runs have a boundary waiting to be written."""
        return len(self._pending)

    async def close(self, timeout: float) -> None:
        """Write the backlog (``timeout`` seconds at most), then stop the task."""
        task = self._task
        if task is None:
            return
        if not task.done():
            flushing = asyncio.get_running_loop().create_task(self.flush())
            _, pending = await asyncio.wait({flushing}, timeout=timeout)
            if pending:
                flushing.cancel()
                logger.warning(
                    "%d runs' last boundaries not written within %.1f s: they continue "
                    "from their previous commit",
                    len(self._pending),
                    timeout,
                )
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, {}
                items = list(batch.values())
                for first in range(0, len(items), MAX_BATCH):
                    try:
                        await self._write_batch(items[first : first + MAX_BATCH])
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # a bug, not a store error: stop loudly
                        for durable, _ in items[first : first + MAX_BATCH]:
                            if not durable.stored.done():  # a start() waits on it
                                durable.stored.set_exception(exc)
                                durable.stored.exception()
                        self._engine.component_failed("writer", exc)
            self._idle.set()

    async def _write_batch(self, items: list[tuple[DurableRun, CommitPart]]) -> None:
        """Write the boundaries of several runs: creations first (each run's own), then
        every commit in ONE store call (``commit_many``: one transaction), then, per run,
        publish or release."""
        self._writing = {durable.run_id: durable for durable, _ in items}
        self._dropped.clear()
        try:
            prepared: list[Commit | None] = [None] * len(items)
            creating = [i for i, (durable, _) in enumerate(items) if not durable.created]
            if len(creating) > 1:  # round trips of their own: sent together
                created = await asyncio.gather(*(self._write(*items[i]) for i in creating))
                for i, commit in zip(creating, created, strict=True):
                    prepared[i] = commit
            else:
                creating = []
            skip = set(creating)
            for i, item in enumerate(items):
                if i not in skip:
                    prepared[i] = await self._write(*item)
            ready = []
            for (durable, part), commit in zip(items, prepared, strict=True):
                if commit is None:
                    continue  # written already (created only), or failed and released
                if durable.run_id in self._dropped:
                    # Dropped while its creation was written (its lease was lost): a copy
                    # that is no longer ours commits nothing.
                    self._fail(durable, part, _dropped_error(durable.run_id), log=False)
                    continue
                ready.append((durable, part, commit))
        finally:
            self._writing = {}
        if not ready:
            return
        outcomes = await self._commit_all([commit for _, _, commit in ready])
        committed: list[str] = []
        for (durable, part, _), outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._fail(durable, part, outcome)
            else:
                durable.version = outcome
                self._succeeded(durable, part)
                committed.append(durable.run_id)
        if committed and self._engine.owner is not None:
            await notify_many(self._engine, [f"commit:{run_id}" for run_id in committed])

    async def _commit_all(self, commits: list[Commit]) -> list[int | Exception]:
        """Each commit's outcome: its new version or why it was not written."""
        store = self._engine.store
        commit_many = getattr(store, "commit_many", None)
        try:
            if len(commits) == 1 or commit_many is None:
                outcomes: list[int | Exception] = []
                for commit in commits:
                    try:
                        outcomes.append(await store.commit(commit))
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        outcomes.append(exc)
                return outcomes
            return list(await commit_many(commits))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the whole batch failed (the store went away, ...)
            return [exc] * len(commits)

    async def _write(self, durable: DurableRun, part: CommitPart) -> Commit | None:
        """The part of a run's write that is its own: create the run with its first
        boundary (and claim it, worker mode) if it is not stored yet. Returns the commit
        to write with the batch, or None when nothing is left to write (or it failed:
        the run is then released)."""
        store = self._engine.store
        try:
            if not durable.created:
                # Created with the first boundary's state (start event queued, no stream,
                # no requests), not the merged one: if the process dies before the commit
                # below, the stored run is still consistent and simply starts over.
                first = durable.first_snapshot or part.snapshot
                await store.create_run(
                    RunRecord.new(
                        durable.run_id,
                        durable.name,
                        first,
                        status="running",
                        input=durable.start_input,
                    )
                )
                durable.created = True
                durable.version = 0
                owner = self._engine.owner
                if owner is not None and self._engine.execute:
                    claimed_at = time.monotonic()
                    claimed = await store.claim_run(
                        durable.run_id, owner, self._engine.lease_seconds
                    )
                    durable.version = claimed.version
                    self._engine.coordinator.leases.acquired(durable.run_id, claimed_at)
                if (
                    part.snapshot is first
                    and not (part.stream or part.new_requests or part.closed_requests)
                    and not part.consumed_inbound
                ):
                    # Nothing beyond the creation (an API-only start): a commit would only
                    # race the worker that may already have claimed the run.
                    self._succeeded(durable, part)
                    return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(durable, part, exc)
            return None
        return Commit(
            run_id=durable.run_id,
            expected_version=durable.version,
            snapshot=part.snapshot,
            status=part.status,  # type: ignore[arg-type]
            result=part.result,
            error=part.error,
            stream=part.stream,
            new_requests=part.new_requests,
            closed_requests=part.closed_requests,  # type: ignore[arg-type]
            consumed_inbound=part.consumed_inbound,
            state=part.state,
            answered_by=part.answered_by,
            checkpoint=durable.checkpoint_for(part),
        )

    def _fail(
        self, durable: DurableRun, part: CommitPart, exc: BaseException, *, log: bool = True
    ) -> None:
        """The run cannot be committed: drop it from memory. Its last commit stays valid
        and a later load continues from there."""
        if log:
            logger.error("run %s: commit failed, releasing the run: %s", durable.run_id, exc)
        if durable.chain is not None:
            durable.chain.reset()
        if not durable.stored.done():
            durable.stored.set_exception(exc)
            durable.stored.exception()  # retrieved by start(), if anyone waits
        self._engine.committed(durable, part, failed=exc)

    def _succeeded(self, durable: DurableRun, part: CommitPart) -> None:
        if durable.chain is not None:
            durable.chain.committed()
        if not durable.stored.done():
            durable.stored.set_result(None)
        self._engine.committed(durable, part, failed=None)


MAX_BATCH = 256
"""Most commits written in one store call (one transaction)."""


def _dropped_error(run_id: str) -> StaleRunError:
    return StaleRunError(run_id, "its lease was lost before the commit was written")
