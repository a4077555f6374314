"""The PostgreSQL statements of checkpoints and forks.

A commit that keeps a checkpoint is still one statement: a ``WITH`` query runs the
commit function (``wf_commit`` or ``wf_commit_many``) and, beside it, inserts the
checkpoint of each commit the function accepted and drops what a ``keep_last`` lets
go. A refused commit keeps no checkpoint; a duplicate checkpoint fails the statement,
which the store then handles as any refused commit of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows.errors import (
    CheckpointNotFoundError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StoreError,
)
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import CHECKPOINT_COLUMNS, checkpoint_from_row
from workflows.stores._codec import digest, encode
from workflows.stores._records import InputRequest, RunRecord

__all__ = [
    "CHAIN_SQL",
    "LINEAGE_SQL",
    "LIST_SQL",
    "checkpoint_args",
    "commit_many_sql",
    "commit_sql",
    "lineage_of",
    "many_checkpoint_args",
    "stored_chain",
    "write_fork",
]

_BELOW = """CASE WHEN {keep} = 1 THEN {anchor} ELSE (
    SELECT LEAST({anchor}, x.anchor) FROM (
        SELECT y.anchor FROM wf_checkpoints y WHERE y.run_id = {run}
        ORDER BY y.seq DESC OFFSET greatest({keep} - 2, 0) LIMIT 1) x) END"""
"""The seq below which a run's checkpoints go (see ``prune_below``): NULL, so nothing
goes, while fewer than ``keep - 1`` are stored before the new one."""


def commit_sql(call: str, *, first: int) -> str:
    """One commit (``call``: the select list of the plain commit statement, whose
    parameters end before ``$first``; ``$1`` the run id, ``$4`` its status, ``$7`` the
    time) that also keeps the checkpoint given as the six parameters from ``$first`` on
    (seq, anchor, kind, meta, body, keep_last)."""
    seq, anchor, kind, meta, body, keep = (f"${first + i}" for i in range(6))
    below = _BELOW.format(keep=f"{keep}::integer", anchor=f"{anchor}::bigint", run="$1")
    return f"""
WITH v AS ({call}),
k AS (INSERT INTO wf_checkpoints (run_id, seq, anchor, at, status, kind, meta, body)
      SELECT $1, {seq}::bigint, {anchor}::bigint, $7, $4, {kind}::text, {meta}::text,
             {body}::text FROM v),
p AS (DELETE FROM wf_checkpoints w WHERE w.run_id = $1 AND {keep}::integer IS NOT NULL
      AND EXISTS (SELECT 1 FROM v) AND w.seq < ({below}))
