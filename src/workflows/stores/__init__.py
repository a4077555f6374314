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
from workflows.stores._errors import InputRequestClosedError, RunFinishedError
from workflows.stores._loading import LoadedRun
from workflows.stores._memory import MemoryStore
from workflows.stores._records import (
    REQUEST_STATUSES,
    RUN_STATUSES,
    STATE_ROWS_KEY,
    TERMINAL_STATUSES,
    Commit,
    InboundEvent,
    InputRequest,
    RequestStatus,
    RunRecord,
    RunStatus,
    StateChanges,
    StreamEntry,
    StreamItem,
)
from workflows.stores._sqlite import SqliteStore
from workflows.stores._url import StoreURL, parse_store_url

if TYPE_CHECKING:
    from workflows.stores._postgres import PostgresStore

__all__ = [
    "REQUEST_STATUSES",
    "RUN_STATUSES",
    "STATE_ROWS_KEY",
    "TERMINAL_STATUSES",
    "Commit",
    "InboundEvent",
    "InputRequest",
    "InputRequestClosedError",
    "LoadedRun",
    "MemoryStore",
    "PostgresStore",
    "RequestStatus",
    "RunFinishedError",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SqliteStore",
    "StateChanges",
    "StoreURL",
    "StreamEntry",
    "StreamItem",
    "open_store",
    "parse_store_url",
    "store_from_url",
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
    options = parsed.options
    try:
        if parsed.kind == "memory":
            return MemoryStore()
        if parsed.kind == "sqlite":
            return SqliteStore(
                parsed.target,
                synchronous=options.get("synchronous", "NORMAL").upper(),  # type: ignore[arg-type]
                busy_timeout=float(options.get("busy_timeout", 5.0)),
            )
        from workflows.stores._postgres import PostgresStore

        return PostgresStore(
            parsed.target,
            schema=options.get("schema", "public"),
            min_size=int(options.get("min_size", 1)),
            max_size=int(options.get("max_size", 10)),
            connect_timeout=float(options.get("connect_timeout", 10.0)),
        )
    except ValueError as exc:
        from workflows.errors import StoreConnectionError

        raise StoreConnectionError(f"bad option in store URL {parsed.masked!r}: {exc}") from None


async def open_store(url: str) -> RunStore:
    """Build the store a URL names and open it; the caller must ``await store.close()``.

    Raises:
        StoreConnectionError: the URL is wrong or the store unreachable.
        StoreSchemaError: the store holds a newer schema version than this library knows.
    """
    store = store_from_url(url)
    await store.open()
    return store
