"""The synchronous SQLite operations behind ``SqliteStore``.

Every method runs on the store's single worker thread, on its single connection (in
autocommit mode: each write opens its own ``BEGIN IMMEDIATE`` transaction, so several
processes may share one database file safely).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from workflows.errors import (
    InputRequestNotFoundError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreError,
)
from workflows.stores import _sqlite_checkpoints as checkpoints
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import check_checkpoint, check_fork
from workflows.stores._codec import decode, digest, encode, encode_opt
from workflows.stores._errors import RunFinishedError
from workflows.stores._loading import LoadedRun, loaded_run
from workflows.stores._records import (
    TERMINAL_STATUSES,
    Answer,
    Commit,
    InboundEvent,
    InputRequest,
    RunRecord,
    StreamEntry,
)
from workflows.stores._rows import (
    RUN_COLUMNS,
    check_intact,
    inbound_event,
    names_text,
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
    check_quarantine,
    check_response_fits,
    created_detail,
    is_repeat_answer,
    lease_lost_message,
)
from workflows.stores._sqlite_tasks import REQUEST_SELECT, SqliteTasks
from workflows.stores._state_rows import encoded_state_changes, uses_state_rows, with_state_rows

__all__ = ["SqliteOps"]

_CHUNK = 500  # ids per statement (SQLite allows at least 999 parameters)
_TERMINAL_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES)) + ")"


@dataclass(slots=True)
class _Prepared:
    """A commit checked and encoded, ready to be written."""

    commit: Commit
    snapshot: str
    result: str | None
    error: str | None
    stream: list[tuple[str, int, str, str]]
    requests: list[tuple[Any, ...]]  # wf_requests values (_REQUEST_INSERT), schema body
    created: list[tuple[str, str, str, float, str]]  # their ``created`` audit entries
    new_schemas: dict[str, str]
    state: tuple[bool, list[str], list[tuple[str, str, str]]]  # reset, deleted, rows
    checkpoint: tuple[CheckpointWrite, str] | None  # the write and its meta, encoded


_REQUEST_INSERT = (
    "INSERT INTO wf_requests (request_id, run_id, workflow, event_type, payload, created_at, "
    "deadline, schema_digest, status, assignee, candidate_users, candidate_groups, priority, "
    "due, follow_up) VALUES (?,?,?,?,?,?,?,?,'pending',?,?,?,?,?,?)"
)


def _created_rows(requests: Sequence[InputRequest]) -> list[tuple[str, str, str, float, str]]:
    """The ``created`` audit entries of new requests, as ``_audit_created`` writes them."""
    return [
        (r.request_id, r.run_id, r.workflow, r.created_at, encode(created_detail(r), "detail"))
        for r in requests
    ]


class SqliteOps(SqliteTasks):
    """The store operations over one open ``sqlite3`` connection (one thread only)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float]) -> None:
        self.conn = conn
        self._clock = clock
        self._known_schemas: set[str] = set()

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when another connection commits."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _with_state(self, record: RunRecord, *, listing: bool = False) -> RunRecord:
        """``record`` with its snapshot's state filled from its state rows."""
        if not uses_state_rows(record.snapshot):
            return record
        rows = self.conn.execute(
            "SELECT key, value FROM wf_state WHERE run_id = ? ORDER BY rowid", (record.run_id,)
        )
        return with_state_rows(record, rows, listing=listing)

    def _require_run(self, run_id: str) -> None:
        row = self.conn.execute("SELECT 1 FROM wf_runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)

    # -- runs ------------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        check_new_run_status(run.status)
        values = run_values(run)
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO wf_runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values
                )
        except sqlite3.IntegrityError:
            raise RunAlreadyExistsError(run.run_id) from None

    def get_run(self, run_id: str) -> RunRecord:
        row = self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM wf_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return self._with_state(run_from_row(row))

    def load_many(self, run_ids: list[str]) -> dict[str, LoadedRun]:
        # One read transaction: every run is seen as one commit left it.
        self.conn.execute("BEGIN")
        try:
            loaded: dict[str, LoadedRun] = {}
            for run_id in dict.fromkeys(run_ids):
                found = loaded_run(
                    partial(self.get_run, run_id),
                    partial(self.list_inbound, run_id),
                    partial(self.list_requests, None, run_id, None, -1, 0),
                )
                if found is not None:
                    loaded[run_id] = found
        finally:
            self.conn.execute("COMMIT")
        return loaded

    def list_runs(
        self, status: str | None, workflow: str | None, limit: int, offset: int
    ) -> list[RunRecord]:
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if workflow is not None:
            where.append("workflow = ?")
            args.append(workflow)
        sql = f"SELECT {RUN_COLUMNS} FROM wf_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
        rows = self.conn.execute(sql, (*args, limit, offset))
        return [self._with_state(run_from_row(row, listing=True), listing=True) for row in rows]

    def delete_run(self, run_id: str) -> None:
        with self._write() as conn:
            if conn.execute("DELETE FROM wf_runs WHERE run_id = ?", (run_id,)).rowcount == 0:
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
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    # -- commits -----------------------------------------------------------------------

    def commit(self, commit: Commit) -> int:
        prepared = self._prepare_commit(commit)
        with self._write():
            version = self._apply_commit(prepared, self._clock())
        self._known_schemas.update(prepared.new_schemas)
        return version

    def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        """Apply ``commits`` in order in ONE transaction; a commit that is refused (or
        cannot be encoded) is undone alone, through a savepoint, and its error is its
        outcome. Anything else (the disk, the lock) fails the whole call."""
        outcomes: list[int | Exception] = []
        prepared: list[tuple[int, _Prepared]] = []
        for index, commit in enumerate(commits):
            try:
                prepared.append((index, self._prepare_commit(commit)))
                outcomes.append(0)
            except (StoreError, ValueError) as exc:
                outcomes.append(exc)
        if not prepared:
            return outcomes
        now = self._clock()
        done: list[_Prepared] = []
        with self._write() as conn:
            for index, item in prepared:
                conn.execute("SAVEPOINT wf_commit")
                try:
                    outcomes[index] = self._apply_commit(item, now)
                except (StoreError, ValueError) as exc:
                    conn.execute("ROLLBACK TO wf_commit")
                    outcomes[index] = exc
                else:
                    done.append(item)
                conn.execute("RELEASE wf_commit")
        for item in done:
            self._known_schemas.update(item.new_schemas)
        return outcomes

    def _prepare_commit(self, commit: Commit) -> _Prepared:
        """Check and encode ``commit`` (no I/O): what :meth:`_apply_commit` writes."""
        check_commit(commit)
        run_id = commit.run_id
        what = f"run {run_id!r}"
        requests = [self._encode_request(request) for request in commit.new_requests]
        created = _created_rows(commit.new_requests)
        reset, deleted, keys, values = encoded_state_changes(commit)
        checkpoint = commit.checkpoint
        return _Prepared(
            commit,
            encode(commit.snapshot, f"snapshot of {what}"),
            encode_opt(commit.result, f"result of {what}"),
            encode_opt(commit.error, f"error of {what}"),
            [
                (run_id, seq, event_type, encode(payload, f"stream entry {seq} of {what}"))
                for seq, event_type, payload in commit.stream
            ],
            [request[:-1] for request in requests],
            created,
            {r[7]: r[-1] for r in requests if r[7] not in self._known_schemas},
            (reset, deleted, [(run_id, k, v) for k, v in zip(keys, values, strict=True)]),
            None if checkpoint is None else (checkpoint, check_checkpoint(checkpoint, run_id)),
        )

    def _apply_commit(self, prepared: _Prepared, now: float) -> int:
        """Write one prepared commit inside the open transaction; raise (having written
        part of it, for the caller to roll back) when the store refuses it."""
        conn = self.conn
        commit = prepared.commit
        run_id = commit.run_id
        finished = commit.status in TERMINAL_STATUSES
        updated = conn.execute(
            "UPDATE wf_runs SET snapshot = ?, status = ?, result = ?, error = ?, "
            "version = version + 1, updated_at = ?, "
            "owner = CASE WHEN ? THEN NULL ELSE owner END, "
            "lease_expires_at = CASE WHEN ? THEN NULL ELSE lease_expires_at END "
            f"WHERE run_id = ? AND version = ? AND status NOT IN {_TERMINAL_SQL}",
            (
                prepared.snapshot,
                commit.status,
                prepared.result,
                prepared.error,
                now,
                finished,
                finished,
                run_id,
                commit.expected_version,
            ),
        ).rowcount
        if updated == 0:
            self._refuse_commit(commit)
        reset, deleted_keys, state_rows = prepared.state
        if reset:
            conn.execute("DELETE FROM wf_state WHERE run_id = ?", (run_id,))
        elif deleted_keys:
            conn.executemany(
                "DELETE FROM wf_state WHERE run_id = ? AND key = ?",
                [(run_id, key) for key in deleted_keys],
            )
        if state_rows:
            conn.executemany(
                "INSERT INTO wf_state (run_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                state_rows,
            )
        for entry in prepared.stream:
            try:
                conn.execute(
                    "INSERT INTO wf_stream (run_id, seq, event_type, payload, created_at) "
                    "VALUES (?,?,?,?,?)",
                    (*entry, now),
                )
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"stream entry seq {entry[1]} of run {run_id!r} already exists"
                ) from None
        self._insert_requests(prepared.requests, prepared.created, prepared.new_schemas)
        for request_id, status in commit.closed_requests:
            by = commit.answered_by.get(request_id)
            self._close_request(run_id, request_id, status, now, by)
        if commit.consumed_inbound:
            ids = list(commit.consumed_inbound)
            marks = ",".join("?" * len(ids))
            deleted = conn.execute(
                f"DELETE FROM wf_inbound WHERE run_id = ? AND id IN ({marks})", (run_id, *ids)
            ).rowcount
            if deleted != len(ids):
                raise StaleRunError(run_id, "an inbound event to consume was already consumed")
        if finished:
            self._audit_cancel_pending(run_id, now)
            conn.execute(
                "UPDATE wf_requests SET status = 'cancelled', answered_at = ? "
                "WHERE run_id = ? AND status = 'pending'",
                (now, run_id),
            )
            conn.execute("DELETE FROM wf_inbound WHERE run_id = ?", (run_id,))
        if prepared.checkpoint is not None:
            write, meta = prepared.checkpoint
            checkpoints.insert_checkpoint(conn, run_id, write, meta, commit.status, now)
        return commit.expected_version + 1

    def _insert_requests(
        self,
        requests: list[tuple[Any, ...]],
        created: list[tuple[str, str, str, float, str]],
        schemas: dict[str, str],
    ) -> None:
        """Write encoded new requests (``_REQUEST_INSERT`` values), their ``created``
        audit entries and the schemas this store has not written yet, inside the open
        write transaction."""
        conn = self.conn
        if schemas:
            conn.executemany(
                "INSERT OR IGNORE INTO wf_schemas (digest, body) VALUES (?, ?)", schemas.items()
            )
        for request in requests:
            try:
                conn.execute(_REQUEST_INSERT, request)
            except sqlite3.IntegrityError:
                raise StoreError(f"input request {request[0]!r} already exists") from None
        if created:
            self._audit_created(created)

    def _encode_request(self, request: InputRequest) -> tuple[Any, ...]:
        what = f"input request {request.request_id!r}"
        schema = encode(request.response_schema, f"response schema of {what}")
        return (
            request.request_id,
            request.run_id,
            request.workflow,
            request.event_type,
            encode(request.payload, f"payload of {what}"),
            request.created_at,
            request.deadline,
            digest(schema),
            request.assignee,
            names_text(request.candidate_users),
            names_text(request.candidate_groups),
            request.priority,
            request.due,
            request.follow_up,
            schema,
        )

    def _refuse_commit(self, commit: Commit) -> None:
        row = self.conn.execute(
            "SELECT status, version FROM wf_runs WHERE run_id = ?", (commit.run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFoundError(commit.run_id)
        if row[0] in TERMINAL_STATUSES:
            raise RunFinishedError(commit.run_id, row[0])
        raise StaleRunError(
            commit.run_id, f"stored version {row[1]}, expected {commit.expected_version}"
        )

    def _close_request(
        self, run_id: str, request_id: str, status: str, now: float, by: str | None
    ) -> None:
        changed = self.conn.execute(
            "UPDATE wf_requests SET status = ?, answered_at = ?, answered_by = ? "
            "WHERE request_id = ? AND run_id = ? AND status = 'pending'",
            (status, now, by, request_id, run_id),
        ).rowcount
        if changed:
            self._audit(request_id, status, by, now)
            return
        row = self.conn.execute(
            "SELECT status FROM wf_requests WHERE request_id = ? AND run_id = ?",
            (request_id, run_id),
        ).fetchone()
        if row is None:
            raise StaleRunError(run_id, f"input request {request_id!r} is not a request of it")
        if row[0] != status:
            raise StaleRunError(run_id, f"input request {request_id!r} is already {row[0]}")

    def quarantine_run(self, run_id: str, expected_version: int, error: dict[str, Any]) -> int:
        text = check_quarantine(run_id, error)
        now = self._clock()
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE wf_runs SET status = 'quarantined', error = ?, version = version + 1, "
                "updated_at = ?, owner = NULL, lease_expires_at = NULL "
                f"WHERE run_id = ? AND version = ? AND status NOT IN {_TERMINAL_SQL}",
                (text, now, run_id, expected_version),
            ).rowcount
            if not updated:
                status, version = self._status_of(run_id)
                if status in TERMINAL_STATUSES:
                    raise RunFinishedError(run_id, status)
                raise StaleRunError(
                    run_id, f"stored version {version}, expected {expected_version}"
                )
            self._audit_cancel_pending(run_id, now)
            conn.execute(
                "UPDATE wf_requests SET status = 'cancelled', answered_at = ? "
                "WHERE run_id = ? AND status = 'pending'",
                (now, run_id),
            )
        return expected_version + 1

    def _status_of(self, run_id: str) -> tuple[str, int]:
        row = self.conn.execute(
            "SELECT status, version FROM wf_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return row[0], row[1]

    # -- checkpoints and forks ------------------------------------------------------------

    def list_checkpoints(
        self, run_id: str, after: int | None, limit: int | None
    ) -> list[StoredCheckpoint]:
        found = checkpoints.list_checkpoints(self.conn, run_id, after, limit)
        if not found:
            self._require_run(run_id)
        return found

    def checkpoint_chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        return checkpoints.read_chain(self.conn, run_id, seq)

    def fork_run(
        self,
        run: RunRecord,
        parent_run_id: str,
        parent_seq: int,
        checkpoint: CheckpointWrite,
        requests: list[InputRequest],
        stream_upto: int,
    ) -> None:
        check_new_run_status(run.status)
        check_fork(run.run_id, parent_run_id, requests)
        meta = check_checkpoint(checkpoint, run.run_id)
        encoded = [self._encode_request(request) for request in requests]
        schemas = {r[7]: r[-1] for r in encoded if r[7] not in self._known_schemas}
        created = _created_rows(requests)
        now = self._clock()
        with self._write() as conn:
            self._require_run(parent_run_id)
            try:
                conn.execute(
                    f"INSERT INTO wf_runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    run_values(run),
                )
            except sqlite3.IntegrityError:
                raise RunAlreadyExistsError(run.run_id) from None
            self._insert_requests([r[:-1] for r in encoded], created, schemas)
            checkpoints.insert_fork(
                conn, ForkLink(run.run_id, parent_run_id, parent_seq, now), stream_upto
            )
            checkpoints.insert_checkpoint(conn, run.run_id, checkpoint, meta, run.status, now)
        self._known_schemas.update(schemas)

    def run_lineage(self, run_id: str) -> RunLineage:
        found = checkpoints.lineage(self.conn, run_id)
        if found.forked_from is None and not found.forks:
            self._require_run(run_id)
        return found

    # -- stream log and inbound events ------------------------------------------------------

    def read_stream(self, run_id: str, after: int, limit: int | None) -> list[StreamEntry]:
        rows = self.conn.execute(
            "SELECT seq, event_type, payload, created_at FROM wf_stream "
            "WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after, -1 if limit is None else limit),
        ).fetchall()
        if not rows:
            self._require_run(run_id)
        return [stream_entry(run_id, *row) for row in rows]

    def add_inbound(self, run_id: str, payload: dict[str, Any]) -> InboundEvent:
        text = encode(payload, f"event for run {run_id!r}")
        with self._write() as conn:
            row = conn.execute("SELECT status FROM wf_runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(run_id)
            if row[0] in TERMINAL_STATUSES:
                raise RunFinishedError(run_id, row[0])
            return self._insert_inbound(run_id, text, None)

    def _insert_inbound(self, run_id: str, text: str, request_id: str | None) -> InboundEvent:
        now = self._clock()
        cursor = self.conn.execute(
            "INSERT INTO wf_inbound (run_id, request_id, created_at, payload) VALUES (?,?,?,?)",
            (run_id, request_id, now, text),
        )
        assert cursor.lastrowid is not None
        return InboundEvent(cursor.lastrowid, run_id, decode(text), request_id, now)

    def list_inbound(self, run_id: str) -> list[InboundEvent]:
        rows = self.conn.execute(
            "SELECT id, payload, request_id, created_at FROM wf_inbound "
            "WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()
        if not rows:
            self._require_run(run_id)
        return [inbound_event(row[0], run_id, row[1], row[2], row[3]) for row in rows]

    # -- input requests ----------------------------------------------------------------

    def get_request(self, request_id: str) -> InputRequest:
        row = self.conn.execute(
            f"{REQUEST_SELECT} WHERE r.request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            raise InputRequestNotFoundError(request_id)
        return request_from_row(row)

    def list_requests(
        self,
        workflow: str | None,
        run_id: str | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> list[InputRequest]:
        where, args = [], []
        for column, value in (("workflow", workflow), ("run_id", run_id), ("status", status)):
            if value is not None:
                where.append(f"r.{column} = ?")
                args.append(value)
        sql = REQUEST_SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created_at DESC, r.request_id DESC LIMIT ? OFFSET ?"
        return [request_from_row(row) for row in self.conn.execute(sql, (*args, limit, offset))]

    def answer_request(
        self,
        request_id: str,
        response: dict[str, Any],
        idempotency_key: str | None,
        answered_by: str | None,
        holder: str | None,
    ) -> InboundEvent | None:
        with self._write():
            return self._answer(request_id, response, idempotency_key, answered_by, holder)

    def answer_requests(self, answers: list[Answer]) -> list[InboundEvent | Exception | None]:
        outcomes: list[InboundEvent | Exception | None] = []
        with self._write() as conn:
            for answer in answers:
                conn.execute("SAVEPOINT wf_answer")
                try:
                    outcomes.append(self._answer(*answer_parts(answer)))
                except (StoreError, ValueError) as exc:
                    conn.execute("ROLLBACK TO wf_answer")
                    outcomes.append(exc)
                conn.execute("RELEASE wf_answer")
        return outcomes

    def _answer(
        self,
        request_id: str,
        response: dict[str, Any],
        idempotency_key: str | None,
        answered_by: str | None,
        holder: str | None,
    ) -> InboundEvent | None:
        """One answer, inside the open write transaction (which holds the database's
        write lock: no claim lands between the read of the request and the answer)."""
        check_answered_by(answered_by)
        conn = self.conn
        row = conn.execute(
            f"{REQUEST_SELECT} WHERE r.request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            raise InputRequestNotFoundError(request_id)
        request = request_from_row(row)
        check_holder(request, holder)
        check_intact(request, "response_schema", "response")
        if request.status != "pending":
            is_repeat_answer(request, response, idempotency_key)
            return None
        check_response_fits(request, response)
        text = encode(response, f"response to input request {request_id!r}")
        event = self._insert_inbound(
            request.run_id,
            encode(answer_payload(request_id, decode(text)), "answer"),
            request_id,
        )
        conn.execute(
            "UPDATE wf_requests SET status = 'answered', response = ?, "
            "idempotency_key = ?, answered_at = ?, answered_by = ? WHERE request_id = ?",
            (text, idempotency_key, event.created_at, answered_by, request_id),
        )
        self._audit(request_id, "answered", answered_by, event.created_at)
        return event

    # -- recovery and leases ---------------------------------------------------------------

    def runs_with_work(self, now: float | None) -> list[str]:
        free = "" if now is None else " AND (r.lease_expires_at IS NULL OR r.lease_expires_at <= ?)"
        args = () if now is None else (now, now)
        rows = self.conn.execute(
            f"SELECT r.run_id FROM wf_runs r WHERE r.status = 'running'{free} "
            "UNION SELECT r.run_id FROM wf_runs r "
            "WHERE r.status = 'waiting' AND EXISTS "
            f"(SELECT 1 FROM wf_inbound i WHERE i.run_id = r.run_id){free}",
            args,
        ).fetchall()
        return [row[0] for row in rows]

    def due_requests(self, now: float) -> list[InputRequest]:
        rows = self.conn.execute(
            f"{REQUEST_SELECT} "
            "WHERE r.status = 'pending' AND r.deadline IS NOT NULL AND r.deadline <= ? "
            "ORDER BY r.deadline, r.request_id",
            (now,),
        ).fetchall()
        return [request_from_row(row) for row in rows]

    def claim_run(
        self, run_id: str, owner: str, lease_seconds: float, now: float | None
    ) -> RunRecord:
        stamp = self._clock() if now is None else now
        with self._write() as conn:
            status, holder, expires = self._lease_of(run_id)
            if status in TERMINAL_STATUSES:
                raise RunFinishedError(run_id, status)
            held = expires is not None and expires > stamp
            if holder is not None and holder != owner and held:
                raise StaleRunError(run_id, f"leased by {holder!r} until {expires}")
            conn.execute(
                "UPDATE wf_runs SET owner = ?, lease_expires_at = ?, "
                "version = version + 1 WHERE run_id = ?",
                (owner, stamp + lease_seconds, run_id),
            )
            row = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM wf_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        # Decoded once the claim is written: a damaged row raises with the claim made,
        # as in every store (the caller holds the lease and knows the new version).
        return self._with_state(run_from_row(row))

    def _lease_of(self, run_id: str) -> tuple[str, str | None, float | None]:
        """The run's status, lease owner and expiry (no JSON column is read)."""
        row = self.conn.execute(
            "SELECT status, owner, lease_expires_at FROM wf_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        return row[0], row[1], row[2]

    def renew_lease(
        self, run_id: str, owner: str, lease_seconds: float, now: float | None
    ) -> float:
        expires = (self._clock() if now is None else now) + lease_seconds
        with self._write() as conn:
            status, holder, _ = self._lease_of(run_id)
            if status in TERMINAL_STATUSES:
                raise RunFinishedError(run_id, status)
            if holder != owner:
                raise StaleRunError(run_id, lease_lost_message(owner, holder))
            conn.execute(
                "UPDATE wf_runs SET lease_expires_at = ? WHERE run_id = ?", (expires, run_id)
            )
        return expires

    def renew_leases(
        self, run_ids: list[str], owner: str, lease_seconds: float, now: float | None
    ) -> list[str]:
        expires = (self._clock() if now is None else now) + lease_seconds
        renewed: set[str] = set()
        with self._write() as conn:
            for first in range(0, len(run_ids), _CHUNK):
                chunk = run_ids[first : first + _CHUNK]
                marks = ",".join("?" * len(chunk))
                renewed.update(
                    row[0]
                    for row in conn.execute(
                        f"UPDATE wf_runs SET lease_expires_at = ? WHERE run_id IN ({marks}) "
                        f"AND owner = ? AND status NOT IN {_TERMINAL_SQL} RETURNING run_id",
                        (expires, *chunk, owner),
                    ).fetchall()
                )
        return [run_id for run_id in run_ids if run_id not in renewed]

    def claim_runs(
        self,
        owner: str,
        lease_seconds: float,
        limit: int,
        run_ids: list[str] | None,
        exclude: set[str],
        now: float | None,
    ) -> list[RunRecord]:
        stamp = self._clock() if now is None else now
        among, args = "", []
        if run_ids is not None:
            run_ids = run_ids[:_CHUNK]
            among = f" AND r.run_id IN ({','.join('?' * len(run_ids))})"
            args = list(run_ids)
        with self._write() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT r.run_id FROM wf_runs r WHERE (? OR r.status = 'running' OR "
                    "(r.status = 'waiting' AND EXISTS "
                    "(SELECT 1 FROM wf_inbound i WHERE i.run_id = r.run_id))) "
                    f"AND r.status NOT IN {_TERMINAL_SQL} "
                    "AND (r.owner IS NULL OR r.owner = ? OR r.lease_expires_at IS NULL "
                    f"OR r.lease_expires_at <= ?){among} ORDER BY r.updated_at",
                    (run_ids is not None, owner, stamp, *args),
                )
                if row[0] not in exclude
            ][:limit]
            rows = [
                conn.execute(
                    "UPDATE wf_runs SET owner = ?, lease_expires_at = ?, version = version + 1 "
                    f"WHERE run_id = ? RETURNING {RUN_COLUMNS}",
                    (owner, stamp + lease_seconds, run_id),
                ).fetchone()
                for run_id in ids
            ]
        return [self._with_state(run_from_row(row, listing=True), listing=True) for row in rows]

    def release_run(self, run_id: str, owner: str) -> None:
        with self._write() as conn:
            self._require_run(run_id)
            conn.execute(
                "UPDATE wf_runs SET owner = NULL, lease_expires_at = NULL "
                "WHERE run_id = ? AND owner = ?",
                (run_id, owner),
            )
