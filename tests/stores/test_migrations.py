"""Versioned schemas: a store refuses a database written by a newer version."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from workflows.errors import StoreSchemaError
from workflows.stores import (
    STATE_ROWS_KEY,
    Commit,
    RunFinishedError,
    RunRecord,
    SqliteStore,
    StateChanges,
)
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
        versions = conn.execute("SELECT version FROM wf_schema_version").fetchall()
        assert versions == [(sqlite_schema.SCHEMA_VERSION,)]
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
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()


# -- state rows (wf_state): the migration that adds them carries existing runs ----------

_OLD_STATE = {"state": {"a": 1, "b": [2, 3]}, "queues": {}}
_ROWS = {"state": {}, STATE_ROWS_KEY: ["state"], "queues": {}}


async def _carries_a_run_into_state_rows(store: Any) -> None:
    """A run written before state rows existed loads as it was, then moves into rows."""
    assert (await store.get_run("old")).snapshot == _OLD_STATE
    await store.commit(Commit("old", 1, _OLD_STATE, "running"))  # still whole: fine
    assert (await store.get_run("old")).snapshot == _OLD_STATE
    moved = StateChanges(reset=True, values={"a": 1, "b": [2, 3]})
    await store.commit(Commit("old", 2, _ROWS, "running", state=moved))
    assert (await store.get_run("old")).snapshot == _OLD_STATE
    await store.commit(Commit("old", 3, _ROWS, "running", state=StateChanges(values={"a": 5})))
    assert (await store.get_run("old")).snapshot == {"state": {"a": 5, "b": [2, 3]}, "queues": {}}


async def test_sqlite_upgrade_to_state_rows_carries_existing_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    before = sqlite_schema.SCHEMA_VERSION - 1
    with sqlite3.connect(path) as conn:  # a file as the version before state rows left it
        for statements in sqlite_schema.MIGRATIONS[:before]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("CREATE TABLE wf_schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO wf_schema_version VALUES (?)", (before,))
        conn.execute(
            "INSERT INTO wf_runs (run_id, workflow, status, version, created_at, updated_at, "
            "snapshot) VALUES ('old', 'flow', 'running', 1, 1.0, 1.0, ?)",
            (json.dumps(_OLD_STATE),),
        )
    conn.close()
    async with SqliteStore(path) as store:
        await _carries_a_run_into_state_rows(store)
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM wf_schema_version").fetchall()
        assert versions == [(sqlite_schema.SCHEMA_VERSION,)]
        assert conn.execute("SELECT count(*) FROM wf_state").fetchone() == (2,)
    conn.close()


async def test_postgres_upgrade_to_state_rows_carries_existing_runs(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    before = pg_schema.SCHEMA_VERSION - 1
    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as the version before state rows left it
        await conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
        await conn.execute(f'SET search_path TO "{postgres_schema}"')
        for statements in pg_schema.MIGRATIONS[:before]:
            for statement in statements:
                await conn.execute(statement)
        await conn.execute("CREATE TABLE wf_schema_version (version integer NOT NULL)")
        await conn.execute("INSERT INTO wf_schema_version VALUES ($1)", before)
        await conn.execute(
            "INSERT INTO wf_runs (run_id, workflow, status, version, created_at, updated_at, "
            "snapshot) VALUES ('old', 'flow', 'running', 1, 1.0, 1.0, $1)",
            json.dumps(_OLD_STATE),
        )
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            await _carries_a_run_into_state_rows(store)
            # The group commit takes state changes too (wf_commit_many was replaced).
            changes = StateChanges(deleted=("b",), values={"c": True})
            assert await store.commit_many([Commit("old", 4, _ROWS, "running", state=changes)]) == [
                5
            ]
            assert (await store.get_run("old")).snapshot["state"] == {"a": 5, "c": True}
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()
