"""The human-task operations of ``SqliteStore``: listing the inbox, assignment, the
audit trail, due dates and webhook bookkeeping (a base class of ``SqliteOps``).

Like every operation of ``SqliteOps`` they run on the store's one thread. The audit
rows of the other paths (commits, answers) are written by ``SqliteOps`` with the
helpers here, in the transaction that makes the change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from workflows.errors import InputRequestNotFoundError, RequestAssigneeChangedError
from workflows.stores._codec import encode
from workflows.stores._records import (
    ANY,
    AuditEntry,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RequestPage,
    RequestQuery,
    _Any,
)
from workflows.stores._request_query import encode_cursor, sort_values
from workflows.stores._rows import (
    AUDIT_COLUMNS,
    DELIVERY_COLUMNS,
    REQUEST_COLUMNS,
    audit_entry,
    delivery_attempt,
    name_pattern,
    request_from_row,
)
from workflows.stores._rules import (
    assignee_detail,
    check_delivery,
    not_pending_error,
    overdue_payload,
)

__all__ = ["REQUEST_SELECT", "SqliteTasks"]

REQUEST_SELECT = (
    f"SELECT {REQUEST_COLUMNS} "
    "FROM wf_requests r CROSS JOIN wf_schemas s ON s.digest = r.schema_digest"
)
"""Reads whole requests (alias ``r``); a WHERE clause may follow. ``CROSS JOIN`` keeps
``wf_requests`` the outer table (SQLite never reorders it), so a listing walks the
index of its order instead of sorting: with few schemas the planner would otherwise
start from ``wf_schemas``."""

_AUDIT_INSERT = (
    "INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail) "
)
_NO_DUE = "9e999"  # SQLite's infinity: requests without due sort last (a due is finite)

# Per sort: ORDER BY, and the keyset condition "after the cursor's row" with its
# parameters built from the cursor's key. Each is one range of the sort's index.
_ORDER = {
    "created": "r.created_at DESC, r.request_id DESC",
    "priority": "r.priority DESC, r.created_at DESC, r.request_id DESC",
    "due": f"coalesce(r.due, {_NO_DUE}), r.created_at DESC, r.request_id DESC",
}
_AFTER = {
    "created": "(r.created_at, r.request_id) < (?, ?)",
    "priority": "(r.priority, r.created_at, r.request_id) < (?, ?, ?)",
    # Mixed directions: the range starts at the cursor's due; rows of that same due are
    # filtered by the rest of the key. Rows without due all share one key value, so a
    # cursor among them is an equality and a range on the rest of the index.
    "due": f"coalesce(r.due, {_NO_DUE}) >= ? AND (coalesce(r.due, {_NO_DUE}) > ? "
    "OR (r.created_at, r.request_id) < (?, ?))",
    "due-none": f"coalesce(r.due, {_NO_DUE}) = {_NO_DUE} AND (r.created_at, r.request_id) < (?, ?)",
}


def _after(sort: str, key: list[Any]) -> tuple[str, list[Any]]:
    """The keyset condition of the rows after the cursor's ``key``, and its parameters."""
    if sort != "due":
        return _AFTER[sort], key
    if key[0] is None:
        return _AFTER["due-none"], key[1:]
    return _AFTER["due"], [key[0], key[0], key[1], key[2]]


def _has_name(column: str, names: Iterable[str]) -> tuple[str, list[str]]:
    """SQL true when the candidate list in ``column`` holds one of ``names``."""
    # A name holding the separator can never have been stored, so it matches nothing
    # (and must not be looked for: it would match across two stored names).
    patterns = [name_pattern(name) for name in sorted(names) if "\x1f" not in name]
    if not patterns:
        return "0", []
    return "(" + " OR ".join([f"instr({column}, ?) > 0"] * len(patterns)) + ")", patterns


