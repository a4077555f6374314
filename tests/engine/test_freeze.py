"""A frozen worker (SIGSTOP ... SIGCONT) in each phase of a run never corrupts it.

Real ``workflows worker`` processes on a real PostgreSQL schema. A worker is frozen
inside a step, or while its run waits for a person; another worker takes the run over;
then the frozen one wakes up. Whatever it does next, the run finishes exactly once:
each step's effect committed once, one request, one stop event, the right result.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from _fleet import LEASE, POLL, Worker, fleet, owner_is, says, workflows

from _runs import requests_of
from _wait import until
from workflows.engine import Engine
from workflows.stores import RunRecord


async def _stored(api: Engine, run_id: str) -> RunRecord:
    return await api.store.get_run(run_id)


async def _check_exactly_once(api: Engine, run_id: str, result: str, expected: str) -> None:
    assert result == expected
    record = await _stored(api, run_id)
    assert record.status == "completed"
    state = record.snapshot["state"]
    assert (state["work"], state["ask"], state["finish"]) == (1, 1, 1), state
    stream = await api.store.read_stream(run_id)
    seqs = [entry.seq for entry in stream]
    assert seqs == sorted(set(seqs))
    kinds = [entry.event_type for entry in stream]
    assert kinds.count("workflows.events.InputRequiredEvent") == 1, kinds
    assert kinds.count("workflows.events.StopEvent") == 1, kinds


async def _answer(api: Engine, run_id: str, response: str) -> None:
    (request,) = await requests_of(api, run_id=run_id)
    await api.respond(request.request_id, response)


async def test_frozen_inside_a_step_then_taken_over_parked_and_released(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """The scenario of the fencing defect: F frozen in a step; R takes over, parks the
    run for a person and stops (the run has no owner); F wakes up."""
    async with Engine(postgres_schema_url, workflows(), execute=False) as api:
        with fleet(postgres_schema_url, tmp_path, "F") as workers:
            handle = await api.start("slow_ask", n=1, seconds=2.0)
            run_id = handle.run_id
            await until(lambda: owner_is(api, run_id, "F"), "F to take the run", 30)
            workers["F"].process.send_signal(signal.SIGSTOP)
            workers["R"] = Worker(postgres_schema_url, "R", tmp_path / "R.log")
            await until(lambda: _waiting_for_input(api, run_id), "R to park the run", 25)
            parked = await _stored(api, run_id)
            workers["R"].process.send_signal(signal.SIGTERM)
            assert workers["R"].process.wait(timeout=30) == 0
            assert (await _stored(api, run_id)).owner is None
            workers["F"].process.send_signal(signal.SIGCONT)
            # F's step is long past its end: it tries to commit at once, and its
            # heartbeat fires. Both must leave the parked run as it is.
            await until(
                lambda: says(workers["F"], "lease lost", "commit failed"),
                "F to give the run up",
                30,
            )
            await asyncio.sleep(LEASE)  # room for any late write of F's
            now = await _stored(api, run_id)
            assert (now.status, now.version, now.snapshot) == (
                "waiting",
                parked.version,
                parked.snapshot,
            )
            await _answer(api, run_id, "yes")  # F (the only worker left) continues it
            result = await asyncio.wait_for(handle.result(), 60)
            await _check_exactly_once(api, run_id, result, "1:yes")


async def test_frozen_while_waiting_then_answered_and_finished_elsewhere(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """F holds a run that waits for a person and freezes; the answer arrives; R takes
    the run over and finishes it; F wakes up holding a copy of a finished run."""
    async with Engine(postgres_schema_url, workflows(), execute=False) as api:
        with fleet(postgres_schema_url, tmp_path, "F") as workers:
            handle = await api.start("slow_ask", n=2, seconds=0.0)
            run_id = handle.run_id
            await until(lambda: _waiting_for_input(api, run_id), "F to park the run", 30)
            assert (await _stored(api, run_id)).owner == "F"
            workers["F"].process.send_signal(signal.SIGSTOP)
            await _answer(api, run_id, "later")
            workers["R"] = Worker(postgres_schema_url, "R", tmp_path / "R.log")
            result = await asyncio.wait_for(handle.result(), 60)
            finished = await _stored(api, run_id)
            workers["F"].process.send_signal(signal.SIGCONT)
            await until(lambda: says(workers["F"], "lease lost"), "F to drop its copy", 30)
            await asyncio.sleep(LEASE)
            assert (await _stored(api, run_id)).version == finished.version
            await _check_exactly_once(api, run_id, result, "2:later")


async def test_frozen_after_losing_the_run_then_claims_it_again_fresh(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """F frozen inside a step; R takes over and is killed; F wakes up and is the only
    worker left: it must drop its stale copy and continue from R's commit (a new
    claim), not from its own memory."""
    async with Engine(postgres_schema_url, workflows(), execute=False) as api:
        with fleet(postgres_schema_url, tmp_path, "F") as workers:
            handle = await api.start("slow_ask", n=3, seconds=2.0)
            run_id = handle.run_id
            await until(lambda: owner_is(api, run_id, "F"), "F to take the run", 30)
            workers["F"].process.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            workers["R"] = Worker(postgres_schema_url, "R", tmp_path / "R.log")
            await until(lambda: _waiting_for_input(api, run_id), "R to park the run", 25)
            workers["R"].process.kill()  # dies holding the lease
            workers["F"].process.send_signal(signal.SIGCONT)
            await _answer(api, run_id, "ok")
            result = await asyncio.wait_for(handle.result(), 20)
            await _check_exactly_once(api, run_id, result, "3:ok")
            assert time.monotonic() - frozen_at < 60
            assert POLL < LEASE  # takeover is found by polling once the lease expired


async def _waiting_for_input(api: Engine, run_id: str) -> bool:
    record = await _stored(api, run_id)
    return record.status == "waiting" and bool(await api.inbox(run_id=run_id))
