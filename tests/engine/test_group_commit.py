"""Group commit: the writer writes the commits of many runs in one store call.

The runs whose boundaries arrive while a write is in progress are written together
(``store.commit_many``, one transaction); a commit the store refuses (fencing) fails
that run alone: it is dropped from memory, the others of the batch are committed,
published and finish.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from _flows import WhoAsks
from _runs import released, requests_of
from _wait import TIMEOUT
from workflows import Workflow, step
from workflows.engine import Engine
from workflows.events import Event, StartEvent, StopEvent
from workflows.stores import Commit


class Hop(Event):
    n: int


class Chain(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Hop:
        return Hop(n=ev.n)

    @step
    async def hop(self, ev: Hop) -> StopEvent:
        return StopEvent(result=ev.n * 2)


def _record_batches(store: Any) -> list[list[Commit]]:
    """Wrap the store instance's ``commit_many``; returns the list of batches it got."""
    batches: list[list[Commit]] = []
    original = store.commit_many

    async def commit_many(commits: Any) -> Any:
        batches.append(list(commits))
        return await original(commits)

    store.commit_many = commit_many
    return batches


async def test_runs_finishing_together_are_committed_together(store_url: str) -> None:
    async with Engine(store_url, {"chain": Chain()}, idle_release_after=None) as engine:
        batches = _record_batches(engine.store)
        handles = await asyncio.gather(*(engine.start("chain", n=n) for n in range(40)))
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        assert results == [n * 2 for n in range(40)]
        for handle in handles:
            record = await engine.store.get_run(handle.run_id)
            assert (record.status, record.result) == ("completed", record.result)
            stream = await engine.store.read_stream(handle.run_id)
            assert [e.seq for e in stream] == list(range(1, len(stream) + 1))
        assert batches, "no batch was written with commit_many"
        assert max(len(batch) for batch in batches) > 1
        for batch in batches:  # one commit per run per batch
            assert len({c.run_id for c in batch}) == len(batch)


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_a_fenced_commit_fails_its_run_only(store_url: str) -> None:
    """Runs held by a worker are answered while its writer is busy, so their commits
    go in one batch; one of the runs was claimed meanwhile by another worker (its
    version bumped). That commit is refused: the run is dropped here, untouched in the
    store, and every other run of the batch is committed and finishes."""
    workflows = {"ask": WhoAsks()}
    async with Engine(
        store_url, workflows, owner="me", lease_seconds=3600, idle_release_after=None
    ) as engine:
        handles = [await engine.start("ask", who=f"u{i}") for i in range(6)]
        requests = await requests_of(engine, 6, limit=100)
        by_run = {r.run_id: r for r in requests}
        first, stolen, *rest = (by_run[h.run_id] for h in handles)
        thief = await engine.store.claim_run(
            stolen.run_id, "thief", 30, now=time.time() + 7200
        )  # as if the lease had run out and another worker took the run

        # Hold the writer on its next write, so the other answers pile up behind it.
        held, gate = asyncio.Event(), asyncio.Event()
        original_commit = engine.store.commit

        async def held_commit(commit: Commit) -> int:
            held.set()
            await gate.wait()
            return await original_commit(commit)

        engine.store.commit = held_commit  # type: ignore[method-assign]
        batches = _record_batches(engine.store)
        await engine.respond(first.request_id, "yes")
        await asyncio.wait_for(held.wait(), TIMEOUT)  # the writer is inside the first commit
        for request in (stolen, *rest):
            await engine.respond(request.request_id, "yes")
        gate.set()
        for handle in handles:
            if handle.run_id != stolen.run_id:
                assert await asyncio.wait_for(handle.result(), 30) == {
                    "who": f"u{handles.index(handle)}",
                    "said": "yes",
                }
        await engine.writer.flush()

        [batch] = [b for b in batches if any(c.run_id == stolen.run_id for c in b)]
        assert len(batch) == 6 - 1  # every answered run but the first, in one batch
        assert stolen.run_id not in engine.loaded  # fenced off: dropped here
        stored = await engine.store.get_run(stolen.run_id)
        assert (stored.version, stored.owner, stored.status) == (thief.version, "thief", "waiting")
        assert [e.seq for e in await engine.store.read_stream(stolen.run_id)] == [1]
        for handle in handles:
            if handle.run_id != stolen.run_id:
                record = await engine.store.get_run(handle.run_id)
                assert record.status == "completed"


async def test_respond_many_answers_runs_in_memory_and_released(store_url: str) -> None:
    from workflows.errors import InputRequestNotFoundError, WorkflowError

    async with Engine(store_url, {"ask": WhoAsks()}, idle_release_after=0) as engine:
        handles = [await engine.start("ask", who=f"u{i}") for i in range(30)]
        requests = await requests_of(engine, 30, limit=100)
        await released(engine)  # idle release (0 s) drops the paused runs from memory
        by_run = {r.run_id: r for r in requests}
        ordered = [by_run[h.run_id] for h in handles]
        answers: list[Any] = [(r.request_id, "yes") for r in ordered]
        answers.insert(3, ("nope", "yes"))
        answers.append((ordered[0].request_id, "yes"))  # the same answer again: a no-op
        answers.append((ordered[1].request_id, {"response": 1, "unexpected": object()}))
        outcomes = await engine.respond_many(answers)
        assert outcomes[:3] == [True] * 3 and outcomes[4:31] == [True] * 27
        assert isinstance(outcomes[3], InputRequestNotFoundError)
        assert outcomes[31] is False
        assert isinstance(outcomes[32], WorkflowError)  # another answer, not JSON-safe
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        assert results == [{"who": f"u{i}", "said": "yes"} for i in range(30)]
        assert await engine.inbox() == []
        assert await engine.respond_many([]) == []
