"""``SqliteStore``: the embedded default run store, one SQLite file (``sqlite:///runs.db``)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from typing_extensions import ParamSpec

from workflows.errors import StoreConnectionError, StoreError, StoreSchemaError
from workflows.stores._checkpoint_records import CheckpointWrite, RunLineage, StoredCheckpoint
from workflows.stores._lifecycle import StoreLifecycle
from workflows.stores._loading import LoadedRun
from workflows.stores._records import (
    ANY,
    Answer,
    AssigneeAction,
    AuditEntry,
    Commit,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RequestPage,
    RequestQuery,
    RequestStatus,
    RunRecord,
    RunStatus,
    StreamEntry,
    _Any,
)
from workflows.stores._request_query import check_query
from workflows.stores._rules import check_assignee_change, check_paging
from workflows.stores._sqlite_ops import SqliteOps
from workflows.stores._sqlite_schema import migrate
from workflows.stores._sqlite_thread import SqliteThread

__all__ = ["SqliteStore"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class SqliteStore(StoreLifecycle):
    """A :class:`~workflows.stores.RunStore` in one SQLite database file.

    The database runs in WAL mode through ONE connection that lives on ONE dedicated
    worker thread: every operation is handed to that thread, so the event loop never
    waits on disk I/O, and writes are naturally serialised. Each write is one
    ``BEGIN IMMEDIATE`` transaction, so other processes may open the same file (a CLI
    answering the inbox while a server runs); they wait up to ``busy_timeout`` seconds
    for the write lock.

    Durability: by default ``synchronous=NORMAL``. In WAL mode that means a commit
    survives the process being killed (``kill -9``) at any instant, because the data is
    already in the operating system's hands when ``commit()`` returns; only an OS crash
    or power loss may roll back the last few commits (the database stays consistent).
    ``synchronous="FULL"`` also survives power loss, at the cost of an fsync per commit
    (about 10x slower on common disks; see ``benchmarks/store_commit.py``).

    A call cancelled while the worker thread is already running it still completes (its
    outcome is lost to the caller, like a lost reply); a cancelled call that had not
    started yet does not run.

    Args:
        path: Database file (created if missing; its folder must exist), or
            ``":memory:"`` for a private in-memory database.
        synchronous: SQLite's ``PRAGMA synchronous`` level.
        busy_timeout: Seconds to wait for another process's write lock.
        clock: Source of timestamps (default ``time.time``).

    Example::

        async with SqliteStore("runs.db") as store:
            runs = await store.list_runs(status="waiting")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        level = str(synchronous).upper()
        if level not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = os.fspath(path)
        self._synchronous = level
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._seen_data_version: int | None = None
        self._thread: SqliteThread | None = None
        self._ops: SqliteOps | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    # -- lifecycle and the worker thread ------------------------------------------------

    async def _open(self) -> None:
        self._thread = SqliteThread(asyncio.get_running_loop(), "workflows-sqlite")
        try:
            self._ops = await self._call(self._connect)
        except BaseException:
            thread, self._thread = self._thread, None
            await thread.stop()
            raise

    def _connect(self) -> SqliteOps:
        where = f"SQLite database {self.path!r}"
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=True,
            )
        except sqlite3.Error as exc:
            raise StoreConnectionError(f"cannot open {where}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            migrate(conn, self.path)
        except StoreSchemaError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreConnectionError(f"cannot open {where}: {exc}") from exc
        return SqliteOps(conn, self._clock)

    async def _close(self) -> None:
        thread, ops = self._thread, self._ops
        self._thread = self._ops = None
        if thread is None:
            return
        try:
            if ops is not None:
                await thread.call(ops.conn.close)
        finally:
            await thread.stop()

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        assert self._thread is not None
        result: _T = await self._thread.call(self._guard, fn, args, kwargs)
        return result

    def _guard(self, fn: Callable[..., _T], args: Any, kwargs: Any) -> _T:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite error on {self.path!r}: {exc}") from exc

    def _use(self) -> SqliteOps:
        self._check_open()
        assert self._ops is not None
        return self._ops

    # -- the RunStore API ----------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> None:
        """See :meth:`RunStore.create_run`."""
        await self._call(self._use().create_run, run)

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`RunStore.get_run`."""
        return await self._call(self._use().get_run, run_id)

    async def load_many(self, run_ids: Sequence[str]) -> dict[str, LoadedRun]:
        """See :meth:`RunStore.load_many`: one hand-off to the store's thread and one
        read transaction for the whole batch."""
        ops = self._use()
        if not run_ids:
            return {}
        return await self._call(ops.load_many, list(run_ids))

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """See :meth:`RunStore.list_runs`."""
        check_paging(limit, offset)
        return await self._call(self._use().list_runs, status, workflow, limit, offset)

    async def delete_run(self, run_id: str) -> None:
        """See :meth:`RunStore.delete_run`."""
        await self._call(self._use().delete_run, run_id)

    async def commit(self, commit: Commit) -> int:
        """See :meth:`RunStore.commit`."""
        return await self._call(self._use().commit, commit)

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        """See :meth:`RunStore.commit_many`: one transaction, one hand-off to the store's
        thread for the whole batch; a refused commit is undone alone (a savepoint)."""
        ops = self._use()
        if not commits:
            return []
        return await self._call(ops.commit_many, list(commits))

    async def quarantine_run(
        self, run_id: str, expected_version: int, error: dict[str, Any]
    ) -> int:
        """See :meth:`RunStore.quarantine_run`."""
        return await self._call(self._use().quarantine_run, run_id, expected_version, error)

    async def list_checkpoints(
        self, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.list_checkpoints`."""
        check_paging(limit, 0)
        return await self._call(self._use().list_checkpoints, run_id, after, limit)

    async def checkpoint_chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.checkpoint_chain` (one read transaction)."""
        return await self._call(self._use().checkpoint_chain, run_id, seq)

    async def fork_run(
        self,
        run: RunRecord,
        *,
        parent_run_id: str,
        parent_seq: int,
        checkpoint: CheckpointWrite,
        requests: Sequence[InputRequest] = (),
        stream_upto: int = 0,
    ) -> None:
        """See :meth:`CheckpointStore.fork_run` (one write transaction)."""
        await self._call(
            self._use().fork_run,
            run,
            parent_run_id,
            parent_seq,
            checkpoint,
            list(requests),
            stream_upto,
        )

    async def run_lineage(self, run_id: str) -> RunLineage:
        """See :meth:`CheckpointStore.run_lineage`."""
        return await self._call(self._use().run_lineage, run_id)

    async def read_stream(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StreamEntry]:
        """See :meth:`RunStore.read_stream`."""
        check_paging(limit, 0)
        return await self._call(self._use().read_stream, run_id, after, limit)

    async def add_inbound(self, run_id: str, payload: dict[str, Any]) -> InboundEvent:
        """See :meth:`RunStore.add_inbound`."""
        return await self._call(self._use().add_inbound, run_id, payload)

    async def list_inbound(self, run_id: str) -> list[InboundEvent]:
        """See :meth:`RunStore.list_inbound`."""
        return await self._call(self._use().list_inbound, run_id)

    async def get_request(self, request_id: str) -> InputRequest:
        """See :meth:`RunStore.get_request`."""
        return await self._call(self._use().get_request, request_id)

    async def list_requests(
        self,
        *,
        workflow: str | None = None,
        run_id: str | None = None,
        status: RequestStatus | None = "pending",
        limit: int = 100,
        offset: int = 0,
    ) -> list[InputRequest]:
        """See :meth:`RunStore.list_requests`."""
        check_paging(limit, offset)
        return await self._call(self._use().list_requests, workflow, run_id, status, limit, offset)

    async def answer_request(
        self,
        request_id: str,
        response: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        answered_by: str | None = None,
        known: InputRequest | None = None,
        holder: str | None = None,
    ) -> InboundEvent | None:
        """See :meth:`RunStore.answer_request`."""
        return await self._call(
            self._use().answer_request, request_id, response, idempotency_key, answered_by, holder
        )

    async def answer_requests(
        self, answers: Sequence[Answer]
    ) -> list[InboundEvent | Exception | None]:
        """See :meth:`RunStore.answer_requests`: one transaction, one hand-off."""
        ops = self._use()
        if not answers:
            return []
        return await self._call(ops.answer_requests, list(answers))

    async def changed_elsewhere(self) -> bool:
        """True if another process committed to the database file since the last call
        (a cheap check: ``PRAGMA data_version`` on this store's connection)."""
        version = await self._call(self._use().data_version)
        changed = self._seen_data_version is not None and version != self._seen_data_version
        self._seen_data_version = version
        return changed

    # -- tasks --------------------------------------------------------------------------------

    async def query_requests(self, query: RequestQuery) -> RequestPage:
        """See :meth:`RunStore.query_requests` (one index range per page; see the
        migration that adds the task fields)."""
        after = check_query(query)
        return await self._call(self._use().query_requests, query, after)

    async def set_assignee(
        self,
        request_id: str,
        assignee: str | None,
        *,
        actor: str | None,
        action: AssigneeAction,
        expected: str | _Any | None = ANY,
        now: float | None = None,
    ) -> InputRequest:
        """See :meth:`RunStore.set_assignee` (one write transaction: the file's write
        lock makes the compare-and-set atomic, across processes too)."""
        check_assignee_change(assignee, actor, action)
        return await self._call(
            self._use().set_assignee, request_id, assignee, actor, action, expected, now
        )

    async def request_audit(self, request_id: str) -> list[AuditEntry]:
        """See :meth:`RunStore.request_audit`."""
        return await self._call(self._use().request_audit, request_id)

    async def audit_after(self, after_id: int, limit: int = 100) -> list[AuditEntry]:
        """See :meth:`RunStore.audit_after`."""
        check_paging(limit, 0)
        return await self._call(self._use().audit_after, after_id, limit)

    async def mark_overdue(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.mark_overdue`."""
        return await self._call(self._use().mark_overdue, now)

    async def webhook_cursor(self, endpoint: str) -> int | None:
        """See :meth:`RunStore.webhook_cursor`."""
        return await self._call(self._use().webhook_cursor, endpoint)

    async def advance_webhook_cursor(self, endpoint: str, audit_id: int) -> None:
        """See :meth:`RunStore.advance_webhook_cursor`."""
        await self._call(self._use().advance_webhook_cursor, endpoint, audit_id)

    async def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """See :meth:`RunStore.record_delivery`."""
        await self._call(self._use().record_delivery, attempt)

    async def list_deliveries(
        self,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        audit_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """See :meth:`RunStore.list_deliveries`."""
        check_paging(limit, 0)
        return await self._call(self._use().list_deliveries, endpoint, request_id, audit_id, limit)

    async def runs_with_work(self, *, now: float | None = None) -> list[str]:
        """See :meth:`RunStore.runs_with_work`."""
        return await self._call(self._use().runs_with_work, now)

    async def due_requests(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.due_requests`."""
        return await self._call(self._use().due_requests, now)

    async def claim_run(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> RunRecord:
        """See :meth:`RunStore.claim_run`."""
        return await self._call(self._use().claim_run, run_id, owner, lease_seconds, now)

    async def renew_lease(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> float:
        """See :meth:`RunStore.renew_lease`."""
        return await self._call(self._use().renew_lease, run_id, owner, lease_seconds, now)

    async def renew_leases(
        self,
        run_ids: Sequence[str],
        owner: str,
        lease_seconds: float,
        *,
        now: float | None = None,
    ) -> list[str]:
        """See :meth:`RunStore.renew_leases`."""
        ops = self._use()
        if not run_ids:
            return []
        return await self._call(ops.renew_leases, list(run_ids), owner, lease_seconds, now)

    async def claim_runs(
        self,
        owner: str,
        lease_seconds: float,
        *,
        limit: int,
        run_ids: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        now: float | None = None,
    ) -> list[RunRecord]:
        """See :meth:`RunStore.claim_runs` (one transaction: the write lock is the
        file's, so claims never race)."""
        ops = self._use()
        ids = None if run_ids is None else list(run_ids)
        if limit <= 0 or ids == []:
            return []
        return await self._call(ops.claim_runs, owner, lease_seconds, limit, ids, set(exclude), now)

    async def release_run(self, run_id: str, owner: str) -> None:
        """See :meth:`RunStore.release_run`."""
        await self._call(self._use().release_run, run_id, owner)
