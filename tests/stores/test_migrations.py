"""Versioned schemas: a store refuses a database written by a newer version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from workflows.errors import StoreSchemaError
from workflows.stores import RunRecord, SqliteStore


async def test_sqlite_refuses_a_newer_schema_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with SqliteStore(path) as store:
        await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE wf_schema_version SET version = 99")
    conn.close()
    before = path.read_bytes()
    store = SqliteStore(path)
    with pytest.raises(StoreSchemaError, match=r"schema version 99, newer than version 1"):
        await store.open()
    assert not store.is_open
    with pytest.raises(StoreSchemaError):  # still refused: nothing was changed
        await SqliteStore(path).open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM wf_schema_version").fetchall() == [(99,)]
        assert conn.execute("SELECT run_id FROM wf_runs").fetchall() == [("r1",)]
    conn.close()
    assert path.read_bytes()[:100] == before[:100]


async def test_sqlite_creates_the_schema_once(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    for _ in range(2):
        async with SqliteStore(path):
            pass
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM wf_schema_version").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


async def test_postgres_refuses_a_newer_schema_and_writes_nothing(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    async with PostgresStore(postgres_url, schema=postgres_schema) as store:
        await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'UPDATE "{postgres_schema}".wf_schema_version SET version = 42')
        with pytest.raises(StoreSchemaError, match=r"schema version 42, newer than version 1"):
            await PostgresStore(postgres_url, schema=postgres_schema).open()
        assert (
            await conn.fetchval(f'SELECT version FROM "{postgres_schema}".wf_schema_version') == 42
        )
        assert await conn.fetchval(f'SELECT count(*) FROM "{postgres_schema}".wf_runs') == 1
    finally:
        await conn.close()


async def test_postgres_workers_starting_together_migrate_once(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncio

    from workflows.stores import PostgresStore

    stores = [PostgresStore(postgres_url, schema=postgres_schema) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].create_run(RunRecord.new("r1", "flow", {}))
        assert (await stores[3].get_run("r1")).workflow == "flow"
    finally:
        await asyncio.gather(*(s.close() for s in stores))
