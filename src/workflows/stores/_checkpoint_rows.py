"""What every store does alike with checkpoints: checking a write, reading a row back,
and which old checkpoints a ``keep_last`` setting drops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows.errors import CorruptRecordError, StoreError
from workflows.stores._checkpoint_records import CHECKPOINT_KINDS, CheckpointWrite, StoredCheckpoint
from workflows.stores._codec import decode_column, encode

__all__ = [
    "CHECKPOINT_COLUMNS",
    "check_checkpoint",
    "check_fork",
    "checkpoint_from_row",
    "prune_below",
]

CHECKPOINT_COLUMNS = "seq, anchor, at, status, kind, meta"
"""The columns of a checkpoint row a listing reads (a chain read adds ``body``)."""


def check_checkpoint(write: CheckpointWrite, run_id: str) -> str:
    """Refuse a malformed checkpoint; return its ``meta`` encoded.

    Raises:
        ValueError: an unknown kind, a negative ``seq``, an ``anchor`` after ``seq`` (or
            not ``seq`` for a ``full`` one), a ``keep_last`` below 1.
        StoreError: a body that is not text, or a ``meta`` that is not a JSON-safe dict.
    """
    if write.kind not in CHECKPOINT_KINDS:
        raise ValueError(f"unknown checkpoint kind {write.kind!r} (expected full or delta)")
    if type(write.seq) is not int or write.seq < 0:
        raise ValueError(f"checkpoint seq must be an int >= 0, got {write.seq!r}")
    if type(write.anchor) is not int or not 0 <= write.anchor <= write.seq:
        raise ValueError(f"checkpoint anchor {write.anchor!r} is not in 0..{write.seq}")
    if write.kind == "full" and write.anchor != write.seq:
        raise ValueError(f"a full checkpoint is its own anchor: {write.anchor} != {write.seq}")
    if write.keep_last is not None and (type(write.keep_last) is not int or write.keep_last < 1):
        raise ValueError(f"keep_last must be an int >= 1 or None, got {write.keep_last!r}")
    if type(write.body) is not str:
        raise StoreError(
            f"checkpoint {write.seq} of run {run_id!r}: body must be JSON text, "
            f"got {type(write.body).__name__}"
        )
    if not isinstance(write.meta, dict):
        raise StoreError(f"checkpoint {write.seq} of run {run_id!r}: meta must be a dict")
    return encode(write.meta, f"meta of checkpoint {write.seq} of run {run_id!r}")


def checkpoint_from_row(run_id: str, row: Sequence[Any], *, strict: bool) -> StoredCheckpoint:
    """A checkpoint read with :data:`CHECKPOINT_COLUMNS` (and ``body`` last, for a chain).

    A listing (not ``strict``) returns one whose ``meta`` cannot be decoded marked; a
    chain read is strict: its rows are read to rebuild a snapshot.

    Raises:
        CorruptRecordError: (``strict``) the meta or the body cannot be decoded.
    """
    seq = row[0]
    key = f"checkpoint {seq}"
    try:
        meta = decode_column(row[5], run_id, "checkpoint meta", key=key)
    except CorruptRecordError as exc:
        if strict:
            raise
        return StoredCheckpoint(
            run_id, seq, row[1], row[2], row[3], row[4], {}, None, {"meta": exc.cause}
        )
    body = None
    if len(row) > 6:
        body = decode_column(row[6], run_id, "checkpoint body", key=key, any_json=True)
    return StoredCheckpoint(run_id, seq, row[1], row[2], row[3], row[4], meta, body)


def prune_below(write: CheckpointWrite, newest_anchors: Sequence[int]) -> int | None:
    """The ``seq`` below which a run's checkpoints go once ``write`` is stored, or
    ``None`` to keep them all.

    ``newest_anchors``: the anchors of the run's stored checkpoints, newest first (at
    least the ``keep_last - 1`` newest, before ``write``). The newest ``keep_last``
    checkpoints stay, with every older one their delta chains start from.
    """
    keep = write.keep_last
    if keep is None:
        return None
    if keep > 1 and len(newest_anchors) >= keep - 1:
        return min(write.anchor, newest_anchors[keep - 2])
    if keep > 1:
        return None  # fewer than keep_last stored: nothing goes yet
    return write.anchor


def check_fork(run_id: str, parent_run_id: str, requests: Sequence[Any]) -> None:
    """Refuse a fork onto itself, or with a request of another run or not pending.

    Raises:
        StoreError: as named.
    """
    if run_id == parent_run_id:
        raise StoreError(f"run {run_id!r} cannot be forked from itself")
    seen: set[str] = set()
    for request in requests:
        if request.run_id != run_id:
            raise StoreError(
                f"input request {request.request_id!r} belongs to run {request.run_id!r}, "
                f"not to the fork {run_id!r}"
            )
        if request.status != "pending":
            raise StoreError(f"new input request {request.request_id!r} must be pending")
        if request.request_id in seen:
            raise StoreError(f"fork adds input request {request.request_id!r} twice")
        seen.add(request.request_id)
