"""The records of a run's checkpoint history and of forks (see ``CheckpointStore``).

A checkpoint is a committed state of a run kept after later commits replaced it. The
store keeps what the engine gives it: a body that is either a whole snapshot or a
delta against the checkpoint before it (the engine decides which, and reads deltas
back), with the sequence number of the whole one the delta chain starts from. The
store knows no delta format: it only hands back the rows of a chain, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "CHECKPOINT_KINDS",
    "CheckpointKind",
    "CheckpointWrite",
    "ForkLink",
    "RunLineage",
    "StoredCheckpoint",
]

CheckpointKind: TypeAlias = Literal["full", "delta"]
"""How a checkpoint's body is written: a whole snapshot, or a delta against the
checkpoint stored just before it."""

CHECKPOINT_KINDS: Final[frozenset[str]] = frozenset({"full", "delta"})
"""Every valid :data:`CheckpointKind`."""


@dataclass(frozen=True, slots=True)
class CheckpointWrite:
    """A checkpoint to keep, written by the commit that carries it (``Commit.checkpoint``)
    or with a forked run (``CheckpointStore.fork_run``), in the same transaction.

    Attributes:
        seq: Its number in the run (unique per run, increasing with every checkpoint
            kept; the engine uses the run's version after the commit).
        kind: ``full`` (``body`` is a whole snapshot) or ``delta`` (``body`` changes the
            checkpoint stored just before this one).
        anchor: The ``seq`` of the ``full`` checkpoint the chain of deltas up to this one
            starts from (its own ``seq`` for a ``full`` one).
        body: JSON text, stored as given (the engine encodes it, so that it knows the
            size it chooses by).
        meta: JSON-safe facts about the checkpoint (what happened, who changed it and
            why, ...), stored and returned as given.
        keep_last: After writing, keep only the newest ``keep_last`` checkpoints of the
            run, and the older ones their deltas start from (``None``: keep all).
    """

    seq: int
    kind: CheckpointKind
    anchor: int
    body: str
    meta: dict[str, Any] = field(default_factory=dict)
    keep_last: int | None = None


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A kept checkpoint as the store returns it.

    Attributes:
        run_id: The run.
        seq: Its number in the run.
        anchor: The ``seq`` of the ``full`` checkpoint its delta chain starts from.
        at: When it was written (the store's clock, as the commit's ``updated_at``).
        status: The run's status in it.
        kind: ``full`` or ``delta``.
        meta: What the engine stored with it.
        body: The decoded body (a whole snapshot or a delta); ``None`` in a listing.
        corrupt: ``None`` for an intact row; for one whose ``meta`` cannot be decoded
            in a listing, ``{"meta": why}`` (``meta`` is then ``{}``).
    """

    run_id: str
    seq: int
    anchor: int
    at: float
    status: str
    kind: CheckpointKind
    meta: dict[str, Any]
    body: Any = None
    corrupt: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ForkLink:
    """A run started from a checkpoint of another run (``CheckpointStore.fork_run``).

    Attributes:
        run_id: The new run (the fork).
        parent_run_id: The run it was forked from.
        parent_seq: The checkpoint of that run it started from.
        created_at: When the fork was made.
    """

    run_id: str
    parent_run_id: str
    parent_seq: int
    created_at: float


@dataclass(frozen=True, slots=True)
class RunLineage:
    """Where a run comes from and which runs were forked from it.

    Attributes:
        forked_from: The run's own fork link, or ``None`` for a run that was started.
        forks: The runs forked from this one, oldest first.
    """

    forked_from: ForkLink | None
    forks: list[ForkLink]
