"""What a store can do beyond :class:`~workflows.stores.RunStore`, for engines that share it.

The engine checks for each at run time (``isinstance``) and uses what the store offers:
PostgreSQL wakes other processes and tells when a worker's session is gone, SQLite tells
cheaply whether another process wrote to the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

__all__ = ["LivenessStore", "NotifyingStore", "WatchedStore"]


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