def query_sql(query: RequestQuery, after: list[Any] | None) -> tuple[str, list[Any]]:
    """The statement listing one page of ``query`` (one row more than the page, to
    tell whether another follows) and its parameters."""
    where: list[str] = []
    args: list[Any] = []

    def add(clause: str, *values: Any) -> None:
        where.append(clause)
        args.extend(values)

    for column in ("status", "workflow", "run_id", "assignee"):
        if getattr(query, column) is not None:
            add(f"r.{column} = ?", getattr(query, column))
    if query.unassigned:
        add("r.assignee IS NULL")
    if query.groups is not None:
        add(*_flat(_has_name("r.candidate_groups", query.groups)))
    if query.candidate_user is not None:
        add(*_flat(_has_name("r.candidate_users", [query.candidate_user])))
    if query.priority_min is not None:
        add("r.priority >= ?", query.priority_min)
    if query.due_before is not None:
        add("r.due <= ?", query.due_before)
    if query.due_after is not None:
        add("r.due >= ?", query.due_after)
    viewer = query.viewer
    if viewer is not None and not viewer.admin:  # as visible_to decides
        users, user_args = _has_name("r.candidate_users", [viewer.user])
        groups, group_args = _has_name("r.candidate_groups", viewer.groups)
        add(
            "((r.assignee IS NULL AND r.candidate_users IS NULL AND r.candidate_groups IS NULL)"
            f" OR r.assignee = ? OR {users} OR {groups})",
            viewer.user,
            *user_args,
            *group_args,
        )
    order = _ORDER[query.sort]
    if after is not None:
        clause, values = _after(query.sort, after)
        add(clause, *values)
        if query.sort == "due" and after[0] is None:
            order = _ORDER["created"]  # the same order among rows without due
    sql = REQUEST_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} LIMIT ?"
    return sql, [*args, query.limit + 1]


def _flat(clause: tuple[str, list[str]]) -> tuple[Any, ...]:
    return (clause[0], *clause[1])


