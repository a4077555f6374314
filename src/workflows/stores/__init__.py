"""Run stores: where durable runs, their stream logs and the human inbox are kept.

Pick one by URL with :func:`store_from_url` (or :func:`open_store`)::

    async with store_from_url("sqlite:///runs.db") as store:
        ...

``memory://`` is :class:`MemoryStore`, ``sqlite:///relative.db`` and
``sqlite:////absolute/path.db`` are :class:`SqliteStore` (the embedded default), and
``postgresql://user@host:port/db`` (or ``postgres://``) is :class:`PostgresStore`, which
needs the ``postgres`` extra. Every store implements :class:`RunStore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflows.stores._base import RunStore
from workflows.stores._capabilities import (
    CheckpointStore,
    LivenessStore,
    NotifyingStore,
    WatchedStore,
)
from workflows.stores._checkpoint_records import (
    CHECKPOINT_KINDS,
    CheckpointKind,
    CheckpointWrite,
    ForkLink,
    RunLineage,
    StoredCheckpoint,
)
from workflows.stores._errors import (
    CheckpointNotFoundError,
    InputRequestClosedError,
    RequestAssigneeChangedError,
    RunFinishedError,
)
from workflows.stores._loading import LoadedRun
from workflows.stores._memory import MemoryStore
from workflows.stores._records import (
    ANY,
    AUDIT_ACTIONS,
    REQUEST_STATUSES,
    RUN_STATUSES,
    STATE_ROWS_KEY,
    TERMINAL_STATUSES,
    AssigneeAction,
    AuditAction,
    AuditEntry,
    Commit,
    DeliveryAttempt,
    InboundEvent,
    InputRequest,
    RequestPage,
    RequestQuery,
    RequestSort,
    RequestStatus,
    RunRecord,
    RunStatus,
    StateChanges,
    StreamEntry,
    StreamItem,
    Viewer,
)
from workflows.stores._schemes import scheme_for_url as _scheme_for_url
from workflows.stores._schemes import scheme_named as _scheme_named
from workflows.stores._schemes import scheme_of as _scheme_of
from workflows.stores._sqlite import SqliteStore
from workflows.stores._url import StoreURL, parse_store_url
from workflows.stores._visibility import may_answer, visible_to

if TYPE_CHECKING:
    from workflows.stores._postgres import PostgresStore

__all__ = [
    "ANY",
    "AUDIT_ACTIONS",
    "CHECKPOINT_KINDS",
    "REQUEST_STATUSES",
    "RUN_STATUSES",
    "STATE_ROWS_KEY",
    "TERMINAL_STATUSES",
    "AssigneeAction",
    "AuditAction",
    "AuditEntry",
    "CheckpointKind",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "CheckpointWrite",
    "Commit",
    "DeliveryAttempt",
    "ForkLink",
    "InboundEvent",
    "InputRequest",
    "InputRequestClosedError",
    "LivenessStore",
    "LoadedRun",
    "MemoryStore",
    "NotifyingStore",
    "PostgresStore",
    "RequestAssigneeChangedError",
    "RequestPage",
    "RequestQuery",
    "RequestSort",
    "RequestStatus",
    "RunFinishedError",
    "RunLineage",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SqliteStore",
    "StateChanges",
    "StoreURL",
    "StoredCheckpoint",
    "StreamEntry",
    "StreamItem",
    "Viewer",
    "WatchedStore",
    "may_answer",
    "open_store",
    "parse_store_url",
    "store_from_url",
    "store_scheme",
    "visible_to",
]


def __getattr__(name: str) -> Any:
    # PostgresStore is imported on first use, so a missing asyncpg only matters then.
    if name == "PostgresStore":
        from workflows.stores._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_from_url(url: str) -> RunStore:
    """Build the (not yet opened) store a URL names.

    Options may follow as a query string: ``sqlite:///runs.db?synchronous=FULL``,
    ``postgresql://host/db?schema=app&max_size=20``.

    Raises:
        StoreConnectionError: the URL is malformed or has an unknown scheme; the message
            names the URL with any password masked.
        ImportError: a ``postgresql://`` URL without the ``postgres`` extra installed.
    """
    parsed = parse_store_url(url)
    try:
        return _scheme_named(parsed.kind).build(parsed)
    except ValueError as exc:
        from workflows.errors import StoreConnectionError

        raise StoreConnectionError(f"bad option in store URL {parsed.masked!r}: {exc}") from None


def store_scheme(store: RunStore | str) -> str:
    """The canonical URL scheme of a store, or of the store a URL names: ``memory``,
    ``sqlite`` or ``postgresql`` (a subclass counts as its base). A store of another
    type is named by its class; a URL with an unknown scheme by that scheme.

    Example::

        store_scheme(SqliteStore("runs.db"))  # "sqlite"
        store_scheme("postgres://db/app")  # "postgresql"
    """
    if isinstance(store, str):
        scheme = store.partition("://")[0]
        entry = _scheme_for_url(scheme)
        return entry.name if entry is not None else (scheme.lower() or "unknown")
    found = _scheme_of(store)
    return found.name if found is not None else type(store).__name__.lower()


async def open_store(url: str) -> RunStore:
    """Build the store a URL names and open it; the caller must ``await store.close()``.

    Raises:
        StoreConnectionError: the URL is wrong or the store unreachable.
        StoreSchemaError: the store holds a newer schema version than this library knows.
    """
    store = store_from_url(url)
    await store.open()
    return store
