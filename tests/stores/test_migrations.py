"""Versioned schemas: a store refuses a database written by a newer version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from workflows.errors import StoreSchemaError
from workflows.stores import Commit, RunFinishedError, RunRecord, SqliteStore
from workflows.stores import _postgres_schema as pg_schema
from workflows.stores import _sqlite_schema as sqlite_schema


async def test_sqlite_refuses_a_newer_schema_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    async with SqliteStore(path) as store:
        await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE wf_schema_version SET version = 99")
    conn.close()
    before = path.read_bytes()
    store = SqliteStore(path)
    expected = rf"schema version 99, newer than version {sqlite_schema.SCHEMA_VERSION}"
    with pytest.raises(StoreSchemaError, match=expected):
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
        versions = conn.execute("SELECT version FROM wf_schema_version").fetchall()
        assert versions == [(sqlite_schema.SCHEMA_VERSION,)]
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
        expected = rf"schema version 42, newer than version {pg_schema.SCHEMA_VERSION}"
        with pytest.raises(StoreSchemaError, match=expected):
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


# -- version 2: the terminal status 'quarantined' ---------------------------------------


async def test_sqlite_upgrades_a_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with sqlite3.connect(path) as conn:  # a file as version 1 of the library left it
        for statement in sqlite_schema.MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("CREATE TABLE wf_schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO wf_schema_version VALUES (1)")
    conn.close()
    async with SqliteStore(path) as store:
        await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
        assert await store.quarantine_run("r1", 0, {"type": "T", "message": "m"}) == 1
        with pytest.raises(RunFinishedError, match="quarantined"):
            await store.commit(Commit("r1", 1, {}, "running"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM wf_schema_version").fetchall() == [(2,)]
    conn.close()


async def test_postgres_upgrades_a_version_1_schema(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as version 1 of the library left it: its wf_commit knows 4 endings
        await conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
        await conn.execute(f'SET search_path TO "{postgres_schema}"')
        for statement in pg_schema.MIGRATIONS[0]:
            await conn.execute(statement)
        await conn.execute("CREATE TABLE wf_schema_version (version integer NOT NULL)")
        await conn.execute("INSERT INTO wf_schema_version VALUES (1)")
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
            assert await store.quarantine_run("r1", 0, {"type": "T", "message": "m"}) == 1
            # wf_commit was replaced: it refuses a quarantined run like a finished one.
            with pytest.raises(RunFinishedError, match="quarantined"):
                await store.commit(Commit("r1", 1, {}, "running"))
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()


# -- version 3 (PostgreSQL): wf_commit_many, the group commit ---------------------------


async def test_postgres_upgrades_a_version_2_schema_to_group_commits(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as version 2 of the library left it: no wf_commit_many
        await conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
        await conn.execute(f'SET search_path TO "{postgres_schema}"')
        for statements in pg_schema.MIGRATIONS[:2]:
            for statement in statements:
                await conn.execute(statement)
        await conn.execute("CREATE TABLE wf_schema_version (version integer NOT NULL)")
        await conn.execute("INSERT INTO wf_schema_version VALUES (2)")
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
            await store.create_run(RunRecord.new("r2", "flow", {"x": 2}))
            outcomes = await store.commit_many(
                [Commit("r1", 0, {"y": 1}, "running"), Commit("r2", 0, {"y": 2}, "completed")]
            )
            assert outcomes == [1, 1]
            assert (await store.get_run("r2")).status == "completed"
        assert await conn.fetchval("SELECT version FROM wf_schema_version") == 3
    finally:
        await conn.close()
