"""``PostgresStore``: the run store for several workers sharing one PostgreSQL database.

Needs the ``postgres`` extra (``pip install 'durable-workflows[postgres]'``, which brings
asyncpg).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from functools import partial
from typing import Any
from urllib.parse import unquote, urlsplit

try:
    import asyncpg  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "PostgresStore needs asyncpg: pip install 'durable-workflows[postgres]'"
    ) from None

from workflows.errors import (
    CorruptRecordError,
    InputRequestNotFoundError,
    InvalidResponseError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreConnectionError,
    StoreError,
)
from workflows.stores import _postgres_checkpoints as checkpoints
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import check_checkpoint, check_fork, checkpoint_from_row
from workflows.stores._codec import decode, digest, encode, encode_opt
from workflows.stores._errors import RunFinishedError
from workflows.stores._lifecycle import StoreLifecycle
from workflows.stores._loading import LoadedRun, loaded_run
from workflows.stores._postgres_owners import EXPIRE_GONE_OWNERS_SQL, take_owner_lock
from workflows.stores._postgres_schema import migrate
from workflows.stores._postgres_tasks import PostgresTasks
from workflows.stores._records import (
    TERMINAL_STATUSES,
    Answer,
    Commit,
    InboundEvent,
    InputRequest,
    RequestStatus,
    RunRecord,
    RunStatus,
    StreamEntry,
)
from workflows.stores._rows import (
    REQUEST_COLUMNS,
    REQUEST_FROM,
    RUN_COLUMNS,
    check_intact,
    inbound_event,
    request_from_row,
    run_from_row,
    run_values,
    stream_entry,
)
from workflows.stores._rules import (
    answer_parts,
    answer_payload,
    check_answered_by,
    check_commit,
    check_holder,
    check_new_run_status,
    check_paging,
    check_quarantine,
    check_response_fits,
    created_detail,
    is_repeat_answer,
    lease_lost_message,
)
from workflows.stores._state_rows import encoded_state_changes, uses_state_rows, with_state_rows
from workflows.stores._url import mask_url

__all__ = ["PostgresStore"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_TERMINAL_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES)) + ")"
_COMMIT_ARGS = 30
"""``wf_commit``'s arguments; ``wf_commit_state``'s follow in ``PostgresStore._commit_args``."""
_COMMIT_SQL = "SELECT wf_commit(" + ", ".join(f"${i}" for i in range(1, _COMMIT_ARGS + 1)) + ")"
_COMMIT_STATE_SQL = _COMMIT_SQL + ", wf_commit_state($1, $31, $32, $33, $34)"
"""One commit with state changes: both calls in one statement, so one transaction."""
_COMMIT_CHECKPOINT_SQL = checkpoints.commit_sql(
    _COMMIT_SQL + " AS version, wf_commit_state($1, $31, $32, $33, $34)", first=35
)
"""One commit with state changes and a checkpoint to keep: one statement."""
_COMMIT_MANY_ARGS = 41
"""``wf_commit_many``'s arguments (``p_isolate`` first); the checkpoints' arrays follow."""
_COMMIT_MANY_CALL = (
    "wf_commit_many(" + ", ".join(f"${i}" for i in range(1, _COMMIT_MANY_ARGS + 1)) + ")"
)
_COMMIT_MANY_SQL = "SELECT * FROM " + _COMMIT_MANY_CALL
_COMMIT_MANY_CHECKPOINTS_SQL = checkpoints.commit_many_sql(
    _COMMIT_MANY_CALL, first=_COMMIT_MANY_ARGS + 1
)
"""A group commit whose commits keep checkpoints: one statement."""
_AUDIT_LOCK = "lock AS MATERIALIZED (SELECT wf_audit_writer())"
"""A CTE taking the audit writers' lock; a statement that writes audit rows refers to it
in the condition of its first row lock, so the lock is taken before (a one-time
filter), as ``_postgres_schema._AUDIT_LOCKS`` requires."""
_AUDIT_INSERT = (
    "INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail) "
)
_STATE_ROWS_SQL = (
    "SELECT run_id, key, value FROM wf_state WHERE run_id = ANY ($1::text[]) ORDER BY run_id, pos"
)


class PostgresStore(PostgresTasks, StoreLifecycle):
    """A :class:`~workflows.stores.RunStore` in PostgreSQL, through an asyncpg pool.

    Several worker processes, on several machines, may share one database: every commit
    is one call of a stored function (one round trip, one transaction) guarded by the
    run's version, answers are exactly-once through row locks, and leases
    (:meth:`claim_run`) say which worker owns a run. The schema is created and upgraded
    by versioned migrations when the store opens.

    Durability follows the server's settings: with the default ``synchronous_commit =
    on`` a commit has reached the server's disk when ``commit()`` returns.

    Args:
        dsn: A ``postgresql://user:password@host:port/database`` URL (asyncpg options
            in the query string are passed on).
        schema: PostgreSQL schema holding the tables (created if missing); give each
            application, or each test, its own.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        connect_timeout: Seconds to wait for the server when connecting.
        clock: Source of timestamps (default ``time.time``).
        listen_keepalive: Seconds between the keep-alive queries of an idle
            :meth:`work_notifications` connection (each may take as long again), so a
            silently dead connection is noticed within about twice this.

    Every operation raises only :class:`~workflows.errors.StoreError` subclasses;
    :class:`~workflows.errors.StoreConnectionError` when the server cannot be reached
    or a connection was lost (retrying later may succeed; a commit that failed so may
    or may not have been applied: the run's version tells).

    Example::

        async with PostgresStore("postgresql://app@db:5432/app") as store:
            pending = await store.list_requests(workflow="approval")
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        listen_keepalive: float = 5.0,
    ) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"invalid PostgreSQL schema name {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._clock = clock
        self._listen_keepalive = listen_keepalive
        self._pool: Any = None
        self._listeners: set[Any] = set()  # connections of work_notifications()
        self._listening = 0
        self._known_schemas: set[str] = set()
        parts = urlsplit(dsn)
        try:
            port = parts.port or 5432
        except ValueError:
            port = 5432
        self._address = f"{parts.hostname or 'localhost'}:{port}"
        self._database = unquote(parts.path.lstrip("/")) or "(default)"

    def __repr__(self) -> str:
        return f"PostgresStore({mask_url(self.dsn)!r}, schema={self.schema!r})"

    # -- lifecycle ------------------------------------------------------------------------

    async def _open(self) -> None:
        where = f"PostgreSQL at {self._address} (database {self._database!r})"
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout,
                reset=_keep_session,
                server_settings={
                    "search_path": self.schema,
                    "application_name": "durable-workflows",
                },
            )
        except Exception as exc:
            # Whatever the server or driver said, the store cannot be used.
            raise StoreConnectionError(f"cannot connect to {where}: {_describe(exc)}") from exc
        try:
            async with pool.acquire() as conn:
                await migrate(conn, self.schema, f"{where}, schema {self.schema!r}")
        except BaseException as exc:
            await _close_pool(pool, self._connect_timeout)
            if isinstance(exc, StoreError) or not isinstance(exc, Exception):
                raise
            if _is_connection_loss(exc):
                raise StoreConnectionError(f"cannot prepare {where}: {_describe(exc)}") from exc
            raise StoreError(f"cannot prepare {where}: {_describe(exc)}") from exc
        self._pool = pool

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        for conn in list(self._listeners):
            conn.terminate()  # their work_notifications() end (see there)
        if pool is not None:
            await _close_pool(pool, self._connect_timeout)

    def _use(self, *, retry: bool = False) -> Any:
        """The pool to run statements on; ``retry`` for statements that may run twice
        (reads, NOTIFY): they are tried once more on a fresh connection when the first
        one turns out to be lost (e.g. a pooled connection whose backend was ended)."""
        self._check_open()
        return _Connections(self._pool, retry)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn whatever the driver raises into the store's errors (StoreError ones pass)."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            if _is_connection_loss(exc):
                raise StoreConnectionError(
                    f"lost the connection to PostgreSQL at {self._address}: {_describe(exc)}"
                ) from exc
            if isinstance(exc, asyncpg.PostgresError):
                raise StoreError(f"PostgreSQL error: {_describe(exc)}") from exc
            raise StoreError(f"PostgreSQL driver error: {_describe(exc)}") from exc

    async def _require_run(self, pool: Any, run_id: str) -> None:
        if await pool.fetchval("SELECT 1 FROM wf_runs WHERE run_id = $1", run_id) is None:
            raise RunNotFoundError(run_id)

    # -- runs ------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> None:
        """See :meth:`RunStore.create_run`."""
        pool = self._use()
        check_new_run_status(run.status)
        values = run_values(run)
        with self._errors():
            try:
                await pool.execute(
                    f"INSERT INTO wf_runs ({RUN_COLUMNS}) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                    *values,
                )
            except asyncpg.UniqueViolationError:
                raise RunAlreadyExistsError(run.run_id) from None

    async def get_run(self, run_id: str) -> RunRecord:
        """See :meth:`RunStore.get_run`."""
        pool = self._use(retry=True)
        with self._errors():
            row = await pool.fetchrow(
                f"SELECT {RUN_COLUMNS} FROM wf_runs WHERE run_id = $1", run_id
            )
        if row is None:
            raise RunNotFoundError(run_id)
        return (await self._with_state(pool, [run_from_row(row)]))[0]

    async def _with_state(
        self, pool: Any, records: list[RunRecord], *, listing: bool = False
    ) -> list[RunRecord]:
        """``records`` with their snapshots' state filled from their state rows (one
        read for all of them; none when no snapshot leaves its state to rows)."""
        ids = [record.run_id for record in records if uses_state_rows(record.snapshot)]
        if not ids:
            return records
        rows: dict[str, list[tuple[str, str]]] = {run_id: [] for run_id in ids}
        with self._errors():
            for row in await pool.fetch(_STATE_ROWS_SQL, ids):
                rows[row[0]].append((row[1], row[2]))
        return [
            with_state_rows(record, rows[record.run_id], listing=listing)
            if record.run_id in rows
            else record
            for record in records
        ]

    async def load_many(self, run_ids: Sequence[str]) -> dict[str, LoadedRun]:
        """See :meth:`RunStore.load_many`: one statement (one round trip, one snapshot
        of the database) for the runs, their inbound events and their requests."""
        pool = self._use(retry=True)
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return {}
        with self._errors():
            rows = await pool.fetch(_LOAD_MANY_SQL, ids)
        loaded: dict[str, LoadedRun] = {}
        for row in rows:
            run_id = row[0]
            found = loaded_run(
                partial(_run_with_state, row),
                partial(_inbound_of, run_id, row["inbound"]),
                partial(_requests_of, row["requests"]),
            )
            assert found is not None
            loaded[run_id] = found
        return loaded

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunRecord]:
        """See :meth:`RunStore.list_runs`."""
        pool = self._use(retry=True)
        check_paging(limit, offset)
        where, args = _filters((("status", status), ("workflow", workflow)), "")
        sql = (
            f"SELECT {RUN_COLUMNS} FROM wf_runs{where} ORDER BY created_at DESC, run_id DESC "
            f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        with self._errors():
            rows = await pool.fetch(sql, *args, limit, offset)
        records = [run_from_row(row, listing=True) for row in rows]
        return await self._with_state(pool, records, listing=True)

    async def delete_run(self, run_id: str) -> None:
        """See :meth:`RunStore.delete_run`."""
        pool = self._use()
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                found = await conn.fetchval(
                    "DELETE FROM wf_runs WHERE run_id = $1 RETURNING 1", run_id
                )
                if found is None:
                    raise RunNotFoundError(run_id)
                for table in (
                    "wf_stream",
                    "wf_requests",
                    "wf_inbound",
                    "wf_state",
                    "wf_request_audit",
                    "wf_checkpoints",
                    "wf_forks",
                ):
                    await conn.execute(f"DELETE FROM {table} WHERE run_id = $1", run_id)

    # -- commits -----------------------------------------------------------------------

    async def commit(self, commit: Commit) -> int:
        """See :meth:`RunStore.commit`."""
        pool = self._use()
        args, new_schemas = self._commit_args(commit)
        kept = _checkpoint_of(commit)
        with self._errors():
            try:
                if kept is not None:
                    version = await pool.fetchval(_COMMIT_CHECKPOINT_SQL, *args, *kept)
                elif commit.state is None:
                    version = await pool.fetchval(_COMMIT_SQL, *args[:_COMMIT_ARGS])
                else:
                    version = await pool.fetchval(_COMMIT_STATE_SQL, *args)
            except asyncpg.PostgresError as exc:
                raise _commit_refusal(commit.run_id, exc) from None
        self._known_schemas.update(new_schemas)
        return int(version)

    def _commit_args(self, commit: Commit) -> tuple[tuple[Any, ...], dict[str, str]]:
        """The arguments of ``wf_commit`` for ``commit`` (the new requests' task fields
        last) followed by those of ``wf_commit_state`` (reset, deleted keys, keys,
        values), and the response
        schemas it adds that this store has not written yet (no I/O)."""
        check_commit(commit)
        run_id = commit.run_id
        what = f"run {run_id!r}"
        requests = commit.new_requests
        schemas = [
            encode(r.response_schema, f"response schema of input request {r.request_id!r}")
            for r in requests
        ]
        digests = [digest(text) for text in schemas]
        new_schemas = {
            d: s for d, s in zip(digests, schemas, strict=True) if d not in self._known_schemas
        }
        args = (
            run_id,
            commit.expected_version,
            encode(commit.snapshot, f"snapshot of {what}"),
            commit.status,
            encode_opt(commit.result, f"result of {what}"),
            encode_opt(commit.error, f"error of {what}"),
            self._clock(),
            [item[0] for item in commit.stream],
            [item[1] for item in commit.stream],
            [encode(item[2], f"stream entry {item[0]} of {what}") for item in commit.stream],
            [r.request_id for r in requests],
            [r.workflow for r in requests],
            [r.event_type for r in requests],
            [encode(r.payload, f"payload of input request {r.request_id!r}") for r in requests],
            [r.created_at for r in requests],
            [r.deadline for r in requests],
            digests,
            list(new_schemas),
            list(new_schemas.values()),
            [item[0] for item in commit.closed_requests],
            [item[1] for item in commit.closed_requests],
            list(commit.consumed_inbound),
            [commit.answered_by.get(item[0]) for item in commit.closed_requests],
            *_task_arrays(requests),
            *encoded_state_changes(commit),
        )
        return args, new_schemas

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        """See :meth:`RunStore.commit_many`.

        One statement (``wf_commit_many``), hence one round trip and one transaction,
        for the whole batch. The commits are written in the order of their run ids, so
        two batches never wait for each other's rows in opposite orders (no deadlock).
        When a commit is refused, nothing of the first attempt is written and the batch
        runs again with each commit in a subtransaction of its own; after any other
        failure of the batch statement (not a lost connection) the commits are written
        one by one, so one bad commit never fails the others.
        """
        pool = self._use()
        outcomes: list[int | Exception] = [0] * len(commits)
        batch: list[tuple[int, tuple[Any, ...], dict[str, str]]] = []
        kept: dict[int, tuple[Any, ...]] = {}
        for index, commit in enumerate(commits):
            try:
                args, new_schemas = self._commit_args(commit)
                checkpoint = _checkpoint_of(commit)
            except (StoreError, ValueError) as exc:
                outcomes[index] = exc
            else:
                batch.append((index, args, new_schemas))
                if checkpoint is not None:
                    kept[index] = checkpoint
        if not batch:
            return outcomes
        batch.sort(key=lambda item: item[1][0])  # stable: one run's commits keep their order
        call = _commit_many_args(batch)
        if kept:
            call += checkpoints.many_checkpoint_args([kept.get(item[0]) for item in batch])
        rows = await self._commit_batch(pool, call, isolate=False)
        if rows is _REFUSED:
            rows = await self._commit_batch(pool, call, isolate=True)
        if rows is _REFUSED or rows is None:
            for index, _, _ in batch:
                commit = commits[index]
                try:
                    outcomes[index] = await self.commit(commit)
                except StoreConnectionError:
                    raise
                except (StoreError, ValueError) as exc:
                    outcomes[index] = exc
            return outcomes
        for (index, args, new_schemas), row in zip(batch, rows, strict=True):
            self._known_schemas.update(new_schemas)  # written before any commit of the batch
            if row[0] is not None:
                outcomes[index] = int(row[0])
            else:
                outcomes[index] = _refusal_from_row(args[0], row)
        return outcomes

    async def _commit_batch(self, pool: Any, args: tuple[Any, ...], *, isolate: bool) -> Any:
        """Run ``wf_commit_many``: its rows; ``_REFUSED`` when a commit was refused (only
        without ``isolate``: nothing written); ``None`` after another failure of the
        statement (nothing written). A lost connection raises."""
        plain = len(args) == _COMMIT_MANY_ARGS - 1  # without p_isolate, given apart
        sql = _COMMIT_MANY_SQL if plain else _COMMIT_MANY_CHECKPOINTS_SQL
        try:
            return await pool.fetch(sql, isolate, *args)
        except Exception as exc:
            if _is_connection_loss(exc):
                with self._errors():
                    raise
            if not isolate and getattr(exc, "sqlstate", None) in _REFUSAL_CODES:
                return _REFUSED
            return None

    async def quarantine_run(
        self, run_id: str, expected_version: int, error: dict[str, Any]
    ) -> int:
        """See :meth:`RunStore.quarantine_run`."""
        pool = self._use()
        text = check_quarantine(run_id, error)
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT wf_audit_writer()")  # before any row lock
                now = self._clock()
                version = await conn.fetchval(
                    "UPDATE wf_runs SET status = 'quarantined', error = $3, "
                    "version = version + 1, updated_at = $4, owner = NULL, "
                    f"lease_expires_at = NULL WHERE run_id = $1 AND version = $2 "
                    f"AND status NOT IN {_TERMINAL_SQL} RETURNING version",
                    run_id,
                    expected_version,
                    text,
                    now,
                )
                if version is not None:
                    await conn.execute("SELECT wf_cancel_pending($1, $2)", run_id, now)
        if version is not None:
            return int(version)
        with self._errors():
            row = await pool.fetchrow(
                "SELECT status, version FROM wf_runs WHERE run_id = $1", run_id
            )
        if row is None:
            raise RunNotFoundError(run_id)
        if row[0] in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, row[0])
        raise StaleRunError(run_id, f"stored version {row[1]}, expected {expected_version}")

    # -- checkpoints and forks (CheckpointStore) --------------------------------------------

    async def list_checkpoints(
        self, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.list_checkpoints`."""
        pool = self._use(retry=True)
        check_paging(limit, 0)
        with self._errors():
            rows = await pool.fetch(
                checkpoints.LIST_SQL, run_id, -1 if after is None else after, limit
            )
            if not rows:
                await self._require_run(pool, run_id)
        return [checkpoint_from_row(run_id, tuple(row), strict=False) for row in rows]

    async def checkpoint_chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        """See :meth:`CheckpointStore.checkpoint_chain` (one statement)."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(checkpoints.CHAIN_SQL, run_id, seq)
        return checkpoints.stored_chain(run_id, seq, rows)

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
        """See :meth:`CheckpointStore.fork_run` (one transaction; the parent is read by
        the copy of its stream and nothing else)."""
        pool = self._use()
        check_new_run_status(run.status)
        check_fork(run.run_id, parent_run_id, requests)
        meta = check_checkpoint(checkpoint, run.run_id)
        values = run_values(run)
        link = ForkLink(run.run_id, parent_run_id, parent_seq, self._clock())
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                digests = await checkpoints.write_fork(
                    conn,
                    run,
                    RUN_COLUMNS,
                    values,
                    link,
                    checkpoint,
                    meta,
                    requests,
                    _task_arrays(requests),
                    stream_upto,
                )
        self._known_schemas.update(digests)

    async def run_lineage(self, run_id: str) -> RunLineage:
        """See :meth:`CheckpointStore.run_lineage`."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(checkpoints.LINEAGE_SQL, run_id)
            if not rows:
                await self._require_run(pool, run_id)
        return checkpoints.lineage_of(run_id, rows)

    # -- stream log and inbound events ------------------------------------------------------

    async def read_stream(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[StreamEntry]:
        """See :meth:`RunStore.read_stream`."""
        pool = self._use(retry=True)
        check_paging(limit, 0)
        with self._errors():
            rows = await pool.fetch(
                "SELECT seq, event_type, payload, created_at FROM wf_stream "
                "WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                run_id,
                after,
                limit,
            )
            if not rows:
                await self._require_run(pool, run_id)
        return [stream_entry(run_id, *row) for row in rows]

    async def add_inbound(self, run_id: str, payload: dict[str, Any]) -> InboundEvent:
        """See :meth:`RunStore.add_inbound`."""
        pool = self._use()
        text = encode(payload, f"event for run {run_id!r}")
        now = self._clock()
        with self._errors():
            # FOR SHARE: a commit finishing the run concurrently either sees this event
            # (and discards it) or makes this insert see the run finished.
            inbound_id = await pool.fetchval(
                "INSERT INTO wf_inbound (run_id, request_id, created_at, payload) "
                "SELECT run_id, NULL, $2, $3 FROM wf_runs "
                f"WHERE run_id = $1 AND status NOT IN {_TERMINAL_SQL} FOR SHARE "
                "RETURNING id",
                run_id,
                now,
                text,
            )
            if inbound_id is None:
                status = await pool.fetchval("SELECT status FROM wf_runs WHERE run_id = $1", run_id)
                if status is None:
                    raise RunNotFoundError(run_id)
                raise RunFinishedError(run_id, status)
        return InboundEvent(inbound_id, run_id, decode(text), None, now)

    async def list_inbound(self, run_id: str) -> list[InboundEvent]:
        """See :meth:`RunStore.list_inbound`."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(
                "SELECT id, payload, request_id, created_at FROM wf_inbound "
                "WHERE run_id = $1 ORDER BY id",
                run_id,
            )
            if not rows:
                await self._require_run(pool, run_id)
        return [inbound_event(row[0], run_id, row[1], row[2], row[3]) for row in rows]

    # -- input requests ----------------------------------------------------------------

    async def get_request(self, request_id: str) -> InputRequest:
        """See :meth:`RunStore.get_request`."""
        pool = self._use(retry=True)
        with self._errors():
            row = await pool.fetchrow(
                f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} WHERE r.request_id = $1",
                request_id,
            )
        if row is None:
            raise InputRequestNotFoundError(request_id)
        return request_from_row(row)

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
        pool = self._use(retry=True)
        check_paging(limit, offset)
        where, args = _filters(
            (("workflow", workflow), ("run_id", run_id), ("status", status)), "r."
        )
        sql = (
            f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM}{where} "
            'ORDER BY r.created_at DESC, r.request_id COLLATE "C" DESC '
            f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        )
        with self._errors():
            rows = await pool.fetch(sql, *args, limit, offset)
        return [request_from_row(row) for row in rows]

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
        pool = self._use()
        check_answered_by(answered_by)
        request = known if known is not None and known.request_id == request_id else None
        if request is not None:  # its schema is the stored one; the write decides the rest
            try:
                check_intact(request, "response_schema", "response")
                check_response_fits(request, response)
            except (CorruptRecordError, InvalidResponseError):
                request = None  # decided on the stored request, as without ``known``
        if request is None:
            request = await self.get_request(request_id)
            check_holder(request, holder)
        check_intact(request, "response_schema", "response")
        if request.status == "pending":
            check_response_fits(request, response)
            text = encode(response, f"response to input request {request_id!r}")
            payload = encode(answer_payload(request_id, decode(text)), "answer")
            while True:
                now = self._clock()
                row = await self._answer_pending(
                    pool, request_id, text, idempotency_key, now, payload, answered_by, holder
                )
                if row is not None:
                    return InboundEvent(row[0], row[1], decode(payload), request_id, now)
                request = await self.get_request(request_id)  # someone else got there first
                check_holder(request, holder)
                if request.status != "pending":
                    break
                # Pending and free for ``holder`` again: another user held it at the
                # write and has let it go since. The write decides again.
        is_repeat_answer(request, response, idempotency_key)
        return None

    async def _answer_pending(
        self,
        pool: Any,
        request_id: str,
        text: str,
        idempotency_key: str | None,
        now: float,
        payload: str,
        answered_by: str | None,
        holder: str | None,
    ) -> Any:
        """Answer the request if it is pending (and, with ``holder``, unassigned or
        theirs), in one statement; the row of its inbound event, else ``None``."""
        with self._errors():
            # The conditional UPDATE takes the request's row lock: of many concurrent
            # answers exactly one finds it pending, and a claim either lands before
            # (and the condition on the assignee sees it) or waits and finds it answered.
            return await pool.fetchrow(
                f"WITH {_AUDIT_LOCK}, answered AS (UPDATE wf_requests SET "
                "status = 'answered', response = $2, idempotency_key = $3, "
                "answered_at = $4, answered_by = $6 WHERE request_id = $1 "
                "AND status = 'pending' "
                "AND ($7::text IS NULL OR assignee IS NULL OR assignee = $7) "
                "AND EXISTS (SELECT 1 FROM lock) "
                "RETURNING run_id, workflow), "
                f"audit AS ({_AUDIT_INSERT}SELECT $1, run_id, workflow, $4, 'answered', "
                "$6, '{}' FROM answered) "
                "INSERT INTO wf_inbound (run_id, request_id, created_at, payload) "
                "SELECT run_id, $1, $4, $5 FROM answered RETURNING id, run_id",
                request_id,
                text,
                idempotency_key,
                now,
                payload,
                answered_by,
                holder,
            )

    async def answer_requests(
        self, answers: Sequence[Answer]
    ) -> list[InboundEvent | Exception | None]:
        """See :meth:`RunStore.answer_requests`: the requests are read in one statement
        and every pending one is answered in one more (one transaction): each
        conditional UPDATE takes its request's row lock, so of concurrent answers to
        one request exactly one wins, as with :meth:`answer_request`."""
        pool = self._use()
        if not answers:
            return []
        items = [answer_parts(answer) for answer in answers]
        ids = list(dict.fromkeys(item[0] for item in items))
        with self._errors():
            rows = await pool.fetch(
                f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} WHERE r.request_id = ANY ($1)",
                ids,
            )
        found = {row[0]: request_from_row(row) for row in rows}
        outcomes: list[InboundEvent | Exception | None] = [None] * len(answers)
        pending: dict[str, tuple[int, str, str | None, str, str | None, str | None]] = {}
        later: list[int] = []  # a request answered twice in this call: decided after
        for index, (request_id, response, key, by, holder) in enumerate(items):
            request = found.get(request_id)
            try:
                check_answered_by(by)
                if request is None:
                    raise InputRequestNotFoundError(request_id)
                if request_id in pending:
                    later.append(index)
                    continue
                check_holder(request, holder)
                check_intact(request, "response_schema", "response")
                if request.status != "pending":
                    is_repeat_answer(request, response, key)
                    continue  # outcome None: a repeat
                check_response_fits(request, response)
                text = encode(response, f"response to input request {request_id!r}")
                payload = encode(answer_payload(request_id, decode(text)), "answer")
            except (StoreError, ValueError) as exc:
                outcomes[index] = exc
                continue
            pending[request_id] = (index, text, key, payload, by, holder)
        if pending:
            now = self._clock()
            with self._errors():
                answered = await pool.fetch(
                    f"WITH {_AUDIT_LOCK}, "
                    "a AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                    "$4::text[], $6::text[], $7::text[]) WITH ORDINALITY AS a(id, response, "
                    "key, payload, who, holder, n)), "
                    "answered AS (UPDATE wf_requests r SET status = 'answered', "
                    "response = a.response, idempotency_key = a.key, answered_at = $5, "
                    "answered_by = a.who "
                    "FROM a WHERE r.request_id = a.id AND r.status = 'pending' "
                    "AND (a.holder IS NULL OR r.assignee IS NULL OR r.assignee = a.holder) "
                    "AND EXISTS (SELECT 1 FROM lock) "
                    "RETURNING r.request_id, r.run_id, r.workflow, a.payload, a.who, a.n), "
                    f"audit AS ({_AUDIT_INSERT}SELECT request_id, run_id, workflow, $5, "
                    "'answered', who, '{}' FROM answered ORDER BY n) "
                    "INSERT INTO wf_inbound (run_id, request_id, created_at, payload) "
                    "SELECT run_id, request_id, $5, payload FROM answered "
                    "RETURNING id, run_id, request_id",
                    list(pending),
                    [item[1] for item in pending.values()],
                    [item[2] for item in pending.values()],
                    [item[3] for item in pending.values()],
                    now,
                    [item[4] for item in pending.values()],
                    [item[5] for item in pending.values()],
                )
            for inbound_id, run_id, request_id in answered:
                index, _, _, payload, _, _ = pending.pop(request_id)
                outcomes[index] = InboundEvent(inbound_id, run_id, decode(payload), request_id, now)
            later.extend(item[0] for item in pending.values())  # others got there first
        for index in sorted(later):
            request_id, response, key, by, holder = items[index]
            try:
                outcomes[index] = await self.answer_request(
                    request_id, response, idempotency_key=key, answered_by=by, holder=holder
                )
            except StoreConnectionError:
                raise
            except (StoreError, ValueError) as exc:
                outcomes[index] = exc
        return outcomes

    # -- recovery and leases ---------------------------------------------------------------

    async def runs_with_work(self, *, now: float | None = None) -> list[str]:
        """See :meth:`RunStore.runs_with_work`."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(
                "SELECT r.run_id FROM wf_runs r WHERE (r.status = 'running' OR "
                "(r.status = 'waiting' AND EXISTS "
                "(SELECT 1 FROM wf_inbound i WHERE i.run_id = r.run_id))) AND "
                "($1::double precision IS NULL OR r.lease_expires_at IS NULL "
                "OR r.lease_expires_at <= $1)",
                now,
            )
        return [row[0] for row in rows]

    async def due_requests(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.due_requests`."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(
                f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM} "
                "WHERE r.status = 'pending' AND r.deadline IS NOT NULL AND r.deadline <= $1 "
                "ORDER BY r.deadline, r.request_id",
                now,
            )
        return [request_from_row(row) for row in rows]

    async def claim_run(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> RunRecord:
        """See :meth:`RunStore.claim_run`."""
        pool = self._use()
        stamp = self._clock() if now is None else now
        with self._errors():
            row = await pool.fetchrow(
                "UPDATE wf_runs SET owner = $2, lease_expires_at = $3 + $4, "
                "version = version + 1 "
                f"WHERE run_id = $1 AND status NOT IN {_TERMINAL_SQL} AND (owner IS NULL "
                "OR owner = $2 OR lease_expires_at IS NULL OR lease_expires_at <= $3) "
                f"RETURNING {RUN_COLUMNS}",
                run_id,
                owner,
                stamp,
                float(lease_seconds),
            )
        if row is not None:  # a damaged row raises with the claim made
            return (await self._with_state(pool, [run_from_row(row)]))[0]
        status, holder, expires = await self._lease_of(run_id)
        if status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, status)
        raise StaleRunError(run_id, f"leased by {holder!r} until {expires}")

    async def _lease_of(self, run_id: str) -> tuple[str, str | None, float | None]:
        """The run's status, lease owner and expiry (no JSON column is read)."""
        pool = self._use(retry=True)
        with self._errors():
            row = await pool.fetchrow(
                "SELECT status, owner, lease_expires_at FROM wf_runs WHERE run_id = $1", run_id
            )
        if row is None:
            raise RunNotFoundError(run_id)
        return row[0], row[1], row[2]

    async def renew_lease(
        self, run_id: str, owner: str, lease_seconds: float, *, now: float | None = None
    ) -> float:
        """See :meth:`RunStore.renew_lease`."""
        pool = self._use()
        expires = (self._clock() if now is None else now) + float(lease_seconds)
        with self._errors():
            renewed = await pool.fetchval(
                "UPDATE wf_runs SET lease_expires_at = $3 WHERE run_id = $1 AND owner = $2 "
                f"AND status NOT IN {_TERMINAL_SQL} RETURNING 1",
                run_id,
                owner,
                expires,
            )
        if renewed is not None:
            return expires
        status, holder, _ = await self._lease_of(run_id)
        if status in TERMINAL_STATUSES:
            raise RunFinishedError(run_id, status)
        raise StaleRunError(run_id, lease_lost_message(owner, holder))

    async def renew_leases(
        self,
        run_ids: Sequence[str],
        owner: str,
        lease_seconds: float,
        *,
        now: float | None = None,
    ) -> list[str]:
        """See :meth:`RunStore.renew_leases`: one UPDATE for all the runs."""
        pool = self._use()
        if not run_ids:
            return []
        expires = (self._clock() if now is None else now) + float(lease_seconds)
        with self._errors():
            rows = await pool.fetch(
                "UPDATE wf_runs SET lease_expires_at = $3 WHERE run_id = ANY ($1::text[]) "
                f"AND owner = $2 AND status NOT IN {_TERMINAL_SQL} RETURNING run_id",
                list(run_ids),
                owner,
                expires,
            )
        renewed = {row[0] for row in rows}
        return [run_id for run_id in run_ids if run_id not in renewed]

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
        """See :meth:`RunStore.claim_runs`: one statement; rows another worker is
        claiming (locked) are skipped (``FOR UPDATE SKIP LOCKED``), not waited for."""
        pool = self._use()
        ids = None if run_ids is None else list(run_ids)
        if limit <= 0 or ids == []:
            return []
        stamp = self._clock() if now is None else now
        with self._errors():
            rows = await pool.fetch(
                _CLAIM_RUNS_SQL, owner, stamp, float(lease_seconds), limit, ids, list(exclude)
            )
        records = [run_from_row(row, listing=True) for row in rows]
        return await self._with_state(pool, records, listing=True)

    async def release_run(self, run_id: str, owner: str) -> None:
        """See :meth:`RunStore.release_run`."""
        pool = self._use()
        with self._errors():
            found = await pool.fetchval(
                "UPDATE wf_runs SET owner = CASE WHEN owner = $2 THEN NULL ELSE owner END, "
                "lease_expires_at = CASE WHEN owner = $2 THEN NULL ELSE lease_expires_at END "
                "WHERE run_id = $1 RETURNING 1",
                run_id,
                owner,
            )
        if found is None:
            raise RunNotFoundError(run_id)

    async def expire_gone_owners(
        self, owner: str, *, now: float | None = None, grace: float = 5.0
    ) -> list[str]:
        """End the leases of workers whose database session is gone; return those runs.

        Every worker holds a liveness lock on its id for as long as its listening
        connection lives (``work_notifications(hold_owner_lock=...)``). A worker killed
        with ``kill -9``, out of memory or on a lost machine loses that session, so its
        runs need not wait for their leases to run out: their leases are ended here and
        the runs can be claimed at once (claiming bumps the version, so a worker that is
        in fact alive can commit nothing more). Nothing is ended within ``grace``
        seconds of a database start, while live workers are still reconnecting.
        """
        pool = self._use()
        stamp = self._clock() if now is None else now
        with self._errors():
            rows = await pool.fetch(EXPIRE_GONE_OWNERS_SQL, owner, stamp, self.schema, float(grace))
        return [row[0] for row in rows]

    # -- wake-ups (LISTEN/NOTIFY) ----------------------------------------------------------

    @property
    def _channel(self) -> str:
        return f"wf_work_{self.schema}"

    async def notify_work(self, run_id: str) -> None:
        """Tell every listening worker that ``run_id`` has work (NOTIFY)."""
        pool = self._use(retry=True)
        with self._errors():
            await pool.execute("SELECT pg_notify($1, $2)", self._channel, run_id)

    async def notify_work_many(self, messages: Sequence[str]) -> None:
        """:meth:`notify_work` for several messages, in one statement."""
        pool = self._use(retry=True)
        with self._errors():
            await pool.execute(
                "SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m",
                self._channel,
                list(messages),
            )

    @property
    def listening(self) -> bool:
        """True while a :meth:`work_notifications` connection is listening: from the
        moment its ``LISTEN`` is in place until its connection is lost or it ends."""
        return self._listening > 0

    async def work_notifications(
        self,
        *,
        on_listening: Callable[[], object] | None = None,
        hold_owner_lock: str | None = None,
    ) -> AsyncIterator[str]:
        """Yield run ids as other processes call :meth:`notify_work` (LISTEN).

        Uses a dedicated connection, opened at the first ``__anext__``. Once its
        ``LISTEN`` is in place, :attr:`listening` is True and ``on_listening()`` (if given)
        is called, before anything is yielded: wake-ups sent from then on are received,
        so a caller that polls for work after that moment misses nothing. Nothing special
        is yielded for it.

        A lost connection ends the iteration with :class:`StoreConnectionError`:
        promptly when the server ends it (``pg_terminate_backend``, a restart, a
        shutdown), and within about twice ``listen_keepalive`` seconds when it dies
        silently (an idle connection is probed with a query every ``listen_keepalive``
        seconds, which must answer within as long again). Wake-ups sent while no
        connection listens are not delivered later: after this raises, reconnect by
        calling it again, and poll for work once the new connection listens. The
        iteration ends quietly when the store is closed.

        With ``hold_owner_lock``, the connection also holds that worker id's liveness
        lock for as long as it listens (see :meth:`expire_gone_owners`); the id must not
        be in use by another live session.

        Raises:
            StoreConnectionError: the server cannot be reached, or the connection was lost.
            StoreError: the store is not open.
        """
        self._check_open()
        queue: asyncio.Queue[str | None] = asyncio.Queue()  # None: the connection is gone

        def _received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            queue.put_nowait(payload)

        def _terminated(_conn: Any) -> None:
            queue.put_nowait(None)

        with self._errors():
            conn = await asyncpg.connect(
                self.dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": "durable-workflows-listen"},
            )
        if not self.is_open:  # closed while connecting
            conn.terminate()
            return
        self._listeners.add(conn)
        getter: asyncio.Task[str | None] | None = None
        listening = healthy = False
        try:
            conn.add_termination_listener(_terminated)
            with self._errors():
                if hold_owner_lock is not None:
                    await take_owner_lock(conn, self.schema, hold_owner_lock)
                await conn.add_listener(self._channel, _received)
            listening = healthy = True
            self._listening += 1
            if on_listening is not None:
                on_listening()
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(queue.get())
                # asyncio.wait, not wait_for: a timeout must not lose a received message.
                done, _ = await asyncio.wait({getter}, timeout=self._listen_keepalive)
                if not done:
                    healthy = False
                    with self._errors():
                        await conn.fetchval("SELECT 1", timeout=self._listen_keepalive)
                    healthy = True
                    continue
                payload, getter = getter.result(), None
                if payload is None:
                    healthy = False
                    if not self.is_open:
                        return  # the store was closed
                    raise StoreConnectionError(
                        f"lost the wake-up connection to PostgreSQL at {self._address}"
                    )
                yield payload
        finally:
            if getter is not None:
                getter.cancel()
            if listening:
                self._listening -= 1
            self._listeners.discard(conn)
            conn.remove_termination_listener(_terminated)
            if healthy and not conn.is_closed():
                with suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
            if not conn.is_closed():
                conn.terminate()  # lost, or did not close in time: drop it at once


