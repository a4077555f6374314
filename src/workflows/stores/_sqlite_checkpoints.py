"""The SQLite statements of checkpoints and forks, over the store's one connection.

Each function runs on the store's worker thread; the writing ones run inside the write
transaction their caller opened (a commit's, or a fork's).
"""

from __future__ import annotations

import sqlite3

from workflows.errors import CheckpointNotFoundError, StoreError
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import CHECKPOINT_COLUMNS, checkpoint_from_row, prune_below

__all__ = ["insert_checkpoint", "insert_fork", "lineage", "list_checkpoints", "read_chain"]


def insert_checkpoint(
    conn: sqlite3.Connection,
    run_id: str,
    write: CheckpointWrite,
    meta: str,
    status: str,
    now: float,
) -> None:
    """Write a checked checkpoint, then drop what its ``keep_last`` lets go.

    Raises:
        StoreError: the run has a checkpoint of that ``seq``.
    """
    below = None
    if write.keep_last is not None:
        anchors = conn.execute(
            "SELECT anchor FROM wf_checkpoints WHERE run_id = ? ORDER BY seq DESC LIMIT ?",
            (run_id, max(write.keep_last - 1, 0)),
        ).fetchall()
        below = prune_below(write, [row[0] for row in anchors])
    try:
        conn.execute(
            "INSERT INTO wf_checkpoints (run_id, seq, anchor, at, status, kind, meta, body) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (run_id, write.seq, write.anchor, now, status, write.kind, meta, write.body),
        )
    except sqlite3.IntegrityError:
        raise StoreError(f"checkpoint {write.seq} of run {run_id!r} already exists") from None
    if below is not None:
        conn.execute("DELETE FROM wf_checkpoints WHERE run_id = ? AND seq < ?", (run_id, below))


def list_checkpoints(
    conn: sqlite3.Connection, run_id: str, after: int | None, limit: int | None
) -> list[StoredCheckpoint]:
    """The run's checkpoints after ``after``, oldest first, without bodies (the caller
    checks that the run exists)."""
    rows = conn.execute(
        f"SELECT {CHECKPOINT_COLUMNS} FROM wf_checkpoints WHERE run_id = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        (run_id, -1 if after is None else after, -1 if limit is None else limit),
    ).fetchall()
    return [checkpoint_from_row(run_id, row, strict=False) for row in rows]


def read_chain(conn: sqlite3.Connection, run_id: str, seq: int) -> list[StoredCheckpoint]:
    """Checkpoint ``seq`` and the rows of its chain before it, oldest first (one read
    transaction, so the chain is the one a single commit left).

    Raises:
        CheckpointNotFoundError: no such checkpoint.
        CorruptRecordError: a row of the chain cannot be decoded.
    """
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            f"SELECT {CHECKPOINT_COLUMNS}, body FROM wf_checkpoints WHERE run_id = ? "
            "AND seq <= ? AND seq >= "
            "(SELECT anchor FROM wf_checkpoints WHERE run_id = ? AND seq = ?) ORDER BY seq",
            (run_id, seq, run_id, seq),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    if not rows or rows[-1][0] != seq:
        raise CheckpointNotFoundError(run_id, seq)
    return [checkpoint_from_row(run_id, row, strict=True) for row in rows]


def insert_fork(conn: sqlite3.Connection, link: ForkLink, stream_upto: int) -> None:
    """Write the fork link of a new run and copy its parent's stream entries up to
    ``stream_upto`` (inside the fork's transaction)."""
    conn.execute(
        "INSERT INTO wf_forks (run_id, parent_run_id, parent_seq, created_at) VALUES (?,?,?,?)",
        (link.run_id, link.parent_run_id, link.parent_seq, link.created_at),
    )
    conn.execute(
        "INSERT INTO wf_stream (run_id, seq, event_type, created_at, payload) "
        "SELECT ?, seq, event_type, created_at, payload FROM wf_stream "
        "WHERE run_id = ? AND seq <= ?",
        (link.run_id, link.parent_run_id, stream_upto),
    )


def lineage(conn: sqlite3.Connection, run_id: str) -> RunLineage:
    """The run's fork link and the links of the runs forked from it."""
    columns = "run_id, parent_run_id, parent_seq, created_at"
    own = conn.execute(f"SELECT {columns} FROM wf_forks WHERE run_id = ?", (run_id,)).fetchone()
    forks = conn.execute(
        f"SELECT {columns} FROM wf_forks WHERE parent_run_id = ? ORDER BY created_at, run_id",
        (run_id,),
    ).fetchall()
    return RunLineage(None if own is None else ForkLink(*own), [ForkLink(*row) for row in forks])
