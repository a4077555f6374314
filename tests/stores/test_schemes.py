"""The one registry of store schemes opens each scheme and names each store's scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from workflows.errors import StoreConnectionError
from workflows.stores import SqliteStore, open_store, store_from_url, store_scheme
from workflows.stores._schemes import SCHEMES, scheme_named, scheme_of


@pytest.fixture
def kind_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of a fresh store of the kind under test (PostgreSQL: a schema of its own)."""
    if store_kind == "memory":
        return "memory://"
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    postgres_url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("postgres_schema")
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"


def test_the_registry_has_each_store_kind_once(store_kind: str) -> None:
    assert [entry.kind for entry in SCHEMES].count(store_kind) == 1


async def test_each_scheme_opens_its_store(store_kind: str, kind_url: str) -> None:
    url = kind_url
    entry = scheme_named(store_kind)
    _, rest = url.split("://", 1)
    for alias in entry.url_schemes:  # sqlite3://, postgres://: the same store
        store = await open_store(f"{alias}://{rest}")
        try:
            module, _, name = entry.store_type.partition(":")
            assert (type(store).__module__, type(store).__name__) == (module, name)
            assert scheme_of(store) is entry
            assert store_scheme(store) == entry.name == entry.url_schemes[0]
            assert store_scheme(f"{alias.upper()}://{rest}") == entry.name
            assert await store.list_runs() == []
        finally:
            await store.close()


def test_the_options_of_a_scheme_reach_its_store(tmp_path: Path) -> None:
    base = f"sqlite:///{tmp_path / 'o.db'}"
    for query, named in (
        ("synchronous=sometimes", "synchronous must be"),
        ("busy_timeout=x", "float: 'x'"),
    ):
        with pytest.raises(StoreConnectionError, match=f"bad option in store URL .*{named}"):
            store_from_url(f"{base}?{query}")
    assert isinstance(store_from_url(f"{base}?synchronous=full&busy_timeout=2"), SqliteStore)


def test_a_store_of_another_type_is_named_by_its_type(tmp_path: Path) -> None:
    class CountingSqlite(SqliteStore):
        """A subclass is still a SQLite store."""

    class HandMade:
        """Not a registered store."""

    assert store_scheme(CountingSqlite(tmp_path / "c.db")) == "sqlite"
    assert scheme_of(HandMade()) is None and store_scheme(HandMade()) == "handmade"  # type: ignore[arg-type]
    assert store_scheme("redis://cache") == "redis"


@pytest.mark.parametrize("given", ["url", "store", "engine"])
async def test_the_server_shows_the_scheme_of_its_store(
    store_kind: str, kind_url: str, given: str
) -> None:
    """``GET /health`` names the store's scheme however the app got its store."""
    from _live_server import LiveServer
    from _served_flows import server_workflows
    from workflows.engine import Engine
    from workflows.server import create_app

    target: Any = kind_url
    if given == "store":
        target = store_from_url(kind_url)
    elif given == "engine":
        target = Engine(kind_url)
    server = LiveServer(create_app(target, server_workflows())).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            health = (await client.get("/health")).json()
    finally:
        server.stop()
    assert health["store"] == scheme_named(store_kind).name
