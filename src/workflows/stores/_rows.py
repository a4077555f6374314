"""The row layout the SQL stores share: column lists, and records to rows and back.

Rows are read back in one of two ways. A run's own reads (``get_run``, ``claim_run``)
are strict: a stored JSON value that cannot be decoded raises ``CorruptRecordError``.
Listings (``list_runs``, the requests, the stream log) are tolerant: a damaged row is
returned marked (the record's ``corrupt``) with the damaged fields empty, so one bad
row never hides the others. The memory store builds its records here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from workflows.errors import CorruptRecordError
from workflows.stores._codec import decode_column, encode, encode_opt
from workflows.stores._records import (
    AuditEntry,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RunRecord,
    StreamEntry,
)

RUN_COLUMNS = (
    "run_id, workflow, status, snapshot, version, created_at, updated_at, result, error, "
    "owner, lease_expires_at, input"
)
REQUEST_COLUMNS = (
    "r.request_id, r.run_id, r.workflow, r.event_type, r.payload, s.body, r.created_at, "
    "r.deadline, r.status, r.response, r.idempotency_key, r.answered_at, r.answered_by, "
    "r.assignee, r.candidate_users, r.candidate_groups, r.priority, r.due, r.follow_up, "
    "r.overdue_at"
)
REQUEST_FROM = "wf_requests r JOIN wf_schemas s ON s.digest = r.schema_digest"
AUDIT_COLUMNS = "id, request_id, run_id, workflow, at, action, actor, detail"
DELIVERY_COLUMNS = "endpoint, audit_id, request_id, attempt, at, status_code, error, delivered"

NAME_SEPARATOR = "\x1f"
"""Joins the names of a candidate list in one SQLite column, and wraps them: a name
never holds a control character, so ``instr(column, sep + name + sep)`` matches exactly
one whole name."""


def names_text(names: Sequence[str]) -> str | None:
    """A candidate list as SQLite stores it (``NULL`` for none)."""
    if not names:
        return None
    return NAME_SEPARATOR + NAME_SEPARATOR.join(names) + NAME_SEPARATOR


def name_pattern(name: str) -> str:
    """What ``instr`` looks for in a :func:`names_text` column to find ``name``."""
    return NAME_SEPARATOR + name + NAME_SEPARATOR


def _names(value: Any) -> tuple[str, ...]:
    """A candidate list read back: SQLite's text, PostgreSQL's array or the memory
    store's tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(name for name in value.split(NAME_SEPARATOR) if name)
    return tuple(value)


