"""Runs woken together are loaded together: one ``store.load_many`` per batch, and the
result of a run that finished here is settled from its final commit, without reading
the run back.

Each test pauses runs in one engine and answers them in a NEW engine (so every answered
run is loaded from the store), on a SQLite file and a PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from _damage import TRUNCATED, damage
from _flows import WhoAsks
from _runs import requests_of
from _wait import until
from workflows.engine import Engine
from workflows.errors import CorruptRecordError, WorkflowRuntimeError

TIMEOUT = 60.0


WORKFLOWS = {"ask": WhoAsks(timeout=None)}


async def finished(engine: Engine, run_id: str) -> bool:
    return (await engine.store.get_run(run_id)).is_finished


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL that outlives an engine: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


async def pause(url: str, count: int) -> list[str]:
    """Start ``count`` runs that each wait for an answer; returns their ids."""
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        run_ids = [(await engine.start("ask", who=f"u{i}")).run_id for i in range(count)]
        assert len(await requests_of(engine, count, limit=count + 1)) == count
    return run_ids


def count_calls(store: Any, name: str) -> list[Any]:
    """Wrap the store instance's method ``name``; returns the list of its arguments."""
    calls: list[Any] = []
    original = getattr(store, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else kwargs)
        return await original(*args, **kwargs)

    setattr(store, name, wrapper)
    return calls


async def test_runs_answered_at_once_are_loaded_in_one_read_and_settled_from_commits(
    durable_url: str,
) -> None:
    run_ids = await pause(durable_url, 120)
    async with Engine(durable_url, WORKFLOWS, idle_release_after=0) as engine:
        requests = await engine.inbox(limit=1000)
        loads = count_calls(engine.store, "load_many")
        reads = count_calls(engine.store, "get_run")
        outcomes = await engine.respond_many([(r.request_id, "yes") for r in requests])
        assert outcomes == [True] * 120
        results = await asyncio.wait_for(
            asyncio.gather(*(engine.get(run_id) for run_id in run_ids)), TIMEOUT
        )
        assert results == [{"who": f"u{i}", "said": "yes"} for i in range(120)]
        assert sorted(run_id for batch in loads for run_id in batch) == sorted(run_ids)
        assert len(loads) == 1  # every run answered at once: one read for all of them
        assert reads == []  # results come from the final commits, not from the store
        # Awaited again, long after the runs left memory: still no read.
        assert await engine.get(run_ids[7]) == {"who": "u7", "said": "yes"}
        assert reads == []


async def test_a_lone_answer_loads_its_run_alone_at_once(durable_url: str) -> None:
    [run_id] = await pause(durable_url, 1)
    async with Engine(durable_url, WORKFLOWS, idle_release_after=0) as engine:
        [request] = await engine.inbox()
        loads = count_calls(engine.store, "load_many")
        assert await engine.respond(request.request_id, "solo") is True
        assert loads == [[run_id]]
        assert await asyncio.wait_for(engine.get(run_id), TIMEOUT) == {"who": "u0", "said": "solo"}


async def test_a_failure_settled_from_the_commit_is_the_failure_the_store_tells(
    durable_url: str,
) -> None:
    run_ids = await pause(durable_url, 3)
    async with Engine(durable_url, WORKFLOWS, idle_release_after=0) as engine:
        requests = {r.run_id: r for r in await engine.inbox()}
        answers = [(requests[run_id].request_id, "boom") for run_id in run_ids]
        assert await engine.respond_many(answers) == [True] * 3
        for run_id in run_ids:
            await until(lambda: finished(engine, run_id), f"run {run_id} to finish")
        with pytest.raises(WorkflowRuntimeError) as here:
            await engine.get(run_ids[0])
    async with Engine(durable_url, WORKFLOWS) as fresh:
        with pytest.raises(WorkflowRuntimeError) as stored:
            await fresh.get(run_ids[0])  # read from the store
    assert type(here.value) is type(stored.value)
    assert str(here.value) == str(stored.value)
    assert "ValueError: refused by u0" in str(here.value)


async def test_a_damaged_run_in_a_batch_is_set_aside_and_the_others_finish(
    durable_url: str,
) -> None:
    run_ids = await pause(durable_url, 8)
    async with Engine(durable_url, WORKFLOWS, idle_release_after=0) as engine:
        requests = {r.run_id: r for r in await engine.inbox()}
        await damage(engine.store, "wf_runs", "snapshot", TRUNCATED, run_ids[3])
        outcomes = await engine.respond_many(
            [(requests[run_id].request_id, "yes") for run_id in run_ids]
        )
        assert outcomes == [True] * 8  # stored: the answer is durable either way
        for index, run_id in enumerate(run_ids):
            if index == 3:
                with pytest.raises(CorruptRecordError, match="snapshot"):
                    await asyncio.wait_for(engine.get(run_id), TIMEOUT)
            else:
                result = await asyncio.wait_for(engine.get(run_id), TIMEOUT)
                assert result == {"who": f"u{index}", "said": "yes"}
        [quarantined] = await engine.runs(status="quarantined")
        assert quarantined.run_id == run_ids[3]
