"""A committed step writes the state keys it changed, not the whole state.

The durable engine keeps a run's state one row per top-level key in the store
(``StateChanges``): a step changing one key of a large state commits that key alone.
Every load of the run (after an idle release, in a new engine) rebuilds exactly the
snapshot ``ctx.to_dict()`` gives, so runs continue where they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from _runs import released, requests_of
from workflows import Context, Workflow, step
from workflows._snapshot import snapshot_from_dict
from workflows.context.serializers import PickleSerializer
from workflows.engine import Engine
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)
from workflows.stores import Commit, SqliteStore, StateChanges

RESULT_TIMEOUT = 20
KEYS = 300


class Tick(Event):
    i: int


class Ledger(Workflow):
    """Fills a large state, changes one key per step, waits for a person, then deletes
    one key, moves another (deleted and written again) and changes one more."""

    @step
    async def fill(self, ctx: Context, ev: StartEvent) -> Tick:
        async with ctx.store.edit_state() as state:
            for k in range(ev.n_keys):
                state[f"k{k}"] = {"n": k, "tags": ["a", str(k)]}
        return Tick(i=0)

    @step
    async def tick(self, ctx: Context, ev: Tick) -> Tick | StopEvent:
        if ev.i < 10:
            await ctx.store.set(f"k{ev.i}.n", -ev.i)
            return Tick(i=ev.i + 1)
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="go?"), timeout=None
        )
        async with ctx.store.edit_state() as state:
            del state["k20"]
        await ctx.store.set("answer", answer.response)
        tags = await ctx.store.get("k30.tags")
        tags.append("changed in place")  # a value handed out is written again
        state = await ctx.store.get_state()
        return StopEvent(result=dict(state.to_dict()))


def expected_state(n_keys: int, answer: str) -> dict[str, Any]:
    state: dict[str, Any] = {f"k{k}": {"n": k, "tags": ["a", str(k)]} for k in range(n_keys)}
    for i in range(10):
        state[f"k{i}"]["n"] = -i
    del state["k20"]
    state["answer"] = answer
    state["k30"]["tags"].append("changed in place")
    return state


class RecordingStore(SqliteStore):
    """A SQLite store that remembers the state changes of every commit it writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.changes: list[StateChanges | None] = []

    async def commit(self, commit: Commit) -> int:
        self.changes.append(commit.state)
        return await super().commit(commit)

    async def commit_many(self, commits: Sequence[Commit]) -> list[int | Exception]:
        self.changes.extend(commit.state for commit in commits)
        return await super().commit_many(commits)


def assert_loads_exactly(engine: Engine, name: str, snapshot: dict[str, Any]) -> Context[Any]:
    """The stored snapshot restores to a context whose ``to_dict()`` is that snapshot."""
    workflow = engine.workflow(name)
    serializer = engine.serializer_for(workflow)
    ctx = snapshot_from_dict(Context, workflow, snapshot, serializer, name)
    again = ctx.to_dict(serializer)
    again["workflow"] = name
    assert again == snapshot
    assert list(again["state"]) == list(snapshot["state"])
    return ctx


async def test_one_key_per_step_is_what_each_commit_writes(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "runs.db")
    async with Engine(store, {"ledger": Ledger(timeout=None)}, idle_release_after=0) as engine:
        handle = await engine.start("ledger", n_keys=KEYS)
        [request] = await requests_of(engine)
        await released(engine, handle.run_id)
        stored = await store.get_run(handle.run_id)
        ctx = assert_loads_exactly(engine, "ledger", stored.snapshot)
        waiting = {f"k{k}": {"n": k, "tags": ["a", str(k)]} for k in range(KEYS)}
        for i in range(10):
            waiting[f"k{i}"]["n"] = -i
        assert stored.snapshot["state"] == waiting
        assert list(ctx._store._snapshot_state()) == list(waiting)
        # One commit wrote every key (the first boundary after the creation); after it,
        # commits wrote only the keys the steps changed (several steps' boundaries may
        # be folded into one commit).
        resets = [c for c in store.changes if c is not None and c.reset]
        assert len(resets) == 1 and len(resets[0].values) == KEYS
        deltas = [c for c in store.changes if c is not None and not c.reset]
        assert deltas and not any(c.deleted for c in deltas)
        assert set().union(*(c.values for c in deltas)) <= {f"k{i}" for i in range(10)}
        written = store.changes.index(resets[0])
        assert all(c is None or not c.reset for c in store.changes[written + 1 :])

        store.changes.clear()
        assert await engine.respond(request.request_id, "yes")
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        assert result == expected_state(KEYS, "yes")
        assert list(result) == list(expected_state(KEYS, "yes"))
        finished = await store.get_run(handle.run_id)
        assert finished.snapshot["state"] == result
        assert list(finished.snapshot["state"]) == list(result)
        # Loaded again to take the answer: its rows were rewritten once, then deltas.
        assert sum(1 for c in store.changes if c is not None and c.reset) == 1


