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
    CheckpointWrite,
    Commit,
    InputRequest,
    RequestQuery,
    RunFinishedError,
    RunRecord,
    RunStore,
    SqliteStore,
    StateChanges,
    Viewer,
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


def _old_sqlite_file(path: Path, version: int, *rows: str) -> None:
    """A file as ``version`` of the library left it, holding ``rows`` (SQL inserts)."""
    with sqlite3.connect(path) as conn:
        for statements in sqlite_schema.MIGRATIONS[:version]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("CREATE TABLE wf_schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO wf_schema_version VALUES (?)", (version,))
        for statement in rows:
            conn.execute(statement)
    conn.close()


def _sqlite_versions(path: Path) -> list[tuple[int]]:
    with sqlite3.connect(path) as conn:
        versions = conn.execute("SELECT version FROM wf_schema_version").fetchall()
    conn.close()
    return versions


async def test_sqlite_upgrades_a_version_1_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _old_sqlite_file(path, 1)
    async with SqliteStore(path) as store:
        await store.create_run(RunRecord.new("r1", "flow", {"x": 1}))
        assert await store.quarantine_run("r1", 0, {"type": "T", "message": "m"}) == 1
        with pytest.raises(RunFinishedError, match="quarantined"):
            await store.commit(Commit("r1", 1, {}, "running"))
    assert _sqlite_versions(path) == [(sqlite_schema.SCHEMA_VERSION,)]


async def _old_postgres_schema(conn: Any, schema: str, version: int, *rows: str) -> None:
    """Make ``schema`` as ``version`` of the library left it, holding ``rows``; the
    connection's search path stays on it."""
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET search_path TO "{schema}"')
    for statements in pg_schema.MIGRATIONS[:version]:
        for statement in statements:
            await conn.execute(statement)
    await conn.execute("CREATE TABLE wf_schema_version (version integer NOT NULL)")
    await conn.execute("INSERT INTO wf_schema_version VALUES ($1)", version)
    for statement in rows:
        await conn.execute(statement)


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
        await _old_postgres_schema(conn, postgres_schema, 2)
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


# -- version 3 (SQLite) / 4 (PostgreSQL): who answered, and each run's start input -------

_START = {"$event": "app.Expense", "data": {"amount": 12, "employee": "ada"}}


async def _check_upgraded(store: RunStore) -> None:
    """Old rows read as not recorded; new writes keep the start input and who answered."""
    old = await store.get_run("old")
    assert old.input is None and old.snapshot == {"x": 2}
    answered = await store.get_request("old:1")
    assert answered.status == "answered" and answered.response == {"response": "yes"}
    assert answered.answered_by is None
    assert await store.answer_request("old:2", {"response": "no"}, answered_by="ops") is not None
    assert (await store.get_request("old:2")).answered_by == "ops"
    await store.create_run(RunRecord.new("new", "flow", {}, input=_START))
    assert (await store.get_run("new")).input == _START
    ask = InputRequest.new("new:1", "new", "flow", "Ask", {})
    await store.commit(Commit("new", 0, {}, "waiting", new_requests=[ask]))
    closing = Commit(
        "new",
        1,
        {},
        "running",
        closed_requests=[("new:1", "answered")],
        answered_by={"new:1": "grace"},
    )
    assert await store.commit_many([closing]) == [2]
    assert (await store.get_request("new:1")).answered_by == "grace"


_OLD_ROWS = (
    "INSERT INTO wf_runs (run_id, workflow, status, version, created_at, updated_at, "
    "snapshot) VALUES ('old', 'flow', 'waiting', 1, 1, 1, '{\"x\": 2}')",
    "INSERT INTO wf_schemas VALUES ('d', '{}')",
    "INSERT INTO wf_requests (request_id, run_id, workflow, event_type, status, created_at, "
    "answered_at, schema_digest, payload, response) VALUES "
    "('old:1', 'old', 'flow', 'Ask', 'answered', 1, 2, 'd', '{}', '{\"response\": \"yes\"}'), "
    "('old:2', 'old', 'flow', 'Ask', 'pending', 1, NULL, 'd', '{}', NULL)",
)
"""A run with an answered and a pending request, as the version before wrote them."""


