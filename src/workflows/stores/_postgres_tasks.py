"""The human-task operations of ``PostgresStore``: listing the inbox, assignment, the
audit trail, due dates and webhook bookkeeping (a base class of ``PostgresStore``).

Every statement that writes audit rows first takes the audit writers' lock
(``wf_audit_writer``), and :meth:`PostgresTasks.audit_after` the readers' (see
``_postgres_schema._AUDIT_LOCKS``), so the audit feed never skips an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from workflows.errors import InputRequestNotFoundError, RequestAssigneeChangedError
from workflows.stores._codec import encode
from workflows.stores._records import (
    ANY,
    AssigneeAction,
    AuditEntry,
    DeliveryAttempt,
    InputRequest,
    RequestPage,
    RequestQuery,
    _Any,
)
from workflows.stores._request_query import check_query, encode_cursor, sort_values
from workflows.stores._rows import (
    AUDIT_COLUMNS,
    DELIVERY_COLUMNS,
    REQUEST_COLUMNS,
    REQUEST_FROM,
    audit_entry,
    delivery_attempt,
    request_from_row,
)
from workflows.stores._rules import (
    assignee_detail,
    check_assignee_change,
    check_delivery,
    check_paging,
    not_pending_error,
    overdue_payload,
)

__all__ = ["PostgresTasks", "query_sql"]

_REQUEST_SELECT = f"SELECT {REQUEST_COLUMNS} FROM {REQUEST_FROM}"
_AUDIT_INSERT = (
    "INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail) "
)
_ID = 'r.request_id COLLATE "C"'  # the tie-break: code point order in every database
_DUE = "coalesce(r.due, 'Infinity')"  # requests without due sort last (a due is finite)

# Per sort: ORDER BY, matching the sort's index (migration 6).
_ORDER = {
    "created": f"r.created_at DESC, {_ID} DESC",
    "priority": f"r.priority DESC, r.created_at DESC, {_ID} DESC",
    "due": f"{_DUE}, r.created_at DESC, {_ID} DESC",
}


class _Params:
    """Numbered parameters (``$1``, ``$2``, ...) of a statement being built."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def _after(sort: str, key: list[Any], p: _Params) -> tuple[str, str]:
    """The keyset condition of the rows after a cursor's ``key`` (one range of the
    sort's index), and the ORDER BY to use with it."""
    if sort == "created":
        return f"(r.created_at, {_ID}) < ({p(key[0])}, {p(key[1])})", _ORDER[sort]
    if sort == "priority":
        return (
            f"(r.priority, r.created_at, {_ID}) < ({p(key[0])}, {p(key[1])}, {p(key[2])})",
            _ORDER[sort],
        )
    if key[0] is None:
        # Among the rows without due, in created order. Said with ``due IS NULL`` (the
        # column's statistics know how many there are), so the planner walks an index
        # in that order rather than sorting what it would take for a few rows.
        rest = f"(r.created_at, {_ID}) < ({p(key[1])}, {p(key[2])})"
        return f"r.due IS NULL AND {rest}", _ORDER["created"]
    due = p(float(key[0]), "::double precision")
    rest = f"(r.created_at, {_ID}) < ({p(key[1])}, {p(key[2])})"
    # Mixed directions: the range starts at the cursor's due; rows of that same due
    # are filtered by the rest of the key.
    return f"{_DUE} >= {due} AND ({_DUE} > {due} OR {rest})", _ORDER[sort]


def query_sql(query: RequestQuery, after: list[Any] | None) -> tuple[str, list[Any]]:
    """The statement listing one page of ``query`` (one row more than the page, to
    tell whether another follows) and its parameters."""
    p = _Params()
    where: list[str] = []
    for column in ("status", "workflow", "run_id", "assignee"):
        if getattr(query, column) is not None:
            where.append(f"r.{column} = {p(getattr(query, column))}")
    if query.unassigned:
        where.append("r.assignee IS NULL")
    if query.groups is not None:
        where.append(f"r.candidate_groups && {p(sorted(query.groups), '::text[]')}")
    if query.candidate_user is not None:
        where.append(f"{p(query.candidate_user)} = ANY (r.candidate_users)")
    if query.priority_min is not None:
        where.append(f"r.priority >= {p(query.priority_min)}")
    if query.due_before is not None:
        where.append(f"r.due <= {p(float(query.due_before))}")
    if query.due_after is not None:
        where.append(f"r.due >= {p(float(query.due_after))}")
    viewer = query.viewer
    if viewer is not None and not viewer.admin:  # as visible_to decides
        user = p(viewer.user)
        where.append(
            "((r.assignee IS NULL AND cardinality(r.candidate_users) = 0 "
            "AND cardinality(r.candidate_groups) = 0) "
            f"OR r.assignee = {user} OR {user} = ANY (r.candidate_users) "
            f"OR r.candidate_groups && {p(sorted(viewer.groups), '::text[]')})"
        )
    order = _ORDER[query.sort]
    if after is not None:
        clause, order = _after(query.sort, after, p)
        where.append(clause)
    sql = _REQUEST_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order} LIMIT {p(query.limit + 1)}"
    return sql, p.values


