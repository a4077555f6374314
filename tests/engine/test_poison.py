"""Poison isolation: a run whose stored data cannot be loaded is set aside, never stops
the engine, a worker's polling or a listing, and every other run is served.

The store is poisoned behind its back (``_damage``: SQL on SQLite and PostgreSQL, the
stored text on the memory store), one damaged row of each kind:

- ``torn_snapshot``: a truncated snapshot (status ``running``, as a crash leaves it);
- ``empty_snapshot``: the snapshot ``{}`` (no ``format_version``);
- ``torn_result``: a completed run with a truncated result;
- ``torn_prompt``: a truncated payload of a pending input request;
- ``torn_inbound``: a truncated inbound event;
- ``wrong_step``: an inbound event sent to a step that does not accept it;
- ``unknown_type``: an inbound event of a type the workflow does not know;

beside ``healthy``, a run that only waits for its answer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from _poison_flows import WORKFLOWS

from _damage import TRUNCATED, damage, set_status
from _flows import HumanLoop
from _runs import released, requests_of
from _serve_command import SERVE, serving
from _wait import until
from workflows.engine import Engine
from workflows.errors import ContextSerdeError, CorruptRecordError, WorkflowRuntimeError
from workflows.stores import RunStore, store_from_url

HERE = Path(__file__).resolve().parent
FLOWS = f"{HERE / '_poison_flows.py'}:WORKFLOWS"
TIMEOUT = 30.0

NAMES = (
    "healthy",
    "torn_prompt",
    "torn_result",
    "torn_snapshot",
    "empty_snapshot",
    "torn_inbound",
    "wrong_step",
    "unknown_type",
)
QUARANTINED = {  # the runs set aside, and what their error must say
    "torn_snapshot": "the stored snapshot cannot be decoded: not valid JSON",
    "empty_snapshot": "unsupported snapshot format_version None",
    "torn_inbound": "the stored payload of inbound event",
    "wrong_step": "cannot be delivered: step 'decide' does not accept Nudge",
    "unknown_type": "cannot be delivered: unknown type 'nowhere.Missing'",
}
NUDGE = {"$event": "_poison_flows.Nudge", "data": {"n": 1}}


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL that outlives an engine: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


def engine_for(url: str, **options: Any) -> Engine:
    options.setdefault("idle_release_after", 0)  # paused runs leave memory at once
    return Engine(url, dict(WORKFLOWS), **options)


async def result(engine: Engine, run_id: str) -> Any:
    return await asyncio.wait_for(engine.get(run_id).result(), TIMEOUT)


async def populate(engine: Engine) -> dict[str, str]:
    """One run per name; each waits for its answer, except torn_result, which completes."""
    runs = {name: (await engine.start("approval", n=n)).run_id for n, name in enumerate(NAMES)}
    by_run = {r.run_id: r for r in await requests_of(engine, len(NAMES))}
    await engine.respond(by_run[runs["torn_result"]].request_id, "y")
    assert await result(engine, runs["torn_result"]) == "2:y"
    return runs


async def poison(store: RunStore, runs: dict[str, str]) -> None:
    """Damage one run per kind of damage (see the module docstring)."""
    await damage(store, "wf_runs", "snapshot", TRUNCATED, runs["torn_snapshot"])
    await set_status(store, runs["torn_snapshot"], "running")
    await damage(store, "wf_runs", "snapshot", "{}", runs["empty_snapshot"])
    await set_status(store, runs["empty_snapshot"], "running")
    await damage(store, "wf_runs", "result", '"2:', runs["torn_result"])
    [prompt] = await store.list_requests(run_id=runs["torn_prompt"])
    await damage(store, "wf_requests", "payload", '{"$event": "workflows.ev', prompt.request_id)
    sent = await store.add_inbound(runs["torn_inbound"], {"event": NUDGE, "step": None})
    await damage(store, "wf_inbound", "payload", '{"event": {"$eve', sent.id)
    await store.add_inbound(runs["wrong_step"], {"event": NUDGE, "step": "decide"})
    unknown = {"$event": "nowhere.Missing", "data": {}}
    await store.add_inbound(runs["unknown_type"], {"event": unknown, "step": None})


async def check_set_aside(engine: Engine, runs: dict[str, str]) -> None:
    """Every poisoned run is quarantined and named; its events stay; listings work."""
    store = engine.store
    listed = {r.run_id: r for r in await engine.runs(limit=1000)}
    assert set(runs.values()) <= set(listed)
    for name, cause in QUARANTINED.items():
        record = listed[runs[name]]
        assert record.status == "quarantined", (name, record)
        assert record.error is not None
        assert f"run {runs[name]!r}" in record.error["message"], record.error
        assert cause in record.error["message"], (name, record.error)
    quarantined = await engine.runs(status="quarantined")
    assert {r.run_id for r in quarantined} == {runs[name] for name in QUARANTINED}
    # Events that could not be delivered are still stored, not lost.
    for name in ("wrong_step", "unknown_type"):
        [kept] = await store.list_inbound(runs[name])
        assert listed[runs[name]].error["inbound_id"] == kept.id  # type: ignore[index]
    with pytest.raises(CorruptRecordError, match="inbound event"):
        await store.list_inbound(runs["torn_inbound"])
    # A completed run whose result is damaged stays completed, marked and named.
    done = listed[runs["torn_result"]]
    assert done.status == "completed" and done.result is None
    assert done.corrupt is not None and "result" in done.corrupt
    assert done.error is not None and done.error["type"] == "CorruptRecordError"
    assert runs["torn_result"] in done.error["message"]
    # The questions of set-aside runs left the inbox; a damaged prompt is listed marked.
    inbox = {r.run_id: r for r in await engine.inbox()}
    assert set(inbox) >= {runs["healthy"], runs["torn_prompt"]}
    assert not set(inbox) & {runs[name] for name in QUARANTINED}
    assert inbox[runs["torn_prompt"]].corrupt is not None
    assert "payload" in inbox[runs["torn_prompt"]].corrupt  # type: ignore[operator]
    everything = await store.list_requests(status=None, limit=1000)
    assert {r.run_id for r in everything} >= set(runs.values()) - {runs["torn_result"]}
    # Awaiting a set-aside run says why.
    with pytest.raises(WorkflowRuntimeError, match="does not accept Nudge"):
        await result(engine, runs["wrong_step"])
    with pytest.raises(ContextSerdeError, match="format_version None"):
        await result(engine, runs["empty_snapshot"])
    with pytest.raises(CorruptRecordError, match="snapshot"):
        await result(engine, runs["torn_snapshot"])


async def check_served(engine: Engine, runs: dict[str, str]) -> None:
    """The runs that can go on are answered and complete; a new run starts and completes."""
    inbox = {r.run_id: r for r in await engine.inbox()}
    for name in ("healthy", "torn_prompt"):  # a damaged prompt does not stop its run
        assert await engine.respond(inbox[runs[name]].request_id, "ok")
        assert await result(engine, runs[name]) == f"{NAMES.index(name)}:ok"
    fresh = await engine.start("approval", n=99)
    [request] = await requests_of(engine, 1, run_id=fresh.run_id)
    await engine.respond(request.request_id, "fine")
    assert await result(engine, fresh.run_id) == "99:fine"


async def test_recover_sets_poisoned_runs_aside_and_serves_the_rest(store_url: str) -> None:
    async with engine_for(store_url) as engine:
        runs = await populate(engine)
        await released(engine)
        await poison(engine.store, runs)
        assert await engine.recover() == 0  # every run with work was poisoned
        await check_set_aside(engine, runs)
        await check_served(engine, runs)
        assert engine.failure is None


async def poisoned_store(url: str) -> dict[str, str]:
    """Runs left by an engine (and one created by an API-only engine, never executed),
    then poisoned; returns the run ids by name (``recovered``: the never-executed one)."""
    async with engine_for(url) as engine:
        runs = await populate(engine)
    async with engine_for(url, execute=False) as api:
        runs["recovered"] = (await api.start("approval", n=42)).run_id
    async with store_from_url(url) as store:
        await poison(store, runs)
    return runs


async def test_an_engine_opens_on_a_poisoned_store(durable_url: str) -> None:
    runs = await poisoned_store(durable_url)
    async with engine_for(durable_url) as engine:  # open() recovers: it must not fail
        [request] = await requests_of(engine, 1, run_id=runs["recovered"])
        await engine.respond(request.request_id, "back")
        assert await result(engine, runs["recovered"]) == "42:back"
        await check_set_aside(engine, runs)
        await check_served(engine, runs)
    # Set aside for good: the next start does not try again.
    async with engine_for(durable_url) as engine:
        assert await engine.recover() == 0
        assert len(await engine.runs(status="quarantined")) == len(QUARANTINED)


async def test_a_worker_sets_poison_aside_and_keeps_polling(durable_url: str) -> None:
    async with engine_for(durable_url, owner="w1", poll_interval=0.05, lease_seconds=3) as worker:
        victim = await worker.start("approval", n=1)
        await requests_of(worker, 1, run_id=victim.run_id)
        await released(worker)

        async def lease_given_back() -> bool:
            return (await worker.store.get_run(victim.run_id)).owner is None

        await until(lease_given_back, "the paused run's lease to be given back")
        # Poisoned while the worker runs: found by its poll (no wake-up is sent).
        unknown = {"$event": "nowhere.Missing", "data": {}}
        await worker.store.add_inbound(victim.run_id, {"event": unknown, "step": None})

        async def quarantined() -> Any:
            record = await worker.store.get_run(victim.run_id)
            return record if record.status == "quarantined" else None

        record = await until(quarantined, "the poll to quarantine the run")
        assert "unknown type 'nowhere.Missing'" in record.error["message"]
        assert (record.owner, record.lease_expires_at) == (None, None)
        # The loop goes on: a new run is claimed, executed and finished.
        fresh = await worker.start("approval", n=2)
        [request] = await requests_of(worker, 1, run_id=fresh.run_id)
        await worker.respond(request.request_id, "on")
        assert await result(worker, fresh.run_id) == "2:on"
        assert worker.failure is None and worker.coordinator.last_turn is not None


async def test_a_run_another_worker_holds_is_not_set_aside(durable_url: str) -> None:
    """Quarantine is fenced: a worker does not touch a run another live worker leases,
    even if its stored data looks poisoned; once free, the run is set aside."""
    options: dict[str, Any] = {"poll_interval": 0.05, "lease_seconds": 3}
    async with engine_for(durable_url, owner="a", idle_release_after=None, **options) as a:
        held = await a.start("approval", n=1)
        await requests_of(a, 1, run_id=held.run_id)
        unknown = {"$event": "nowhere.Missing", "data": {}}
        await a.store.add_inbound(held.run_id, {"event": unknown, "step": None})
        async with engine_for(durable_url, owner="b", **options) as b:
            turn = b.coordinator.last_turn or 0.0

            async def polled_thrice() -> bool:
                nonlocal turn
                last = b.coordinator.last_turn or 0.0
                if last > turn:
                    turn, polled_thrice.count = last, polled_thrice.count + 1  # type: ignore[attr-defined]
                return polled_thrice.count >= 3  # type: ignore[attr-defined,no-any-return]

            polled_thrice.count = 0  # type: ignore[attr-defined]
            await until(polled_thrice, "three polls of worker b")
            record = await b.store.get_run(held.run_id)
            assert (record.status, record.owner) == ("waiting", "a")
            await a.close()  # gives its lease back: now b may take the run

            async def quarantined() -> bool:
                return (await b.store.get_run(held.run_id)).status == "quarantined"

            await until(quarantined, "worker b to quarantine the freed run")


async def test_a_damaged_run_keeps_no_other_result_from_settling(durable_url: str) -> None:
    """An API-only engine settles the results of runs executed elsewhere by polling the
    store: a run whose row cannot be decoded answers its awaiters with that error and
    does not stop the others from being settled (here nothing else wakes it up: the
    executing engine has no owner, so it sends no wake-ups)."""
    async with engine_for(durable_url, execute=False, poll_interval=0.05) as api:
        bad = await api.start("approval", n=1)
        good = await api.start("approval", n=2)
        await damage(api.store, "wf_runs", "snapshot", TRUNCATED, bad.run_id)
        with pytest.raises(CorruptRecordError, match="snapshot"):
            await result(api, bad.run_id)
        awaited = asyncio.ensure_future(api.get(good.run_id).result())
        async with engine_for(durable_url) as executor:
            [request] = await requests_of(executor, 1, run_id=good.run_id)
            await executor.respond(request.request_id, "ok")
            assert await asyncio.wait_for(awaited, TIMEOUT) == "2:ok"
            assert (await executor.runs(status="quarantined"))[0].run_id == bad.run_id


async def test_outside_writes_reach_the_runs_beside_a_damaged_one(tmp_path: Path) -> None:
    """A SQLite engine without an owner (``workflows serve``) takes up what other
    processes write; a run damaged meanwhile is set aside, the others get their answers."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    async with engine_for(url) as server:
        damaged = await server.start("approval", n=1)
        healthy = await server.start("approval", n=2)
        requests = {r.run_id: r for r in await requests_of(server, 2)}
        await released(server)
        async with store_from_url(url) as other:  # another process: its own connection
            await damage(other, "wf_runs", "snapshot", TRUNCATED, damaged.run_id)
            await set_status(other, damaged.run_id, "running")

            async def set_aside() -> bool:
                return (await other.get_run(healthy.run_id)).status == "waiting" and bool(
                    await server.runs(status="quarantined")
                )

            await until(set_aside, "the damaged run to be quarantined")
            await other.answer_request(requests[healthy.run_id].request_id, {"response": "ok"})
            assert await result(server, healthy.run_id) == "2:ok"
        [quarantined] = await server.runs(status="quarantined")
        assert quarantined.run_id == damaged.run_id


