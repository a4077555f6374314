"""Fencing, deterministically: a worker that lost its lease commits nothing more.

Two engines share one SQLite file whose stores read an injected clock, so "the lease
ran out" is a step of the test, not a sleep. Worker F is stuck inside a step (as if
frozen with SIGSTOP); worker R takes the run over, parks it waiting for a person and
stops, so the run has no owner. Then F wakes up, in either order: its heartbeat first,
or its stale step's commit first. Neither may touch the stored run; the run then
finishes exactly once (see ``docs/durability.md``, "Fencing").
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from _wait import until
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.stores import SqliteStore

LEASE = 30.0  # seconds of the injected clock; no real renewal happens during a test


class Prepared(Event):
    n: int


class Gated(Workflow):
    """prepare (blocks on ``gate`` when given one) -> ask a person -> stop."""

    def __init__(self, gate: asyncio.Event | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.prepared = 0

    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> Prepared:
        self.prepared += 1
        if self.gate is not None:
            await self.gate.wait()
        async with ctx.store.edit_state() as state:
            state["prepared"] = state.get("prepared", 0) + 1
        return Prepared(n=ev.n)

    @step
    async def ask(self, ctx: Context, ev: Prepared) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix=f"#{ev.n}?")
        )
        return StopEvent(result=f"{ev.n}:{reply.response}")


class Clock:
    """The stores' wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _engine(path: Path, clock: Clock, owner: str, workflow: Workflow) -> Engine:
    return Engine(
        SqliteStore(path, clock=clock),
        {"gated": workflow},
        owner=owner,
        lease_seconds=LEASE,
        poll_interval=3600,
        idle_release_after=None,
    )


@pytest.mark.parametrize("wakes_first", ["heartbeat", "stale commit"])
async def test_a_worker_that_lost_its_lease_commits_nothing(
    tmp_path: Path, wakes_first: str
) -> None:
    path = tmp_path / "runs.db"
    clock = Clock()
    gate = asyncio.Event()
    frozen_wf, rescuer_wf = Gated(gate=gate), Gated()
    frozen = _engine(path, clock, "F", frozen_wf)
    await frozen.open()
    try:
        handle = await frozen.start("gated", n=7)
        run_id = handle.run_id
        await until(lambda: frozen_wf.prepared == 1, "F to enter its step")
        before = await frozen.store.get_run(run_id)
        assert (before.owner, before.status) == ("F", "running")

        # F's lease runs out; R takes the run over, parks it for a person, and stops.
        clock.now += LEASE + 1
        async with _engine(path, clock, "R", rescuer_wf) as rescuer:
            await until(lambda: _has_request(rescuer, run_id), "R to park the run")
            await rescuer.writer.flush()
        parked = await frozen.store.get_run(run_id)
        assert (parked.owner, parked.status) == (None, "waiting")
        assert parked.version > before.version
        stream_before = [e.seq for e in await frozen.store.read_stream(run_id)]

        # F wakes up.
        if wakes_first == "heartbeat":
            await frozen.coordinator.leases.renew_all()
            assert run_id not in frozen.loaded  # dropped, not re-taken
            gate.set()
        else:
            gate.set()
            await until(lambda: run_id not in frozen.loaded, "F to drop the run")
        await frozen.writer.flush()
        after = await frozen.store.get_run(run_id)
        assert (after.owner, after.status, after.version) == (None, "waiting", parked.version)
        assert after.snapshot == parked.snapshot
        assert [e.seq for e in await frozen.store.read_stream(run_id)] == stream_before
        assert frozen.coordinator.leases.lost + (wakes_first == "stale commit") >= 1

        # The answer makes F claim the run afresh (a new epoch, from the stored state).
        (request,) = await frozen.inbox(run_id=run_id)
        assert await frozen.respond(request.request_id, "yes")
        assert await asyncio.wait_for(handle.result(), 20) == "7:yes"
        done = await frozen.store.get_run(run_id)
        assert done.status == "completed"
        assert done.snapshot["state"]["prepared"] == 1  # R's commit only; F's was fenced
        seqs = [e.seq for e in await frozen.store.read_stream(run_id)]
        assert seqs == sorted(set(seqs))
        assert rescuer_wf.prepared == 1
    finally:
        gate.set()
        await frozen.close()


async def test_a_heartbeat_keeps_a_lease_nobody_took(tmp_path: Path) -> None:
    """A lease that ran out while nobody claimed the run is simply renewed: the worker
    was the only one executing it, so it goes on and its commits are accepted."""
    path = tmp_path / "runs.db"
    clock = Clock()
    gate = asyncio.Event()
    wf = Gated(gate=gate)
    async with _engine(path, clock, "F", wf) as engine:
        handle = await engine.start("gated", n=1)
        await until(lambda: wf.prepared == 1, "the step to start")
        clock.now += LEASE * 3
        await engine.coordinator.leases.renew_all()
        assert handle.run_id in engine.loaded
        gate.set()
        await until(lambda: _has_request(engine, handle.run_id), "the request")
        (request,) = await engine.inbox(run_id=handle.run_id)
        await engine.respond(request.request_id, "ok")
        assert await asyncio.wait_for(handle.result(), 20) == "1:ok"
        assert engine.coordinator.leases.lost == 0


async def test_a_stopping_engine_claims_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    clock = Clock()
    api = Engine(SqliteStore(path, clock=clock), {"gated": Gated()}, execute=False)
    worker = _engine(path, clock, "W", Gated())
    async with api:
        await worker.open()
        await worker.coordinator.halt(5)  # what close() does first
        handle = await api.start("gated", n=3)
        worker.coordinator.pick(handle.run_id)
        assert await worker.ensure_loaded(handle.run_id) is None
        await asyncio.sleep(0.1)
        assert (await api.store.get_run(handle.run_id)).owner is None
        await worker.close()
        assert worker.health().status == "failed"  # closed: not serving


async def _has_request(engine: Engine, run_id: str) -> bool:
    return bool(await engine.store.list_requests(run_id=run_id))


async def _true(value: bool) -> bool:
    return value