class PostgresTasks:
    """The task operations of ``PostgresStore`` (which provides the pool, the error
    translation and the clock)."""

    _clock: Callable[[], float]

    def _use(self, *, retry: bool = False) -> Any:
        raise NotImplementedError  # PostgresStore: the pool

    def _errors(self) -> AbstractContextManager[None]:
        raise NotImplementedError  # PostgresStore: driver errors to store errors

    # -- the inbox -------------------------------------------------------------------------

    async def query_requests(self, query: RequestQuery) -> RequestPage:
        """See :meth:`RunStore.query_requests` (one index range per page; see the
        migration that adds the task fields)."""
        pool = self._use(retry=True)
        sql, args = query_sql(query, check_query(query))
        with self._errors():
            rows = await pool.fetch(sql, *args)
        found = [request_from_row(row) for row in rows]
        if len(found) <= query.limit:
            return RequestPage(found, None)
        page = found[: query.limit]
        return RequestPage(page, encode_cursor(query.sort, sort_values(query.sort, page[-1])))

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
        """See :meth:`RunStore.set_assignee` (one transaction; the request's row lock
        orders concurrent changes, so of two claims exactly one finds it unassigned)."""
        pool = self._use()
        check_assignee_change(assignee, actor, action)
        stamp = self._clock() if now is None else now
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT wf_audit_writer()")  # before the row lock
                row = await conn.fetchrow(
                    "SELECT status, assignee FROM wf_requests WHERE request_id = $1 FOR UPDATE",
                    request_id,
                )
                if row is None:
                    raise InputRequestNotFoundError(request_id)
                status, previous = row
                if status != "pending":
                    raise not_pending_error(request_id, status)
                if expected is not ANY and previous != expected:
                    raise RequestAssigneeChangedError(request_id, previous)
                detail = encode(assignee_detail(assignee, previous), "audit detail")
                found = await conn.fetchrow(
                    "WITH changed AS (UPDATE wf_requests SET assignee = $2 "
                    "WHERE request_id = $1 RETURNING run_id, workflow), "
                    f"audit AS ({_AUDIT_INSERT}SELECT $1, run_id, workflow, $3, $4, $5, $6 "
                    f"FROM changed) {_REQUEST_SELECT} WHERE r.request_id = $1",
                    request_id,
                    assignee,
                    stamp,
                    action,
                    actor,
                    detail,
                )
        # The statement's snapshot predates its own UPDATE: set the new assignee here.
        return replace(request_from_row(found), assignee=assignee)

    # -- the audit trail ---------------------------------------------------------------------

    async def request_audit(self, request_id: str) -> list[AuditEntry]:
        """See :meth:`RunStore.request_audit`."""
        pool = self._use(retry=True)
        with self._errors():
            rows = await pool.fetch(
                f"SELECT {AUDIT_COLUMNS} FROM wf_request_audit WHERE request_id = $1 ORDER BY id",
                request_id,
            )
            if not rows and not await pool.fetchval(
                "SELECT 1 FROM wf_requests WHERE request_id = $1", request_id
            ):
                raise InputRequestNotFoundError(request_id)
        return [audit_entry(row) for row in rows]

    async def audit_after(self, after_id: int, limit: int = 100) -> list[AuditEntry]:
        """See :meth:`RunStore.audit_after`: waits for the transactions writing audit
        entries at the moment to end (``wf_audit_reader``), then reads."""
        pool = self._use()
        check_paging(limit, 0)
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT wf_audit_reader()")
                rows = await conn.fetch(
                    f"SELECT {AUDIT_COLUMNS} FROM wf_request_audit WHERE id > $1 "
                    "ORDER BY id LIMIT $2",
                    after_id,
                    limit,
                )
        return [audit_entry(row) for row in rows]

    # -- due dates ---------------------------------------------------------------------------

    async def mark_overdue(self, now: float) -> list[InputRequest]:
        """See :meth:`RunStore.mark_overdue`: the conditional UPDATE takes each row's
        lock, so of concurrent callers exactly one marks a request."""
        pool = self._use()
        with self._errors():
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT wf_audit_writer()")  # before the row locks
                marked = await conn.fetch(
                    "UPDATE wf_requests SET overdue_at = $1 WHERE status = 'pending' "
                    "AND due IS NOT NULL AND due <= $1 AND overdue_at IS NULL "
                    "RETURNING request_id, run_id, workflow, due",
                    float(now),
                )
                if not marked:
                    return []
                marked = sorted(marked, key=lambda row: (row[3], row[0]))
                ids = [row[0] for row in marked]
                await conn.execute(
                    "WITH m AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                    "$4::text[], $5::text[]) WITH ORDINALITY AS m(id, run, wf, payload, "
                    "detail, n)), "
                    "i AS (INSERT INTO wf_inbound (run_id, request_id, created_at, payload) "
                    "SELECT run, NULL, $7, payload FROM m ORDER BY n) "
                    f"{_AUDIT_INSERT}SELECT id, run, wf, $6, 'overdue', NULL, detail "
                    "FROM m ORDER BY n",
                    ids,
                    [row[1] for row in marked],
                    [row[2] for row in marked],
                    [encode(overdue_payload(row[0], row[3]), "overdue event") for row in marked],
                    [encode({"due": row[3]}, "audit detail") for row in marked],
                    float(now),
                    self._clock(),
                )
                rows = await conn.fetch(
                    f"{_REQUEST_SELECT} WHERE r.request_id = ANY ($1::text[])", ids
                )
        by_id = {row[0]: request_from_row(row) for row in rows}
        return [by_id[request_id] for request_id in ids]

    # -- webhook bookkeeping ---------------------------------------------------------------

    async def webhook_cursor(self, endpoint: str) -> int | None:
        """See :meth:`RunStore.webhook_cursor`."""
        pool = self._use(retry=True)
        with self._errors():
            found = await pool.fetchval(
                "SELECT audit_id FROM wf_webhook_cursors WHERE endpoint = $1", endpoint
            )
        return None if found is None else int(found)

    async def advance_webhook_cursor(self, endpoint: str, audit_id: int) -> None:
        """See :meth:`RunStore.advance_webhook_cursor`."""
        pool = self._use()
        with self._errors():
            await pool.execute(
                "INSERT INTO wf_webhook_cursors (endpoint, audit_id) VALUES ($1, $2) "
                "ON CONFLICT (endpoint) DO UPDATE SET "
                "audit_id = greatest(wf_webhook_cursors.audit_id, excluded.audit_id)",
                endpoint,
                audit_id,
            )

    async def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """See :meth:`RunStore.record_delivery`."""
        pool = self._use()
        check_delivery(attempt)
        with self._errors():
            await pool.execute(
                f"INSERT INTO wf_webhook_deliveries ({DELIVERY_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                attempt.endpoint,
                attempt.audit_id,
                attempt.request_id,
                attempt.attempt,
                float(attempt.at),
                attempt.status_code,
                attempt.error,
                attempt.delivered,
            )

    async def list_deliveries(
        self,
        *,
        endpoint: str | None = None,
        request_id: str | None = None,
        audit_id: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryAttempt]:
        """See :meth:`RunStore.list_deliveries`."""
        pool = self._use(retry=True)
        check_paging(limit, 0)
        p = _Params()
        where = [
            f"{column} = {p(value)}"
            for column, value in _given(
                ("endpoint", endpoint), ("request_id", request_id), ("audit_id", audit_id)
            )
        ]
        sql = f"SELECT {DELIVERY_COLUMNS} FROM wf_webhook_deliveries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY id DESC LIMIT {p(limit)}"
        with self._errors():
            rows = await pool.fetch(sql, *p.values)
        return [delivery_attempt(row) for row in rows]


def _given(*pairs: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    return ((column, value) for column, value in pairs if value is not None)
