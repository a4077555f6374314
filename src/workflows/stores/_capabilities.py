"""What a store can do beyond :class:`~workflows.stores.RunStore`.

The engine checks for each at run time (``isinstance``) and uses what the store offers:
PostgreSQL wakes other processes and tells when a worker's session is gone, SQLite tells
cheaply whether another process wrote to the file, and the three stores of this package
keep checkpoint histories and forks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from workflows.stores._checkpoint_records import (
    CheckpointWrite,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._records import InputRequest, RunRecord

__all__ = ["CheckpointStore", "LivenessStore", "NotifyingStore", "WatchedStore"]


@runtime_checkable
class CheckpointStore(Protocol):
    """A store that keeps checkpoints of runs and forks runs from them (the engine's
    ``history`` setting, ``engine.fork``).

    Checkpoints are written by the commit that carries one (``Commit.checkpoint``), in
    its transaction (also in ``commit_many``): a refused commit writes none. They are
    read back by number; a ``delta`` checkpoint is returned with the rows of its chain,
    from the ``full`` one it starts from, which the reader applies in order. Deleting a
    run deletes its checkpoints and its own fork link; the links of runs forked from it
    stay (they still name it).
    """

    async def list_checkpoints(
        self, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[StoredCheckpoint]:
        """The run's checkpoints with ``seq > after`` (all by default), oldest first,
        without their bodies. A row whose meta cannot be decoded is listed marked.

        Raises:
            RunNotFoundError: no such run.
        """
        ...

    async def checkpoint_chain(self, run_id: str, seq: int) -> list[StoredCheckpoint]:
        """Checkpoint ``seq`` with its body, preceded by the checkpoints its delta chain
        needs: every stored one from its ``anchor`` (a ``full`` one) up to it, oldest first.

        Raises:
            CheckpointNotFoundError: the run has no checkpoint ``seq`` (or no run).
            CorruptRecordError: a row of the chain cannot be decoded.
        """
        ...

    async def fork_run(
        self,
        run: RunRecord,
        *,
        parent_run_id: str,
        parent_seq: int,
        checkpoint: CheckpointWrite,
        requests: Sequence[InputRequest] = (),
        stream_upto: int = 0,
    ) -> None:
        """Create ``run`` as a fork of ``parent_run_id`` at its checkpoint ``parent_seq``,
        in one transaction: the run (as :meth:`RunStore.create_run`), its fork link, its
        first ``checkpoint`` (with the run's status), its pending ``requests`` and a copy
        of the parent's stream entries with ``seq <= stream_upto``. The parent is only
        read, never written or locked: forking a run another worker executes is safe.

        Raises:
            RunAlreadyExistsError: ``run.run_id`` exists.
            RunNotFoundError: the parent does not exist.
            StoreError: a request of another run, or one that is not pending.
        """
        ...

    async def run_lineage(self, run_id: str) -> RunLineage:
        """Which run ``run_id`` was forked from, and which runs were forked from it.

        Raises:
            RunNotFoundError: no such run (and no run was forked from that id).
        """
        ...


@runtime_checkable
class NotifyingStore(Protocol):
    """A store that can wake other processes (PostgreSQL)."""

    async def notify_work(self, run_id: str) -> None:
        """Send a wake-up message."""

    def work_notifications(
        self,
        *,
        on_listening: Callable[[], object] | None = None,
        hold_owner_lock: str | None = None,
    ) -> AsyncIterator[str]:
        """Receive wake-up messages (holding ``hold_owner_lock``'s liveness lock)."""


@runtime_checkable
class LivenessStore(Protocol):
    """A store that can tell when a worker's session is gone (PostgreSQL)."""

    async def expire_gone_owners(
        self, owner: str, *, now: float | None = None, grace: float = 5.0
    ) -> list[str]:
        """End the leases of owners whose session is gone; return the freed runs."""


@runtime_checkable
class WatchedStore(Protocol):
    """A store that can tell cheaply whether another process wrote to it (SQLite)."""

    async def changed_elsewhere(self) -> bool:
        """True if another process committed since the last call."""