def run_values(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``run`` in :data:`RUN_COLUMNS` order, JSON fields encoded."""
    what = f"run {run.run_id!r}"
    return (
        run.run_id,
        run.workflow,
        run.status,
        encode(run.snapshot, f"snapshot of {what}"),
        run.version,
        run.created_at,
        run.updated_at,
        encode_opt(run.result, f"result of {what}"),
        encode_opt(run.error, f"error of {what}"),
        run.owner,
        run.lease_expires_at,
        encode_opt(run.input, f"start input of {what}"),
    )


def run_from_row(row: Sequence[Any], *, listing: bool = False) -> RunRecord:
    """A run read with :data:`RUN_COLUMNS`.

    The start input is only shown, never executed: one that cannot be decoded reads as
    ``None`` (not recorded) and never keeps the run from loading.

    Raises:
        CorruptRecordError: (unless ``listing``) the snapshot, result or error cannot be
            decoded; its ``record`` is the run as returned with ``listing``.
    """
    run_id = row[0]
    damaged: list[CorruptRecordError] = []

    def column(index: int, name: str, empty: Any, nullable: bool, any_json: bool) -> Any:
        try:
            return decode_column(row[index], run_id, name, nullable=nullable, any_json=any_json)
        except CorruptRecordError as exc:
            damaged.append(exc)
            return empty

    record = RunRecord(
        run_id,
        row[1],
        row[2],
        column(3, "snapshot", {}, nullable=False, any_json=False),
        row[4],
        row[5],
        row[6],
        column(7, "result", None, nullable=True, any_json=True),
        column(8, "error", None, nullable=True, any_json=False),
        row[9],
        row[10],
        input=_start_input(row[11], run_id),
    )
    if not damaged:
        return record
    first = damaged[0]
    marked = replace(
        record,
        error=record.error or {"type": "CorruptRecordError", "message": str(first)},
        corrupt={exc.column: exc.cause for exc in damaged},
    )
    if listing:
        return marked
    raise CorruptRecordError(run_id, first.column, first.cause, record=marked)


def _start_input(text: Any, run_id: str) -> dict[str, Any] | None:
    try:
        value = decode_column(text, run_id, "input", nullable=True)
    except CorruptRecordError:
        return None
    return value if isinstance(value, dict) else None


def request_from_row(row: Sequence[Any]) -> InputRequest:
    """A request read with :data:`REQUEST_COLUMNS` from :data:`REQUEST_FROM`; a damaged
    payload, schema or response is returned marked (see ``InputRequest.corrupt``)."""
    run_id = row[1]
    key = f"input request {row[0]!r}"
    damaged: dict[str, str] = {}

    def column(index: int, name: str, empty: Any, nullable: bool = False) -> Any:
        try:
            return decode_column(row[index], run_id, name, key=key, nullable=nullable)
        except CorruptRecordError as exc:
            damaged[name] = exc.cause
            return empty

    return InputRequest(
        row[0],
        run_id,
        row[2],
        row[3],
        column(4, "payload", {}),
        column(5, "response_schema", {}),
        row[6],
        row[7],
        row[8],
        column(9, "response", None, nullable=True),
        row[10],
        row[11],
        damaged or None,
        row[12],
        row[13],
        _names(row[14]),
        _names(row[15]),
        row[16],
        row[17],
        row[18],
        row[19],
    )


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """An audit entry read with :data:`AUDIT_COLUMNS`; a damaged detail reads as
    ``{"corrupt": why}`` (the entry is history: it is still shown)."""
    try:
        detail = decode_column(row[7], row[2], "detail", key=f"audit entry {row[0]}")
    except CorruptRecordError as exc:
        detail = {"corrupt": exc.cause}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], detail)


def delivery_attempt(row: Sequence[Any]) -> DeliveryAttempt:
    """A delivery attempt read with :data:`DELIVERY_COLUMNS`."""
    return DeliveryAttempt(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))


def check_intact(request: InputRequest, *columns: str) -> None:
    """Raise ``CorruptRecordError`` if one of ``columns`` of ``request`` is damaged."""
    for name in columns:
        if request.corrupt and name in request.corrupt:
            raise CorruptRecordError(
                request.run_id,
                name,
                request.corrupt[name],
                key=f"input request {request.request_id!r}",
            )


def stream_entry(
    run_id: str, seq: int, event_type: str, payload: Any, created_at: float
) -> StreamEntry:
    """A stream entry; one whose payload cannot be decoded is returned marked."""
    try:
        decoded = decode_column(payload, run_id, "payload", key=f"stream entry {seq}")
    except CorruptRecordError as exc:
        return StreamEntry(run_id, seq, event_type, {}, created_at, {"payload": exc.cause})
    return StreamEntry(run_id, seq, event_type, decoded, created_at)


def inbound_event(
    inbound_id: int, run_id: str, payload: Any, request_id: str | None, created_at: float
) -> InboundEvent:
    """An inbound event of a run (strict: it is read to be delivered).

    Raises:
        CorruptRecordError: the payload cannot be decoded (the event stays stored).
    """
    decoded = decode_column(payload, run_id, "payload", key=f"inbound event {inbound_id}")
    return InboundEvent(inbound_id, run_id, decoded, request_id, created_at)
