"""A run's state rows: encoding a commit's changes, and filling a snapshot on reading.

See :class:`~workflows.stores.StateChanges` for the layout: a snapshot marked with
``"$state_rows"`` leaves its state's entries to one row per key, kept by the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from workflows.errors import CorruptRecordError, StoreError
from workflows.stores._codec import decode_column, encode
from workflows.stores._records import STATE_ROWS_KEY, Commit, RunRecord

__all__ = ["encoded_state_changes", "uses_state_rows", "with_state_rows"]


def encoded_state_changes(commit: Commit) -> tuple[bool, list[str], list[str], list[str]]:
    """The state changes of ``commit`` as ``(reset, deleted keys, keys, JSON texts)``.

    Raises:
        StoreError: a key that is not a string, or a value that is not JSON-safe.
    """
    changes = commit.state
    if changes is None:
        return False, [], [], []
    what = f"run {commit.run_id!r}"
    deleted = list(changes.deleted)
    keys = list(changes.values)
    for key in (*deleted, *keys):
        if type(key) is not str:
            raise StoreError(f"state key {key!r} of {what} is not a string")
    texts = [encode(value, f"state key {key!r} of {what}") for key, value in changes.values.items()]
    return changes.reset, deleted, keys, texts


def uses_state_rows(snapshot: Any) -> bool:
    """Whether a decoded snapshot leaves its state's entries to the run's rows."""
    return isinstance(snapshot, dict) and STATE_ROWS_KEY in snapshot


def with_state_rows(
    record: RunRecord, rows: Iterable[tuple[str, str]], *, listing: bool = False
) -> RunRecord:
    """``record`` with its snapshot filled from its state rows ``(key, JSON text)``.

    A snapshot without the marker is returned as it is (its rows, if any, are not its
    own). The record's snapshot must be freshly decoded: it is filled in place.

    Raises:
        CorruptRecordError: (unless ``listing``, which returns the record marked as a
            damaged snapshot instead) a row or the marker cannot be read.
    """
    snapshot = record.snapshot
    if not uses_state_rows(snapshot):
        return record
    path = snapshot.pop(STATE_ROWS_KEY)
    try:
        node: Any = snapshot
        if type(path) is not list:
            raise CorruptRecordError(record.run_id, "snapshot", f"bad state path {path!r}")
        for name in path:
            node = node.get(name) if isinstance(node, dict) and type(name) is str else None
        if not isinstance(node, dict):
            raise CorruptRecordError(
                record.run_id, "snapshot", f"state path {path!r} names no object"
            )
        for key, text in rows:
            node[key] = decode_column(
                text, record.run_id, "snapshot", key=f"state key {key!r}", any_json=True
            )
    except CorruptRecordError as exc:
        cause = f"{exc.key}: {exc.cause}" if exc.key else exc.cause
        marked = replace(
            record,
            snapshot={},
            error=record.error or {"type": "CorruptRecordError", "message": str(exc)},
            corrupt={**(record.corrupt or {}), "snapshot": cause},
        )
        if listing:
            return marked
        raise CorruptRecordError(record.run_id, "snapshot", cause, record=marked) from None
    return record
