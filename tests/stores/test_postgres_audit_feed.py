"""The audit feed on PostgreSQL never skips an entry whose transaction commits late.

Audit ids are allocated when a row is inserted, but transactions commit in any order:
a reader must not return id ``n + 1`` while id ``n`` is still in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from _wait import until
from workflows.stores import Commit, InputRequest, PostgresStore, RunRecord


@pytest.fixture
async def store(postgres_url: str, postgres_schema: str) -> AsyncIterator[PostgresStore]:
    async with PostgresStore(postgres_url, schema=postgres_schema) as opened:
        yield opened


async def test_a_reader_waits_for_an_entry_still_in_flight(
    store: PostgresStore, postgres_url: str, postgres_schema: str
) -> None:
    await store.create_run(RunRecord.new("run", "flow", {}))
    ask = InputRequest.new("q", "run", "flow", "Ask", {}, candidate_groups=["fin"])
    await store.commit(Commit("run", 0, {}, "waiting", new_requests=[ask]))
    [created] = await store.audit_after(0)
    slow = await asyncpg.connect(postgres_url, server_settings={"search_path": postgres_schema})
    try:
        writing = slow.transaction()
        await writing.start()
        # A writer that took its id first and commits last (as a slow commit would).
        early = await slow.fetchval(
            "INSERT INTO wf_request_audit (request_id, run_id, workflow, at, action, actor, "
            "detail) VALUES ('q', 'run', 'flow', 1, 'claimed', 'slow', '{}') RETURNING id"
        )
        await store.set_assignee("q", "ada", actor="ada", action="assigned")  # commits now
        reader = asyncio.ensure_future(store.audit_after(created.id))

        async def reader_waits() -> bool:
            return bool(
                await slow.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND objsubid = 1 AND objid::bigint = "
                    "(hashtext('durable-workflows-audit:' || current_schema()) & 4294967295)"
                )
            )

        await until(reader_waits, "the reader to wait for the writer in flight")
        assert not reader.done()
        await writing.commit()
        feed = await asyncio.wait_for(reader, 30)
    finally:
        await slow.close()
    assert [(e.id, e.actor) for e in feed] == [(early, "slow"), (early + 1, "ada")]
