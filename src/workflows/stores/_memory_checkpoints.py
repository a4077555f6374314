"""The checkpoints and fork links of ``MemoryStore``, kept as the SQL stores keep them
(JSON text, one row per checkpoint), so the same contract holds."""

from __future__ import annotations

import bisect
from typing import NamedTuple

from workflows.errors import CheckpointNotFoundError, StoreError
from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._checkpoint_rows import check_checkpoint, checkpoint_from_row, prune_below

__all__ = ["MemoryCheckpoints"]


class _Row(NamedTuple):
    seq: int
    anchor: int
    at: float
    status: str
    kind: str
    meta: str
    body: str


class MemoryCheckpoints:
    """Checkpoint rows by run (ordered by ``seq``) and fork links by forked run."""

    def __init__(self) -> None:
        self._rows: dict[str, list[_Row]] = {}
        self._forks: dict[str, ForkLink] = {}

    def clear(self) -> None:
        """Forget everything (the store closed)."""
        self._rows.clear()
        self._forks.clear()

    def check(self, run_id: str, write: CheckpointWrite) -> str:
        """Refuse ``write`` as a store would (see ``check_checkpoint``) or because its
        ``seq`` is taken; return its meta encoded. Writes nothing."""
        meta = check_checkpoint(write, run_id)
        rows = self._rows.get(run_id, [])
        at = bisect.bisect_left(rows, write.seq, key=lambda row: row.seq)
        if at < len(rows) and rows[at].seq == write.seq:
            raise StoreError(f"checkpoint {write.seq} of run {run_id!r} already exists")
        return meta

    def add(self, run_id: str, write: CheckpointWrite, meta: str, status: str, now: float) -> None:
        """Store a checked ``write``, then drop what its ``keep_last`` lets go."""
        rows = self._rows.setdefault(run_id, [])
        below = prune_below(write, [row.anchor for row in reversed(rows)])
        row = _Row(write.seq, write.anchor, now, status, write.kind, meta, write.body)
        bisect.insort(rows, row, key=lambda r: r.seq)
        if below is not None:
            rows[:] = [r for r in rows if r.seq >= below]

    def listing(self, run_id: str, after: int | None, limit: int | None) -> list[StoredCheckpoint]:
        """The run's checkpoints after ``after``, oldest first, without bodies."""
        rows = self._rows.get(run_id, [])
        start = 0 if after is None else bisect.bisect_right(rows, after, key=lambda r: r.seq)
        stop = len(rows) if limit is None else start + limit
        return [checkpoint_from_row(run_id, row[:6], strict=False) for row in rows[start:stop]]

    def chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        """Checkpoint ``seq`` and the rows of its chain before it, oldest first.

        Raises:
            CheckpointNotFoundError: no such checkpoint.
        """
        rows = self._rows.get(run_id, [])
        end = bisect.bisect_left(rows, seq, key=lambda r: r.seq)
        if end == len(rows) or rows[end].seq != seq:
            raise CheckpointNotFoundError(run_id, seq)
        start = bisect.bisect_left(rows, rows[end].anchor, key=lambda r: r.seq)
        return [checkpoint_from_row(run_id, row, strict=True) for row in rows[start : end + 1]]

    def fork(self, link: ForkLink) -> None:
        """Keep the fork link of a new run."""
        self._forks[link.run_id] = link

    def lineage(self, run_id: str) -> RunLineage:
        """The run's fork link and the links of the runs forked from it."""
        forks = [link for link in self._forks.values() if link.parent_run_id == run_id]
        forks.sort(key=lambda link: (link.created_at, link.run_id))
        return RunLineage(self._forks.get(run_id), forks)

    def drop(self, run_id: str) -> None:
        """Delete the run's checkpoints and its own fork link."""
        self._rows.pop(run_id, None)
        self._forks.pop(run_id, None)