async def test_sqlite_upgrades_a_version_2_file_with_data(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _old_sqlite_file(path, 2, *_OLD_ROWS)
    async with SqliteStore(path) as store:
        await _check_upgraded(store)
    assert _sqlite_versions(path) == [(sqlite_schema.SCHEMA_VERSION,)]


async def test_postgres_upgrades_a_version_3_schema_with_data(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as version 3 of the library left it, with a run and its requests
        await _old_postgres_schema(conn, postgres_schema, 3, *_OLD_ROWS)
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            await _check_upgraded(store)
            # the one-run commit (wf_commit) records who answered as well
            await store.create_run(RunRecord.new("one", "flow", {}))
            ask = InputRequest.new("one:1", "one", "flow", "Ask", {})
            await store.commit(Commit("one", 0, {}, "waiting", new_requests=[ask]))
            await store.commit(
                Commit(
                    "one",
                    1,
                    {},
                    "running",
                    closed_requests=[("one:1", "answered")],
                    answered_by={"one:1": "lin"},
                )
            )
            assert (await store.get_request("one:1")).answered_by == "lin"
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()


# -- state rows (wf_state): the migration that adds them carries existing runs ----------


def _version_before(migrations: tuple[tuple[str, ...], ...], table: str) -> int:
    """The schema version just before the migration that creates ``table``."""
    return next(
        index
        for index, statements in enumerate(migrations)
        if any(f"CREATE TABLE {table} " in statement for statement in statements)
    )


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
    before = _version_before(sqlite_schema.MIGRATIONS, "wf_state")
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

    before = _version_before(pg_schema.MIGRATIONS, "wf_state")
    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as the version before state rows left it
        await _old_postgres_schema(conn, postgres_schema, before)
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


# -- version 5 (SQLite) / 6 (PostgreSQL): human tasks --------------------------------------


async def _check_tasks_upgraded(store: RunStore) -> None:
    """Requests stored before read with the task defaults; the new paths work on them."""
    old = await store.get_request("old:2")
    assert (old.assignee, old.candidate_users, old.candidate_groups) == (None, (), ())
    assert (old.priority, old.due, old.follow_up, old.overdue_at) == (0, None, None, None)
    assert await store.request_audit("old:2") == []  # no history before the upgrade
    page = await store.query_requests(RequestQuery(viewer=Viewer("anyone")))
    assert [r.request_id for r in page.requests] == ["old:2"]  # open to all
    claimed = await store.set_assignee("old:2", "ada", actor="ada", action="claimed", expected=None)
    assert claimed.assignee == "ada"
    ask = InputRequest.new("old:3", "old", "flow", "Ask", {}, candidate_groups=["fin"], due=5.0)
    await store.commit(Commit("old", 1, {}, "waiting", new_requests=[ask]))
    assert [r.request_id for r in await store.mark_overdue(10.0)] == ["old:3"]
    await store.answer_request("old:2", {"response": "no"}, answered_by="ada")
    feed = await store.audit_after(0)
    assert [(e.request_id, e.action) for e in feed] == [
        ("old:2", "claimed"),
        ("old:3", "created"),
        ("old:3", "overdue"),
        ("old:2", "answered"),
    ]
    await store.advance_webhook_cursor("hook", feed[-1].id)
    assert await store.webhook_cursor("hook") == feed[-1].id


async def test_sqlite_upgrades_a_version_4_file_to_tasks(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    _old_sqlite_file(path, 4, *_OLD_ROWS)
    async with SqliteStore(path) as store:
        await _check_tasks_upgraded(store)
    assert _sqlite_versions(path) == [(sqlite_schema.SCHEMA_VERSION,)]


async def test_postgres_upgrades_a_version_5_schema_to_tasks(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    conn = await asyncpg.connect(postgres_url)
    try:  # a schema as version 5 of the library left it, with a run and its requests
        await _old_postgres_schema(conn, postgres_schema, 5, *_OLD_ROWS)
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            await _check_tasks_upgraded(store)
            # the group commit (wf_commit_many) stores task fields and audits too
            ask = InputRequest.new("old:4", "old", "flow", "Ask", {}, assignee="bo", priority=3)
            assert await store.commit_many(
                [Commit("old", 2, {}, "waiting", new_requests=[ask])]
            ) == [3]
            assert (await store.get_request("old:4")).priority == 3
            assert [e.action for e in await store.request_audit("old:4")] == ["created"]
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()


# -- version 6 (SQLite) / 7 (PostgreSQL): checkpoint history, wf_checkpoints and wf_forks


def test_each_migration_keeps_its_version() -> None:
    """Schema versions are stored in files and databases: a migration never moves."""
    assert _version_before(sqlite_schema.MIGRATIONS, "wf_state") == 3
    assert _version_before(sqlite_schema.MIGRATIONS, "wf_request_audit") == 4
    assert _version_before(sqlite_schema.MIGRATIONS, "wf_checkpoints") == 5
    assert _version_before(pg_schema.MIGRATIONS, "wf_state") == 4
    assert _version_before(pg_schema.MIGRATIONS, "wf_request_audit") == 5
    assert _version_before(pg_schema.MIGRATIONS, "wf_checkpoints") == 6


async def _keeps_checkpoints_of_an_old_run(store: Any) -> None:
    """The run ``old`` (version 1, stored before checkpoints) commits, keeps a
    checkpoint and is forked with an open task."""
    checkpoint = CheckpointWrite(seq=2, kind="full", anchor=2, body='{"n": 2}')
    assert await store.commit(Commit("old", 1, {"n": 2}, "waiting", checkpoint=checkpoint)) == 2
    assert [c.seq for c in await store.checkpoint_chain("old", 2)] == [2]
    first = CheckpointWrite(seq=0, kind="full", anchor=0, body='{"n": 2}')
    fork = RunRecord.new("fork", "flow", {"n": 2}, status="waiting")
    ask = InputRequest.new("fork:1", "fork", "flow", "Ask", {}, candidate_groups=["fin"])
    await store.fork_run(fork, parent_run_id="old", parent_seq=2, checkpoint=first, requests=[ask])
    assert [link.run_id for link in (await store.run_lineage("old")).forks] == ["fork"]
    assert (await store.get_request("fork:1")).candidate_groups == ("fin",)
    assert [e.action for e in await store.request_audit("fork:1")] == ["created"]


async def test_sqlite_upgrade_to_checkpoints_carries_existing_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    before = _version_before(sqlite_schema.MIGRATIONS, "wf_checkpoints")
    _old_sqlite_file(
        path,
        before,
        "INSERT INTO wf_runs (run_id, workflow, status, version, created_at, updated_at, "
        "snapshot) VALUES ('old', 'flow', 'running', 1, 1.0, 1.0, '{\"n\": 1}')",
    )
    async with SqliteStore(path) as store:
        assert await store.list_checkpoints("old") == []
        await _keeps_checkpoints_of_an_old_run(store)
    assert _sqlite_versions(path) == [(sqlite_schema.SCHEMA_VERSION,)]


async def test_postgres_upgrade_to_checkpoints_carries_existing_runs(
    postgres_url: str, postgres_schema: str
) -> None:
    import asyncpg

    from workflows.stores import PostgresStore

    before = _version_before(pg_schema.MIGRATIONS, "wf_checkpoints")
    conn = await asyncpg.connect(postgres_url)
    try:
        await _old_postgres_schema(
            conn,
            postgres_schema,
            before,
            "INSERT INTO wf_runs (run_id, workflow, status, version, created_at, updated_at, "
            "snapshot) VALUES ('old', 'flow', 'running', 1, 1.0, 1.0, '{\"n\": 1}')",
        )
        async with PostgresStore(postgres_url, schema=postgres_schema) as store:
            assert await store.list_checkpoints("old") == []
            await _keeps_checkpoints_of_an_old_run(store)
        assert (
            await conn.fetchval("SELECT version FROM wf_schema_version") == pg_schema.SCHEMA_VERSION
        )
    finally:
        await conn.close()
