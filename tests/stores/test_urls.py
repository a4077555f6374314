"""Choosing a store by URL, and the errors for wrong or unreachable ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.errors import StoreConnectionError
from workflows.stores import MemoryStore, SqliteStore, open_store, store_from_url


def test_memory_url() -> None:
    assert isinstance(store_from_url("memory://"), MemoryStore)


def test_sqlite_urls() -> None:
    relative = store_from_url("sqlite:///relative.db")
    assert isinstance(relative, SqliteStore)
    assert relative.path == "relative.db"
    absolute = store_from_url("sqlite:////abs/path/runs.db")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == "/abs/path/runs.db"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls(scheme: str) -> None:
    pytest.importorskip("asyncpg")
    from workflows.stores import PostgresStore

    store = store_from_url(f"{scheme}://app:s3cret@db.example:6543/app?schema=tenant_1")
    assert isinstance(store, PostgresStore)
    assert store.schema == "tenant_1"
    assert "s3cret" not in repr(store)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "malformed store URL ''"),
        ("runs.db", "malformed store URL 'runs.db'"),
        ("sqlite:runs.db", "malformed store URL"),
        ("sqlite://", "malformed store URL 'sqlite://'"),
        ("sqlite://host/runs.db", "has no host"),
        ("memory://somewhere", "use plain memory://"),
        ("mysql://u@h/db", "unknown store URL scheme 'mysql'"),
        ("postgresql://u:pw@host:notaport/db", "malformed store URL"),
        ("postgresql:///db", "no host given"),
        ("sqlite:///r.db?synchronous=SOMETIMES", "bad option"),
        ("postgresql://h/db?schema=bad-name;drop", "bad option"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    if url.startswith("postgresql://h/"):
        pytest.importorskip("asyncpg")
    with pytest.raises(StoreConnectionError, match=message):
        store_from_url(url)


def test_passwords_are_masked_in_errors() -> None:
    with pytest.raises(StoreConnectionError) as info:
        store_from_url("postgresql://admin:hunter2@host:99999999/db")
    assert "hunter2" not in str(info.value)
    assert "admin:***@host" in str(info.value)
    with pytest.raises(StoreConnectionError) as info:
        store_from_url("redis://admin:hunter2@host/0")
    assert "hunter2" not in str(info.value)


async def test_unreachable_postgres_names_host_and_port() -> None:
    pytest.importorskip("asyncpg")
    store = store_from_url("postgresql://nobody:pw@127.0.0.1:1/db?connect_timeout=2")
    with pytest.raises(StoreConnectionError, match=r"127\.0\.0\.1:1") as info:
        await store.open()
    assert "pw" not in str(info.value).replace("PostgreSQL", "")
    assert not store.is_open


async def test_unopenable_sqlite_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "runs.db"
    with pytest.raises(StoreConnectionError, match="runs.db"):
        await open_store(f"sqlite:///{missing}")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreConnectionError, match="garbage.db"):
        await open_store(f"sqlite:///{garbage}")


async def test_open_store_returns_an_open_store(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    try:
        assert store.is_open
        assert await store.list_runs() == []
    finally:
        await store.close()
    memory = await open_store("memory://")
    await memory.close()


async def test_sqlite_url_options(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}?synchronous=full&busy_timeout=1"
    async with store_from_url(url) as store:
        assert await store.list_runs() == []


def test_missing_asyncpg_fails_only_when_used_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "asyncpg", None)  # makes "import asyncpg" fail
    monkeypatch.delitem(sys.modules, "workflows.stores._postgres", raising=False)
    assert isinstance(store_from_url("memory://"), MemoryStore)
    with pytest.raises(ImportError, match=r"pip install 'durable-workflows\[postgres\]'"):
        store_from_url("postgresql://127.0.0.1/db")
    import workflows.stores

    with pytest.raises(ImportError, match="durable-workflows"):
        workflows.stores.PostgresStore  # noqa: B018