async def test_a_new_engine_continues_a_run_from_its_state_rows(store_url: str) -> None:
    flows = {"ledger": Ledger(timeout=None)}
    async with Engine(store_url, flows, idle_release_after=None) as first:
        handle = await first.start("ledger", n_keys=50)
        [request] = await requests_of(first)
        if store_url == "memory://":  # nothing outlives the engine: answer here
            await first.respond(request.request_id, "same engine")
            result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
            assert result == expected_state(50, "same engine")
            return
        snapshot = (await first.store.get_run(handle.run_id)).snapshot
    async with Engine(store_url, flows, idle_release_after=None) as second:
        assert (await second.store.get_run(handle.run_id)).snapshot == snapshot
        assert_loads_exactly(second, "ledger", snapshot)
        await second.respond(request.request_id, "restarted")
        result = await asyncio.wait_for(second.get(handle.run_id).result(), RESULT_TIMEOUT)
        assert result == expected_state(50, "restarted")
        assert list(result) == list(expected_state(50, "restarted"))


class Account(BaseModel):
    owner: str = ""
    balance: int = 0
    history: list[int] = []


class Typed(Workflow):
    """A pydantic state: each step changes one field."""

    @step
    async def open(self, ctx: Context[Account], ev: StartEvent) -> Tick:
        await ctx.store.set("owner", ev.owner)
        return Tick(i=0)

    @step
    async def pay(self, ctx: Context[Account], ev: Tick) -> Tick | StopEvent:
        if ev.i < 3:
            await ctx.store.set("balance", (await ctx.store.get("balance")) + 10)
            return Tick(i=ev.i + 1)
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="pay?"), timeout=None
        )
        async with ctx.store.edit_state() as account:
            account.history.append(int(answer.response))
            account.balance -= int(answer.response)
        state = await ctx.store.get_state()
        return StopEvent(result=state.model_dump())


async def test_a_typed_state_is_split_by_its_fields(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "runs.db")
    async with Engine(store, {"typed": Typed(timeout=None)}, idle_release_after=0) as engine:
        handle = await engine.start("typed", owner="ann")
        [request] = await requests_of(engine)
        await released(engine, handle.run_id)
        stored = await store.get_run(handle.run_id)
        assert stored.snapshot["state"]["data"] == {"owner": "ann", "balance": 30, "history": []}
        assert_loads_exactly(engine, "typed", stored.snapshot)
        deltas = [c for c in store.changes if c is not None and not c.reset]
        assert deltas and all(set(c.values) <= {"owner", "balance"} for c in deltas)
        await engine.respond(request.request_id, "5")
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
        assert result == {"owner": "ann", "balance": 25, "history": [5]}


class OddKeys(Workflow):
    """A state that cannot be kept by key: it gains a key that is not a string."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Tick:
        await ctx.store.set("plain", 1)
        return Tick(i=0)

    @step
    async def more(self, ctx: Context, ev: Tick) -> Tick | StopEvent:
        if ev.i == 0:
            async with ctx.store.edit_state() as state:
                state[7] = "seven"  # written as a $map: the state goes whole
            return Tick(i=1)
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), timeout=None
        )
        async with ctx.store.edit_state() as state:
            del state[7]  # plain keys again: back into rows
            state["answer"] = answer.response
        return StopEvent(result=(await ctx.store.get_state()).to_dict())


class Opaque:
    """A value only the pickle serializer can write."""

    def __init__(self, n: int) -> None:
        self.n = n


class Pickled(Workflow):
    """Under the pickle serializer the state is written whole."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Tick:
        await ctx.store.set("box", Opaque(3))
        return Tick(i=0)

    @step
    async def end(self, ctx: Context, ev: Tick) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="?"), timeout=None
        )
        box = await ctx.store.get("box")
        return StopEvent(result=f"{box.n}:{answer.response}")


@pytest.mark.parametrize("flow", ["odd", "pickled"])
async def test_a_state_that_cannot_be_kept_by_key_is_written_whole(
    tmp_path: Path, flow: str
) -> None:
    flows = {
        "odd": OddKeys(timeout=None),
        "pickled": Pickled(timeout=None, serializer=PickleSerializer()),
    }
    store = RecordingStore(tmp_path / "runs.db")
    async with Engine(store, {flow: flows[flow]}, idle_release_after=0) as engine:
        handle = await engine.start(flow)
        [request] = await requests_of(engine)
        await released(engine, handle.run_id)
        stored = await store.get_run(handle.run_id)
        assert "$state_rows" not in stored.snapshot
        assert_loads_exactly(engine, flow, stored.snapshot)
        await engine.respond(request.request_id, "ok")
        result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    if flow == "odd":
        assert result == {"plain": 1, "answer": "ok"}
        # In rows, then whole (its rows removed), then in rows again.
        kinds = [c.reset and not c.values for c in store.changes if c is not None]
        assert True in kinds
        async with SqliteStore(tmp_path / "runs.db") as reopened:
            final = await reopened.get_run(handle.run_id)
        assert final.snapshot["state"] == {"plain": 1, "answer": "ok"}
    else:
        assert result == "3:ok"
        assert all(c is None for c in store.changes)