# -- the server ---------------------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(store_url) -> base URL``: ``workflows serve`` in a subprocess
    (``tests/_serve_command.py``), once it listens; stopped with SIGINT after the test."""
    env = {**os.environ, "WORKFLOWS_TOKEN": ""}
    with ExitStack() as servers:

        def start(url: str) -> str:
            command = [*SERVE, FLOWS, "--store", url]
            return servers.enter_context(
                serving(command, cwd=tmp_path, env=env, start_timeout=TIMEOUT)
            )

        yield start


def workflows_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflows.cli", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "WORKFLOWS_TOKEN": ""},
    )


async def test_workflows_serve_starts_on_a_poisoned_store(durable_url: str, serve: Any) -> None:
    runs = await poisoned_store(durable_url)
    base = serve(durable_url)
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http:
        listed = await http.get("/runs", params={"limit": 1000})
        assert listed.status_code == 200, listed.text
        by_id = {run["run_id"]: run for run in listed.json()["runs"]}
        assert set(runs.values()) <= set(by_id)
        for name, cause in QUARANTINED.items():
            run = by_id[runs[name]]
            assert run["status"] == "quarantined"
            assert runs[name] in run["error"]["message"] and cause in run["error"]["message"]
        assert by_id[runs["torn_result"]]["error"]["type"] == "CorruptRecordError"
        only = await http.get("/runs", params={"status": "quarantined"})
        assert only.status_code == 200, only.text
        assert {r["run_id"] for r in only.json()["runs"]} == {runs[n] for n in QUARANTINED}
        for status in ("pending", "all"):
            inbox = await http.get("/requests", params={"status": status, "limit": 1000})
            assert inbox.status_code == 200, inbox.text
        pending_now = {r["run_id"]: r for r in inbox.json()["requests"] if r["status"] == "pending"}
        for name in ("healthy", "torn_prompt", "recovered"):
            request_id = pending_now[runs[name]]["request_id"]
            answered = await http.post(f"/requests/{request_id}/response", json={"response": "ok"})
            assert answered.status_code == 200, answered.text

        async def completed() -> bool:
            records = (await http.get("/runs", params={"status": "completed"})).json()["runs"]
            return {runs[n] for n in ("healthy", "torn_prompt", "recovered")} <= {
                r["run_id"] for r in records
            }

        await until(completed, "the answered runs to complete")
    # `workflows runs --status quarantined` shows the set-aside runs, from the store
    # and through the server.
    for where in (("--store", durable_url), ("--url", base)):
        shown = workflows_cli("runs", *where, "--status", "quarantined", "--json")
        assert shown.returncode == 0, shown.stderr
        assert {runs[name] for name in QUARANTINED} <= {
            line.split('"')[3] for line in shown.stdout.splitlines() if '"run_id"' in line
        }
        table = workflows_cli("runs", *where, "--status", "quarantined")
        assert table.returncode == 0, table.stderr
        assert all(runs[name] in table.stdout for name in QUARANTINED)


async def test_a_cancel_of_a_run_whose_snapshot_is_damaged_sets_it_aside(sqlite_url: str) -> None:
    """cancel() reads the run first: a damaged snapshot must not raise to the caller,
    the run is quarantined (it cannot be executed to a cancel)."""
    async with Engine(sqlite_url, {"waits": HumanLoop()}, idle_release_after=0) as engine:
        handle = await engine.start("waits")
        await requests_of(engine, run_id=handle.run_id)
        await released(engine, handle.run_id)  # idle_release_after=0
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE wf_runs SET snapshot = '{\"trunc' WHERE run_id = ?", (handle.run_id,))
    async with Engine(sqlite_url, {"waits": HumanLoop()}) as engine:
        await engine.cancel(handle.run_id)  # no CorruptRecordError to the caller
        record = (await engine.runs(status="quarantined"))[0]
        assert record.run_id == handle.run_id
        assert "snapshot" in record.error["message"]
