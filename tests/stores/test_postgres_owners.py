"""Worker liveness on PostgreSQL: a worker's leases end when its session is gone.

A real PostgreSQL schema per test; the "worker" is a connection holding the liveness
lock, closed to play a process killed with ``kill -9``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from workflows.errors import StoreError
from workflows.stores import PostgresStore, RunRecord
from workflows.stores._postgres_owners import take_owner_lock


@pytest.fixture
async def store(postgres_url: str, postgres_schema: str) -> AsyncIterator[PostgresStore]:
    async with PostgresStore(postgres_url, schema=postgres_schema) as opened:
        yield opened


async def _session(url: str, schema: str, owner: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await take_owner_lock(conn, schema, owner)
    return conn


async def test_runs_of_a_worker_whose_session_ended_are_freed_at_once(
    store: PostgresStore, postgres_url: str, postgres_schema: str
) -> None:
    alive = await _session(postgres_url, postgres_schema, "alive")
    dead = await _session(postgres_url, postgres_schema, "dead")
    try:
        for run_id, owner in (("a1", "alive"), ("d1", "dead"), ("d2", "dead")):
            await store.create_run(RunRecord.new(run_id, "flow", {}))
            await store.claim_run(run_id, owner, 30, now=1_000.0)
        await store.create_run(RunRecord.new("free", "flow", {}))
        assert await store.expire_gone_owners("me", now=1_001.0, grace=0) == []

        await dead.close()  # the process behind it died
        freed = await store.expire_gone_owners("me", now=1_002.0, grace=0)
        assert sorted(freed) == ["d1", "d2"]
        assert (await store.get_run("d1")).lease_expires_at == 1_002.0
        assert (await store.get_run("a1")).lease_expires_at == 1_030.0  # alive: untouched
        taken = await store.claim_run("d1", "me", 30, now=1_002.0)
        assert taken.owner == "me"
        # d2's lease already ended: nothing more to free
        assert await store.expire_gone_owners("me", now=1_002.0, grace=0) == []
        # Within the grace period after a database start nothing is ended: live workers
        # may still be reconnecting.
        await alive.close()
        assert await store.expire_gone_owners("me", now=1_004.0, grace=10**9) == []
        assert await store.expire_gone_owners("me", now=1_004.0, grace=0) == ["a1"]
    finally:
        await alive.close()
        await dead.close()


async def test_an_owner_id_in_use_by_a_live_session_is_refused(
    postgres_url: str, postgres_schema: str
) -> None:
    first = await _session(postgres_url, postgres_schema, "w1")
    try:
        second = await asyncpg.connect(postgres_url)
        try:
            with pytest.raises(StoreError, match="'w1' is in use by another live session"):
                await take_owner_lock(second, postgres_schema, "w1")
            await take_owner_lock(second, f"{postgres_schema}_other", "w1")  # other schema
        finally:
            await second.close()
    finally:
        await first.close()
