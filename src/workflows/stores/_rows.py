"""The row layout the SQL stores share: column lists, and records to rows and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows.stores._codec import decode, decode_opt, encode, encode_opt
from workflows.stores._records import InputRequest, RunRecord

RUN_COLUMNS = (
    "run_id, workflow, status, snapshot, version, created_at, updated_at, result, error, "
    "owner, lease_expires_at"
)
REQUEST_COLUMNS = (
    "r.request_id, r.run_id, r.workflow, r.event_type, r.payload, s.body, r.created_at, "
    "r.deadline, r.status, r.response, r.idempotency_key, r.answered_at"
)
REQUEST_FROM = "wf_requests r JOIN wf_schemas s ON s.digest = r.schema_digest"


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
    )


def run_from_row(row: Sequence[Any]) -> RunRecord:
    """A run read with :data:`RUN_COLUMNS`."""
    return RunRecord(
        row[0],
        row[1],
        row[2],
        decode(row[3]),
        row[4],
        row[5],
        row[6],
        decode_opt(row[7]),
        decode_opt(row[8]),
        row[9],
        row[10],
    )


def request_from_row(row: Sequence[Any]) -> InputRequest:
    """A request read with :data:`REQUEST_COLUMNS` from :data:`REQUEST_FROM`."""
    return InputRequest(
        row[0],
        row[1],
        row[2],
        row[3],
        decode(row[4]),
        decode(row[5]),
        row[6],
        row[7],
        row[8],
        decode_opt(row[9]),
        row[10],
        row[11],
    )