class SqliteTasks:
    """The task operations over ``SqliteOps``'s connection (one thread only)."""

    conn: sqlite3.Connection
    _clock: Callable[[], float]

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SqliteOps: one BEGIN IMMEDIATE transaction

    def _insert_inbound(self, run_id: str, text: str, request_id: str | None) -> InboundEvent:
        raise NotImplementedError  # SqliteOps: stores an inbound event

    # -- audit rows of the other paths (inside their write transaction) -------------------

    def _audit(
        self, request_id: str, action: str, actor: str | None, at: float, detail: str = "{}"
    ) -> None:
        """Write one audit entry of a request (its run and workflow from its row)."""
        self.conn.execute(
            f"{_AUDIT_INSERT}SELECT request_id, run_id, workflow, ?, ?, ?, ? "
            "FROM wf_requests WHERE request_id = ?",
            (at, action, actor, detail, request_id),
        )

    def _audit_created(self, rows: list[tuple[str, str, str, float, str]]) -> None:
        """Write the ``created`` entries of new requests: ``(request_id, run_id,
        workflow, at, detail)``."""
        self.conn.executemany(
            f"{_AUDIT_INSERT}VALUES (?, ?, ?, ?, 'created', NULL, ?)",
            rows,
        )

    def _audit_cancel_pending(self, run_id: str, at: float) -> None:
        """Write the ``cancelled`` entries of the run's pending requests (about to be
        cancelled because the run ends)."""
        self.conn.execute(
            f"{_AUDIT_INSERT}SELECT request_id, run_id, workflow, ?, 'cancelled', NULL, '{{}}' "
            "FROM wf_requests WHERE run_id = ? AND status = 'pending'",
            (at, run_id),
        )

    # -- the inbox -------------------------------------------------------------------------

    def query_requests(self, query: RequestQuery, after: list[Any] | None) -> RequestPage:
        sql, args = query_sql(query, after)
        found = [request_from_row(row) for row in self.conn.execute(sql, args)]
        if len(found) <= query.limit:
            return RequestPage(found, None)
        page = found[: query.limit]
        return RequestPage(page, encode_cursor(query.sort, sort_values(query.sort, page[-1])))

    def set_assignee(
        self,
        request_id: str,
        assignee: str | None,
        actor: str | None,
        action: str,
        expected: str | _Any | None,
        now: float | None,
    ) -> InputRequest:
        stamp = self._clock() if now is None else now
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, assignee FROM wf_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            if row is None:
                raise InputRequestNotFoundError(request_id)
            status, previous = row
            if status != "pending":
                raise not_pending_error(request_id, status)
            if expected is not ANY and previous != expected:
                raise RequestAssigneeChangedError(request_id, previous)
            conn.execute(
                "UPDATE wf_requests SET assignee = ? WHERE request_id = ?", (assignee, request_id)
            )
            detail = encode(assignee_detail(assignee, previous), "audit detail")
            self._audit(request_id, action, actor, stamp, detail)
            found = conn.execute(f"{REQUEST_SELECT} WHERE r.request_id = ?", (request_id,))
            return request_from_row(found.fetchone())

    # -- the audit trail -------------------------------------------------------------------

    def request_audit(self, request_id: str) -> list[AuditEntry]:
        rows = self.conn.execute(
            f"SELECT {AUDIT_COLUMNS} FROM wf_request_audit WHERE request_id = ? ORDER BY id",
            (request_id,),
        ).fetchall()
        if not rows:
            exists = self.conn.execute(
                "SELECT 1 FROM wf_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            if exists is None:
                raise InputRequestNotFoundError(request_id)
        return [audit_entry(row) for row in rows]

    def audit_after(self, after_id: int, limit: int) -> list[AuditEntry]:
        # Writers hold the file's write lock until they commit, and AUTOINCREMENT ids
        # grow: whatever commits later has a larger id than anything read now.
        rows = self.conn.execute(
            f"SELECT {AUDIT_COLUMNS} FROM wf_request_audit WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [audit_entry(row) for row in rows]

    # -- due dates --------------------------------------------------------------------------

    def mark_overdue(self, now: float) -> list[InputRequest]:
        with self._write() as conn:
            due = conn.execute(
                "SELECT request_id, run_id, due FROM wf_requests "
                "WHERE status = 'pending' AND due IS NOT NULL AND due <= ? "
                "AND overdue_at IS NULL ORDER BY due, request_id",
                (now,),
            ).fetchall()
            for request_id, run_id, when in due:
                conn.execute(
                    "UPDATE wf_requests SET overdue_at = ? WHERE request_id = ?", (now, request_id)
                )
                self._insert_inbound(
                    run_id, encode(overdue_payload(request_id, when), "overdue event"), None
                )
                self._audit(request_id, "overdue", None, now, encode({"due": when}, "detail"))
            return [
                request_from_row(
                    conn.execute(f"{REQUEST_SELECT} WHERE r.request_id = ?", (row[0],)).fetchone()
                )
                for row in due
            ]

    # -- webhook bookkeeping ------------------------------------------------------------------

    def webhook_cursor(self, endpoint: str) -> int | None:
        row = self.conn.execute(
            "SELECT audit_id FROM wf_webhook_cursors WHERE endpoint = ?", (endpoint,)
        ).fetchone()
        return None if row is None else int(row[0])

    def advance_webhook_cursor(self, endpoint: str, audit_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO wf_webhook_cursors (endpoint, audit_id) VALUES (?, ?) "
                "ON CONFLICT (endpoint) DO UPDATE SET "
                "audit_id = max(audit_id, excluded.audit_id)",
                (endpoint, audit_id),
            )

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        check_delivery(attempt)
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO wf_webhook_deliveries ({DELIVERY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.endpoint,
                    attempt.audit_id,
                    attempt.request_id,
                    attempt.attempt,
                    attempt.at,
                    attempt.status_code,
                    attempt.error,
                    attempt.delivered,
                ),
            )

    def list_deliveries(
        self, endpoint: str | None, request_id: str | None, audit_id: int | None, limit: int
    ) -> list[DeliveryAttempt]:
        where, args = [], []
        for column, value in (
            ("endpoint", endpoint),
            ("request_id", request_id),
            ("audit_id", audit_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {DELIVERY_COLUMNS} FROM wf_webhook_deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [delivery_attempt(row) for row in self.conn.execute(sql, (*args, limit))]
