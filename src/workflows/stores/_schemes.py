"""The one registry of store URL schemes: which store each scheme opens, and back.

``_url.py`` parses a URL with it (the accepted schemes and each store's query options),
:func:`~workflows.stores.store_from_url` builds the store it names, and the server
reports a store's scheme with :func:`scheme_of` (found by the store's type, never by
its class name).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.stores._base import RunStore
    from workflows.stores._url import StoreURL

__all__ = ["SCHEMES", "StoreScheme", "scheme_for_url", "scheme_named", "scheme_of"]


@dataclass(frozen=True)
class StoreScheme:
    """One kind of store a URL can name.

    Attributes:
        kind: the store's short name (``memory``, ``sqlite``, ``postgres``).
        url_schemes: the URL schemes that name it, the canonical one (what ``/health``
            reports) first.
        options: the query options the store takes (``?synchronous=FULL``).
        store_type: ``module:Class`` of the store, found without importing the module
            (so a missing optional driver only matters when the store is used).
        build: builds the store (not yet opened) from a parsed URL.
    """

    kind: str
    url_schemes: tuple[str, ...]
    options: frozenset[str]
    store_type: str
    build: Callable[[StoreURL], RunStore]

    @property
    def name(self) -> str:
        """The canonical URL scheme (``memory``, ``sqlite``, ``postgresql``)."""
        return self.url_schemes[0]


def _memory(url: StoreURL) -> RunStore:
    from workflows.stores._memory import MemoryStore

    return MemoryStore()


def _sqlite(url: StoreURL) -> RunStore:
    from workflows.stores._sqlite import SqliteStore

    return SqliteStore(
        url.target,
        synchronous=url.options.get("synchronous", "NORMAL").upper(),  # type: ignore[arg-type]
        busy_timeout=float(url.options.get("busy_timeout", 5.0)),
    )


def _postgres(url: StoreURL) -> RunStore:
    from workflows.stores._postgres import PostgresStore

    return PostgresStore(
        url.target,
        schema=url.options.get("schema", "public"),
        min_size=int(url.options.get("min_size", 1)),
        max_size=int(url.options.get("max_size", 10)),
        connect_timeout=float(url.options.get("connect_timeout", 10.0)),
    )


SCHEMES: tuple[StoreScheme, ...] = (
    StoreScheme(
        "memory", ("memory",), frozenset(), "workflows.stores._memory:MemoryStore", _memory
    ),
    StoreScheme(
        "sqlite",
        ("sqlite", "sqlite3"),
        frozenset({"synchronous", "busy_timeout"}),
        "workflows.stores._sqlite:SqliteStore",
        _sqlite,
    ),
    StoreScheme(
        "postgres",
        ("postgresql", "postgres"),
        frozenset({"schema", "min_size", "max_size", "connect_timeout"}),
        "workflows.stores._postgres:PostgresStore",
        _postgres,
    ),
)
"""Every store a URL can name."""

_BY_URL_SCHEME = {scheme: entry for entry in SCHEMES for scheme in entry.url_schemes}
_BY_KIND = {entry.kind: entry for entry in SCHEMES}


def scheme_for_url(url_scheme: str) -> StoreScheme | None:
    """The store a URL scheme (any case) names, if any."""
    return _BY_URL_SCHEME.get(url_scheme.lower())


def scheme_named(kind: str) -> StoreScheme:
    """The registry entry of a store kind (``memory``, ``sqlite``, ``postgres``).

    Raises:
        KeyError: no such kind.
    """
    return _BY_KIND[kind]


def scheme_of(store: object) -> StoreScheme | None:
    """The registry entry of a store object (a subclass counts as its base), or
    ``None`` for a store of another type."""
    for entry in SCHEMES:
        module_name, _, class_name = entry.store_type.partition(":")
        module = sys.modules.get(module_name)  # not imported: no store of it exists
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(store, cls):
            return entry
    return None
