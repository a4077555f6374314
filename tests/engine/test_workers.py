"""Several worker processes on one PostgreSQL database: failover, fencing, claim races.

Real processes (``workflows worker``), a real PostgreSQL schema per test, an API-only
engine in the test process that starts runs and answers them as a web app would.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from _fleet import (
    LEASE,
    POLL,
    Worker,
    fleet,
    owned_by,
    owner_is,
    says,
    workflows,
)

from _runs import requests_of
from _wait import until
from workflows.engine import Engine
from workflows.errors import StaleRunError
from workflows.stores import RunRecord, open_store


async def test_three_workers_lose_one_and_every_run_finishes_once(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    runs = 300
    api = Engine(postgres_schema_url, workflows(), execute=False, poll_interval=POLL)
    async with api:
        with fleet(postgres_schema_url, tmp_path, "w1", "w2", "w3") as workers:
            handles = [await api.start("fleet", n=i) for i in range(runs)]
            # Let the fleet take the runs up, then kill one worker in the middle of it.
            await requests_of(api, runs // 3, seconds=60, limit=runs // 3)
            # The victim is the busiest worker: its runs must move.
            held = {owner: await owned_by(api, owner) for owner in ("w1", "w2", "w3")}
            victim = max(held, key=lambda owner: len(held[owner]))
            owned_by_victim = held[victim]
            assert owned_by_victim
            workers[victim].process.kill()
            killed_at = time.monotonic()
            workers["w4"] = Worker(postgres_schema_url, "w4", tmp_path / "w4.log")
            answered: set[str] = set()

            async def answer_all() -> bool:
                for request in await api.inbox(limit=1000):
                    if request.request_id not in answered:
                        n = request.payload["data"]["prefix"].split("#")[1].rstrip("?")
                        await api.respond(request.request_id, f"ok{n}", idempotency_key="k")
                        answered.add(request.request_id)
                return len(answered) == runs

            await until(answer_all, "every run to ask and be answered", 120)
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in handles)), 120
            )
            takeover = time.monotonic() - killed_at
        assert results == [f"{i}:ok{i}" for i in range(runs)]
        for record in await api.runs(limit=runs + 1):
            assert record.status == "completed"
            state = record.snapshot["state"]
            # Each step's effect committed exactly once, whoever executed it.
            assert (state["prepare"], state["ask"], state["finish"]) == (1, 1, 1), state
            stream = [entry.event_type for entry in await api.store.read_stream(record.run_id)]
            assert stream.count("workflows.events.StopEvent") == 1
            assert stream.count("workflows.events.InputRequiredEvent") == 1
        assert await api.inbox() == []
    print(
        f"{victim} owned {len(owned_by_victim)} runs when killed; all done {takeover:.1f} s later"
    )


async def test_a_frozen_worker_cannot_commit_after_losing_its_lease(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    async with Engine(postgres_schema_url, workflows(), execute=False) as api:
        with fleet(postgres_schema_url, tmp_path, "frozen") as workers:
            handle = await api.start("slow", seconds=4.0)
            await until(lambda: owner_is(api, handle.run_id, "frozen"), "frozen to own it", 30)
            workers["frozen"].process.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            workers["rescuer"] = Worker(postgres_schema_url, "rescuer", tmp_path / "r.log")
            # The lease runs out; the rescuer takes the run over and starts the step again.
            await until(lambda: owner_is(api, handle.run_id, "rescuer"), "the takeover", 30)
            # Documented: takeover within lease + poll interval (docs/deployment.md), plus
            # the rescuer's start-up and room for a slow shared machine.
            assert time.monotonic() - frozen_at < LEASE + POLL + 10
            workers["frozen"].process.send_signal(signal.SIGCONT)
            # The frozen worker's step is already past its deadline: it tries to commit
            # at once, while the rescuer is still in its own 4 s step. It must be refused.
            rescuer_pid = workers["rescuer"].process.pid
            assert await asyncio.wait_for(handle.result(), 60) == f"slept 4.0 in {rescuer_pid}"
            record = await api.store.get_run(handle.run_id)
            assert record.snapshot["state"]["work"] == 1
            stream = await api.store.read_stream(handle.run_id)
            assert [entry.event_type for entry in stream] == ["workflows.events.StopEvent"]
            # Refused at its commit, or stopped by its heartbeat first: never committed.
            await until(
                lambda: says(workers["frozen"], "commit failed", "lease lost"),
                "the frozen worker to give the run up",
                30,
            )


async def test_two_claims_on_one_run_exactly_one_wins(postgres_schema_url: str) -> None:
    first = await open_store(postgres_schema_url)
    second = await open_store(postgres_schema_url)
    try:
        for i in range(50):
            run_id = f"race-{i}"
            await first.create_run(RunRecord.new(run_id, "slow", {}))
            outcomes = await asyncio.gather(
                first.claim_run(run_id, "x", 30),
                second.claim_run(run_id, "y", 30),
                return_exceptions=True,
            )
            won = [o for o in outcomes if isinstance(o, RunRecord)]
            lost = [o for o in outcomes if isinstance(o, StaleRunError)]
            assert len(won) == 1 and len(lost) == 1, outcomes
            assert (await first.get_run(run_id)).owner == won[0].owner
    finally:
        await first.close()
        await second.close()


async def test_a_cancel_from_an_api_process_reaches_the_worker_that_runs_it(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    async with Engine(postgres_schema_url, workflows(), execute=False, poll_interval=POLL) as api:
        with fleet(postgres_schema_url, tmp_path, "w1"):
            busy = await api.start("slow", seconds=60.0)
            waiting = await api.start("fleet", n=1)
            await until(lambda: owner_is(api, busy.run_id, "w1"), "w1 to take the run", 30)
            await requests_of(api, 1, limit=1)  # the other run asks
            for handle in (busy, waiting):
                started = time.monotonic()
                await handle.cancel_run(timeout=20)
                assert await handle.status() == "cancelled"
                assert time.monotonic() - started < 10