# Errors that say the server or the connection is gone (or not there yet), rather than
# that the statement was wrong: retrying on a new connection later may succeed.
_CONNECTION_LOSS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (and TimeoutError on Python >= 3.11)
    asyncio.TimeoutError,  # connect or acquire timed out
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing", ...
    asyncpg.InternalClientError,  # "cannot switch to state ...", a broken protocol
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.AdminShutdownError,  # 57P01: pg_terminate_backend, shutdown
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.IdleSessionTimeoutError,  # 57P05
    asyncpg.TooManyConnectionsError,  # 53300
)
# ... except these, which are about the statement or the client's configuration.
_NOT_CONNECTION_LOSS: tuple[type[BaseException], ...] = (
    ValueError,  # asyncpg's DataError (bad argument), ClientConfigurationError
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)


class _Connections:
    """The pool's statement methods, made safe for lost connections.

    A connection that failed with a connection loss is terminated before it goes back to
    the pool, so the pool opens a new one instead of handing the broken one out again
    (a backend ended while the connection sat idle in the pool is only noticed when it
    is used). With ``retry``, a statement that failed so is run once more.
    """

    def __init__(self, pool: Any, retry: bool) -> None:
        self._pool = pool
        self._retry = retry

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as conn:
            try:
                yield conn
            except Exception as exc:
                if _is_connection_loss(exc):
                    # (A connection closed under us is already detached from its proxy,
                    # which then refuses every call: nothing left to drop.)
                    with suppress(asyncpg.InterfaceError):
                        conn.terminate()
                raise

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        for attempt in (1, 2):
            used = False  # a failure to connect is not retried: the server is away
            try:
                async with self.acquire() as conn:
                    used = True
                    return await getattr(conn, method)(sql, *args)
            except Exception as exc:
                if attempt == 2 or not (self._retry and used and _is_connection_loss(exc)):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._run("execute", sql, args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._run("fetch", sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchrow", sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, args)


def _is_connection_loss(exc: BaseException) -> bool:
    return isinstance(exc, _CONNECTION_LOSS) and not isinstance(exc, _NOT_CONNECTION_LOSS)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _close_pool(pool: Any, timeout: float) -> None:
    """Close ``pool`` gracefully if the server answers within ``timeout``, else drop its
    connections: closing never raises and never hangs on a dead server."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except Exception:
        pool.terminate()


async def _keep_session(conn: Any) -> None:
    """Skip asyncpg's reset query on pool release (a round trip per operation): the
    store never changes session state (no SET, LISTEN or session-level advisory lock),
    and asyncpg still rolls back a transaction left open."""


def _filters(pairs: Any, prefix: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in pairs:
        if value is not None:
            args.append(value)
            clauses.append(f"{prefix}{column} = ${len(args)}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


_CLAIM_RUNS_SQL = f"""
WITH picked AS (
    SELECT r.run_id FROM wf_runs r
    WHERE ($5::text[] IS NOT NULL OR r.status = 'running' OR (r.status = 'waiting'
           AND EXISTS (SELECT 1 FROM wf_inbound i WHERE i.run_id = r.run_id)))
      AND r.status NOT IN {_TERMINAL_SQL}
      AND (r.owner IS NULL OR r.owner = $1 OR r.lease_expires_at IS NULL
           OR r.lease_expires_at <= $2)
      AND ($5::text[] IS NULL OR r.run_id = ANY ($5::text[]))
      AND NOT (r.run_id = ANY ($6::text[]))
    ORDER BY r.updated_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE wf_runs r SET owner = $1, lease_expires_at = $2 + $3, version = r.version + 1
FROM picked WHERE r.run_id = picked.run_id AND r.status NOT IN {_TERMINAL_SQL}
RETURNING {", ".join("r." + c.strip() for c in RUN_COLUMNS.split(","))}
"""
"""Claims up to ``$4`` free runs with work for owner ``$1`` (``$5``: only among these
ids; never those of ``$6``): ``$2`` now, ``$3`` the lease. Rows locked by a concurrent
claim are skipped."""

_LOAD_MANY_SQL = f"""
SELECT {RUN_COLUMNS},
    ARRAY(SELECT ROW(i.id, i.payload, i.request_id, i.created_at) FROM wf_inbound i
          WHERE i.run_id = w.run_id ORDER BY i.id) AS inbound,
    ARRAY(SELECT ROW({REQUEST_COLUMNS}) FROM {REQUEST_FROM}
          WHERE r.run_id = w.run_id
          ORDER BY r.created_at DESC, r.request_id DESC) AS requests,
    ARRAY(SELECT ROW(s.key, s.value) FROM wf_state s
          WHERE s.run_id = w.run_id ORDER BY s.pos) AS state
FROM wf_runs w WHERE w.run_id = ANY ($1::text[])
"""


def _run_with_state(row: Any) -> RunRecord:
    """The run of a ``_LOAD_MANY_SQL`` row, its snapshot filled from the row's state rows
    (read in the same statement, so from the same commit)."""
    return with_state_rows(run_from_row(row), [(key, value) for key, value in row["state"]])


def _inbound_of(run_id: str, rows: list[tuple[Any, ...]]) -> list[InboundEvent]:
    return [inbound_event(row[0], run_id, row[1], row[2], row[3]) for row in rows]


def _requests_of(rows: list[tuple[Any, ...]]) -> list[InputRequest]:
    return [request_from_row(row) for row in rows]


_REFUSAL_CODES = frozenset({"WF404", "WF409", "WF410", "23505"})
"""SQLSTATEs by which ``wf_commit`` refuses one commit (a duplicate seq or request id
is a unique violation)."""

_REFUSED = object()
"""What :meth:`PostgresStore._commit_batch` returns when one commit of a batch was
refused and the batch must run again isolated."""


def _task_arrays(requests: Sequence[InputRequest]) -> list[list[Any]]:
    """The task fields of new requests as ``wf_commit``'s task arguments (see
    ``_postgres_schema._TASK_ARRAYS``)."""
    return [
        [r.assignee for r in requests],
        [encode(list(r.candidate_users), "candidate users") for r in requests],
        [encode(list(r.candidate_groups), "candidate groups") for r in requests],
        [r.priority for r in requests],
        [None if r.due is None else float(r.due) for r in requests],
        [None if r.follow_up is None else float(r.follow_up) for r in requests],
        [encode(created_detail(r), "audit detail") for r in requests],
    ]


def _commit_many_args(batch: list[tuple[int, tuple[Any, ...], dict[str, str]]]) -> tuple[Any, ...]:
    """The arguments of ``wf_commit_many`` (after ``p_isolate``) for ``wf_commit``
    argument tuples (see ``PostgresStore._commit_args``)."""
    columns: list[list[Any]] = [[] for _ in range(32)]
    (run_ids, expected, snapshots, statuses, results, errors, stream_ends, seqs, types,
     payloads, req_ends, req_ids, req_workflows, req_types, req_payloads, req_created,
     req_deadlines, req_digests, closed_ends, closed_ids, closed_statuses, consumed_ends,
     consumed, schema_digests, schema_bodies, closed_by, state_resets, state_del_ends,
     state_deleted, state_ends, state_keys, state_values) = columns  # fmt: skip
    tasks: list[list[Any]] = [[] for _ in range(_COMMIT_ARGS - 23)]
    schemas: dict[str, str] = {}
    now = batch[0][1][6]
    for _, args, new_schemas in batch:
        run_ids.append(args[0])
        expected.append(args[1])
        snapshots.append(args[2])
        statuses.append(args[3])
        results.append(args[4])
        errors.append(args[5])
        seqs.extend(args[7])
        types.extend(args[8])
        payloads.extend(args[9])
        stream_ends.append(len(seqs))
        req_ids.extend(args[10])
        req_workflows.extend(args[11])
        req_types.extend(args[12])
        req_payloads.extend(args[13])
        req_created.extend(args[14])
        req_deadlines.extend(args[15])
        req_digests.extend(args[16])
        req_ends.append(len(req_ids))
        closed_ids.extend(args[19])
        closed_statuses.extend(args[20])
        closed_by.extend(args[22])
        closed_ends.append(len(closed_ids))
        consumed.extend(args[21])
        consumed_ends.append(len(consumed))
        for column, values in zip(tasks, args[23:_COMMIT_ARGS], strict=True):
            column.extend(values)
        reset, deleted, keys, values = args[_COMMIT_ARGS:]
        state_resets.append(reset)
        state_deleted.extend(deleted)
        state_del_ends.append(len(state_deleted))
        state_keys.extend(keys)
        state_values.extend(values)
        state_ends.append(len(state_keys))
        schemas.update(new_schemas)
    schema_digests.extend(schemas)
    schema_bodies.extend(schemas.values())
    return (
        now, run_ids, expected, snapshots, statuses, results, errors,
        stream_ends, seqs, types, payloads,
        req_ends, req_ids, req_workflows, req_types, req_payloads, req_created,
        req_deadlines, req_digests, schema_digests, schema_bodies,
        closed_ends, closed_ids, closed_statuses, consumed_ends, consumed, closed_by,
        state_resets, state_del_ends, state_deleted, state_ends, state_keys, state_values,
        *tasks,
    )  # fmt: skip


def _commit_refusal(run_id: str, exc: Any) -> BaseException:
    """The store's error for ``wf_commit`` failing with ``exc`` (the driver's error
    itself when it is no refusal, for ``_errors`` to translate)."""
    code = getattr(exc, "sqlstate", None)
    message = getattr(exc, "message", str(exc))
    if code == "WF404":
        return RunNotFoundError(run_id)
    if code == "WF410":
        return RunFinishedError(run_id, message)
    if code == "WF409":
        return StaleRunError(run_id, message)
    if code == "23505":
        constraint = getattr(exc, "constraint_name", None)
        return _duplicate(run_id, constraint, getattr(exc, "detail", None))
    return exc


def _checkpoint_of(commit: Commit) -> tuple[Any, ...] | None:
    """The checkpoint arguments of ``commit``, checked (``None``: it keeps none).

    Raises:
        ValueError, StoreError: a malformed checkpoint (see ``check_checkpoint``).
    """
    write = commit.checkpoint
    if write is None:
        return None
    return checkpoints.checkpoint_args(write, check_checkpoint(write, commit.run_id))


def _duplicate(run_id: str, constraint: str | None, detail: str | None) -> StoreError:
    if constraint == "wf_checkpoints_pkey":
        return StoreError(f"a checkpoint of run {run_id!r} already exists: {detail}")
    if constraint == "wf_stream_pkey":
        return StoreError(f"a stream entry seq of run {run_id!r} already exists: {detail}")
    return StoreError(f"an input request id already exists: {detail}")


def _refusal_from_row(run_id: str, row: Any) -> StoreError:
    """The error of one commit that ``wf_commit_many`` refused (an isolated row)."""
    _, code, message, constraint, detail = row
    if code == "WF404":
        return RunNotFoundError(run_id)
    if code == "WF410":
        return RunFinishedError(run_id, message)
    if code == "WF409":
        return StaleRunError(run_id, message)
    if code == "23505":
        return _duplicate(run_id, constraint, detail)
    return StoreError(f"PostgreSQL error committing run {run_id!r}: {code}: {message}")