SELECT version FROM v
"""


def commit_many_sql(call: str, *, first: int) -> str:
    """A group commit (``call``: ``wf_commit_many(...)``, whose parameters end before
    ``$first``; ``$2`` the time, ``$3`` the run ids, ``$6`` their statuses) that also
    keeps the checkpoints given as the seven parallel arrays from ``$first`` on: the
    1-based position of the commit (in the order of the function's arguments), seq,
    anchor, kind, meta, body, keep_last."""
    n, seq, anchor, kind, meta, body, keep = (f"${first + i}" for i in range(7))
    below = _BELOW.format(keep="ok.keep", anchor="ok.anchor", run="ok.run_id")
    return f"""
WITH r AS (SELECT * FROM {call} WITH ORDINALITY
           AS o(o_version, o_code, o_message, o_constraint, o_detail, n)),
ok AS (SELECT c.*, ($3::text[])[c.n] AS run_id, ($6::text[])[c.n] AS status
       FROM unnest({n}::integer[], {seq}::bigint[], {anchor}::bigint[], {kind}::text[],
                   {meta}::text[], {body}::text[], {keep}::integer[])
            AS c(n, seq, anchor, kind, meta, body, keep)
       JOIN r ON r.n = c.n WHERE r.o_version IS NOT NULL),
k AS (INSERT INTO wf_checkpoints (run_id, seq, anchor, at, status, kind, meta, body)
      SELECT ok.run_id, ok.seq, ok.anchor, $2, ok.status, ok.kind, ok.meta, ok.body FROM ok),
p AS (DELETE FROM wf_checkpoints w
      USING (SELECT ok.run_id, {below} AS below FROM ok WHERE ok.keep IS NOT NULL) t
      WHERE w.run_id = t.run_id AND w.seq < t.below)
SELECT o_version, o_code, o_message, o_constraint, o_detail FROM r ORDER BY n
"""


def checkpoint_args(write: CheckpointWrite, meta: str) -> tuple[Any, ...]:
    """The values of the checkpoint's parameters of :func:`commit_sql`."""
    return (write.seq, write.anchor, write.kind, meta, write.body, write.keep_last)


def many_checkpoint_args(
    checkpoints: Sequence[tuple[Any, ...] | None],
) -> tuple[list[Any], ...]:
    """The checkpoints' arrays of :func:`commit_many_sql`, from each commit's
    :func:`checkpoint_args` (``None``: the commit keeps none), in argument order."""
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
    for position, args in enumerate(checkpoints, start=1):
        if args is None:
            continue
        columns[0].append(position)
        for column, value in zip(columns[1:], args, strict=True):
            column.append(value)
    return columns


LIST_SQL = (
    f"SELECT {CHECKPOINT_COLUMNS} FROM wf_checkpoints WHERE run_id = $1 AND seq > $2 "
    "ORDER BY seq LIMIT $3"
)
"""The checkpoints of run ``$1`` after seq ``$2``, without bodies (``$3``: limit)."""

CHAIN_SQL = (
    f"SELECT {CHECKPOINT_COLUMNS}, body FROM wf_checkpoints WHERE run_id = $1 AND seq <= $2 "
    "AND seq >= (SELECT anchor FROM wf_checkpoints WHERE run_id = $1 AND seq = $2) "
    "ORDER BY seq"
)
"""Checkpoint ``$2`` of run ``$1`` and the rows of its chain before it, in one statement."""

LINEAGE_SQL = (
    "SELECT run_id, parent_run_id, parent_seq, created_at FROM wf_forks "
    "WHERE run_id = $1 OR parent_run_id = $1 ORDER BY created_at, run_id"
)
"""The fork link of run ``$1`` and those of the runs forked from it."""


def stored_chain(run_id: str, seq: int, rows: Sequence[Any]) -> list[StoredCheckpoint]:
    """The checkpoints of a :data:`CHAIN_SQL` result.

    Raises:
        CheckpointNotFoundError: no such checkpoint.
        CorruptRecordError: a row cannot be decoded.
    """
    if not rows or rows[-1][0] != seq:
        raise CheckpointNotFoundError(run_id, seq)
    return [checkpoint_from_row(run_id, tuple(row), strict=True) for row in rows]


def lineage_of(run_id: str, rows: Sequence[Any]) -> RunLineage:
    """The lineage of a :data:`LINEAGE_SQL` result."""
    links = [ForkLink(row[0], row[1], row[2], row[3]) for row in rows]
    own = next((link for link in links if link.run_id == run_id), None)
    return RunLineage(own, [link for link in links if link.parent_run_id == run_id])


_INSERT_REQUESTS = (
    "INSERT INTO wf_requests (request_id, run_id, workflow, event_type, status, "
    "created_at, deadline, schema_digest, payload, assignee, candidate_users, "
    "candidate_groups, priority, due, follow_up) "
    "SELECT u.i, $1, u.w, u.t, 'pending', u.c, u.d, u.g, u.p, u.a, wf_names(u.cu), "
    "wf_names(u.cg), u.pr, u.du, u.fu "
    "FROM unnest($2::text[], $3::text[], $4::text[], $5::double precision[], "
    "$6::double precision[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], "
    "$12::bigint[], $13::double precision[], $14::double precision[]) "
    "AS u(i, w, t, c, d, g, p, a, cu, cg, pr, du, fu)"
)
_AUDIT_CREATED = (
    "INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, detail) "
    "SELECT u.i, $1, u.w, u.c, 'created', NULL, u.det "
    "FROM unnest($2::text[], $3::text[], $4::double precision[], $5::text[]) "
    "WITH ORDINALITY AS u(i, w, c, det, n) ORDER BY u.n"
)
_COPY_STREAM = (
    "INSERT INTO wf_stream (run_id, seq, event_type, created_at, payload) "
    "SELECT $1, seq, event_type, created_at, payload FROM wf_stream "
    "WHERE run_id = $2 AND seq <= $3"
)
_UNIQUE_VIOLATION = "23505"


async def write_fork(
    conn: Any,
    run: RunRecord,
    run_columns: str,
    run_values: Sequence[Any],
    link: ForkLink,
    checkpoint: CheckpointWrite,
    meta: str,
    requests: Sequence[InputRequest],
    tasks: Sequence[list[Any]],
    stream_upto: int,
) -> list[str]:
    """Write a fork inside the open transaction of ``conn``: the run, its requests
    (``tasks``: their task fields and ``created`` audit details, as ``wf_commit`` takes
    them) with their audit entries, a copy of its parent's stream up to ``stream_upto``,
    its fork link and its first checkpoint. Returns the digests of the requests'
    response schemas (written).

    Raises:
        RunNotFoundError: the parent does not exist.
        RunAlreadyExistsError: the run exists.
        StoreError: one of the request ids exists.
    """
    if requests:  # the audit writers' lock before any row lock (see _postgres_schema)
        await conn.execute("SELECT wf_audit_writer()")
    if await conn.fetchval("SELECT 1 FROM wf_runs WHERE run_id = $1", link.parent_run_id) is None:
        raise RunNotFoundError(link.parent_run_id)
    marks = ",".join(f"${i}" for i in range(1, len(run_values) + 1))
    try:
        await conn.execute(f"INSERT INTO wf_runs ({run_columns}) VALUES ({marks})", *run_values)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
            raise RunAlreadyExistsError(run.run_id) from None
        raise
    what = "input request"
    schemas = [
        encode(r.response_schema, f"response schema of {what} {r.request_id!r}") for r in requests
    ]
    digests = [digest(text) for text in schemas]
    if requests:
        await conn.execute(
            "INSERT INTO wf_schemas (digest, body) SELECT * FROM "
            "unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            digests,
            schemas,
        )
        try:
            await conn.execute(
                _INSERT_REQUESTS,
                run.run_id,
                [r.request_id for r in requests],
                [r.workflow for r in requests],
                [r.event_type for r in requests],
                [r.created_at for r in requests],
                [r.deadline for r in requests],
                digests,
                [encode(r.payload, f"payload of {what} {r.request_id!r}") for r in requests],
                *tasks[:6],
            )
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise StoreError(f"an input request id already exists: {exc}") from None
            raise
        await conn.execute(
            _AUDIT_CREATED,
            run.run_id,
            [r.request_id for r in requests],
            [r.workflow for r in requests],
            [r.created_at for r in requests],
            tasks[6],
        )
    await conn.execute(_COPY_STREAM, run.run_id, link.parent_run_id, stream_upto)
    await conn.execute(
        "INSERT INTO wf_forks (run_id, parent_run_id, parent_seq, created_at) "
        "VALUES ($1, $2, $3, $4)",
        link.run_id,
        link.parent_run_id,
        link.parent_seq,
        link.created_at,
    )
    await conn.execute(
        "INSERT INTO wf_checkpoints (run_id, seq, anchor, at, status, kind, meta, body) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        run.run_id,
        checkpoint.seq,
        checkpoint.anchor,
        link.created_at,
        run.status,
        checkpoint.kind,
        meta,
        checkpoint.body,
    )
    return digests
