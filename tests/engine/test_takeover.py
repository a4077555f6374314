"""Takeover after a crash without waiting for the lease (PostgreSQL).

Every worker holds a liveness lock on its id in its database session; when a worker is
killed with ``kill -9`` its session ends, and the others take its runs at once instead
of after the lease (15 s here). Real ``workflows worker`` processes, a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from _fleet import Worker, fleet, says, workflows

from _runs import requests_of
from _wait import until
from workflows.engine import Engine

LEASE = 15.0
RUNS = 30


async def _answer_all(api: Engine, runs: int) -> None:
    answered: set[str] = set()

    async def all_answered() -> bool:
        for request in await api.inbox(limit=1000):
            if request.request_id not in answered:
                n = request.payload["data"]["prefix"].split("#")[1].rstrip("?")
                await api.respond(request.request_id, f"ok{n}")
                answered.add(request.request_id)
        return len(answered) == runs

    await until(all_answered, "every run to be answered", 15)


async def test_runs_of_a_killed_worker_move_well_before_its_lease_ends(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    async with Engine(postgres_schema_url, workflows(), execute=False, poll_interval=0.2) as api:
        with fleet(postgres_schema_url, tmp_path, "victim", lease=LEASE) as workers:
            handles = [await api.start("fleet", n=i) for i in range(RUNS)]
            await requests_of(api, RUNS, seconds=20, limit=1000)  # the victim took them all
            for rescuer in ("rescuer-1", "rescuer-2"):  # three workers in all
                workers[rescuer] = Worker(
                    postgres_schema_url, rescuer, tmp_path / f"{rescuer}.log", lease=LEASE
                )
            for rescuer in ("rescuer-1", "rescuer-2"):  # up, their engines open
                await until(lambda: says(workers[rescuer], "executing"), f"{rescuer} to start")
            workers["victim"].process.kill()
            killed = time.monotonic()

            async def all_moved() -> bool:
                records = [await api.store.get_run(h.run_id) for h in handles]
                return all(r.owner in ("rescuer-1", "rescuer-2") for r in records)

            await until(all_moved, "the rescuers to take every run", 15)
            moved = time.monotonic() - killed
            await _answer_all(api, RUNS)
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in handles)), 60
            )
            took = time.monotonic() - killed
        assert results == [f"{i}:ok{i}" for i in range(RUNS)]
        for handle in handles:
            record = await api.store.get_run(handle.run_id)
            assert record.snapshot["state"] == {"prepare": 1, "ask": 1, "finish": 1}
    print(
        f"{RUNS} runs of a worker killed among 3 taken over {moved:.2f} s after the kill, "
        f"answered and done {took:.2f} s after it"
    )
    assert moved < LEASE / 3, f"took {moved:.1f} s: the lease ({LEASE} s) was waited for"


async def test_a_restarted_single_worker_takes_its_runs_back_at_once(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    async with Engine(postgres_schema_url, workflows(), execute=False, poll_interval=0.2) as api:
        with fleet(postgres_schema_url, tmp_path, "first-life", lease=LEASE) as workers:
            handles = [await api.start("fleet", n=i) for i in range(RUNS)]
            await requests_of(api, RUNS, seconds=60, limit=1000)  # the worker took them all
            workers["first-life"].process.kill()
            held = [await api.store.get_run(h.run_id) for h in handles]
            leases_end = min(record.lease_expires_at or 0.0 for record in held)
            await _answer_all(api, RUNS)  # answered while no worker runs
            restarted = time.monotonic()
            workers["second-life"] = Worker(
                postgres_schema_url, "second-life", tmp_path / "second.log", lease=LEASE
            )
            results = await asyncio.wait_for(
                asyncio.gather(*(handle.result() for handle in handles)), 60
            )
            took = time.monotonic() - restarted
            done_at = time.time()
        assert results == [f"{i}:ok{i}" for i in range(RUNS)]
    print(f"restarted worker finished {RUNS} answered runs {took:.2f} s after its start")
    assert done_at < leases_end, "the dead worker's leases were waited for"
