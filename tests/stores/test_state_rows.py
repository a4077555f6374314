"""State rows (``StateChanges``), part of the RunStore contract: run against MemoryStore,
SqliteStore and PostgresStore. A commit writes only the state keys that changed; every
read of a run returns its snapshot whole, exactly as the committer built it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from _damage import damage
from workflows.errors import CorruptRecordError, StaleRunError, StoreError
from workflows.stores import STATE_ROWS_KEY, Commit, RunRecord, StateChanges

_ids = itertools.count(1)


def rows_snapshot(**extra: Any) -> dict[str, Any]:
    """A snapshot that leaves its state's entries to the run's rows."""
    return {"state": {}, STATE_ROWS_KEY: ["state"], "queues": {}, **extra}


async def created(store: Any, state: dict[str, Any] | None = None) -> str:
    run_id = f"state-run-{next(_ids)}"
    snapshot = {"state": dict(state or {}), "queues": {}}
    await store.create_run(RunRecord.new(run_id, "flow", snapshot))
    return run_id


async def state_of(store: Any, run_id: str) -> dict[str, Any]:
    snapshot = (await store.get_run(run_id)).snapshot
    assert STATE_ROWS_KEY not in snapshot
    state: dict[str, Any] = snapshot["state"]
    return state


async def test_a_run_created_whole_moves_into_rows_and_then_commits_deltas(store: Any) -> None:
    run_id = await created(store, {"a": 1, "b": [1, 2]})
    assert await state_of(store, run_id) == {"a": 1, "b": [1, 2]}  # whole, as before
    everything = StateChanges(reset=True, values={"a": 1, "b": [1, 2], "c": {"x": None}})
    assert (
        await store.commit(Commit(run_id, 0, rows_snapshot(step=1), "running", state=everything))
        == 1
    )
    stored = await store.get_run(run_id)
    assert stored.snapshot == {
        "state": {"a": 1, "b": [1, 2], "c": {"x": None}},
        "queues": {},
        "step": 1,
    }
    # A delta: one key written, one deleted; the others stay as they were.
    delta = StateChanges(deleted=("a",), values={"b": "two"})
    await store.commit(Commit(run_id, 1, rows_snapshot(step=2), "running", state=delta))
    assert (await store.get_run(run_id)).snapshot == {
        "state": {"b": "two", "c": {"x": None}},
        "queues": {},
        "step": 2,
    }
    # No state changes: the rows stay.
    await store.commit(Commit(run_id, 2, rows_snapshot(step=3), "running"))
    assert await state_of(store, run_id) == {"b": "two", "c": {"x": None}}


async def test_rows_keep_the_order_keys_were_first_written(store: Any) -> None:
    run_id = await created(store)
    values = {f"k{i}": i for i in (5, 1, 9, 3)}
    await store.commit(
        Commit(run_id, 0, rows_snapshot(), "running", state=StateChanges(True, (), values))
    )
    assert list(await state_of(store, run_id)) == ["k5", "k1", "k9", "k3"]
    # An update keeps its key's place; a new key goes last; deleted and written again
    # in one commit moves it to the end, as a dict does.
    changes = StateChanges(deleted=("k1",), values={"k9": -9, "new": 0, "k1": 1})
    await store.commit(Commit(run_id, 1, rows_snapshot(), "running", state=changes))
    state = await state_of(store, run_id)
    assert list(state.items()) == [("k5", 5), ("k9", -9), ("k3", 3), ("new", 0), ("k1", 1)]
    # A reset replaces every row.
    await store.commit(
        Commit(run_id, 2, rows_snapshot(), "running", state=StateChanges(True, (), {"z": 1}))
    )
    assert await state_of(store, run_id) == {"z": 1}


async def test_rows_fill_a_mapping_nested_in_the_snapshot(store: Any) -> None:
    run_id = await created(store)
    snapshot = {"state": {"$model": "app.State", "data": {}}, STATE_ROWS_KEY: ["state", "data"]}
    changes = StateChanges(reset=True, values={"count": 3, "names": ["a"]})
    await store.commit(Commit(run_id, 0, snapshot, "running", state=changes))
    assert (await store.get_run(run_id)).snapshot == {
        "state": {"$model": "app.State", "data": {"count": 3, "names": ["a"]}}
    }


async def test_every_read_of_a_run_returns_its_state_whole(store: Any) -> None:
    run_id = await created(store)
    changes = StateChanges(reset=True, values={f"k{i}": i for i in range(50)})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=changes))
    whole = {"state": {f"k{i}": i for i in range(50)}, "queues": {}}
    assert (await store.get_run(run_id)).snapshot == whole
    [listed] = [r for r in await store.list_runs() if r.run_id == run_id]
    assert listed.snapshot == whole
    claimed = await store.claim_run(run_id, "w1", 30.0)
    assert claimed.snapshot == whole
    await store.release_run(run_id, "w1")
    [taken] = await store.claim_runs("w2", 30.0, limit=5, run_ids=[run_id])
    assert taken.snapshot == whole
    loaded = await store.load_many([run_id])
    assert loaded[run_id].run.snapshot == whole and loaded[run_id].damage is None


async def test_a_refused_commit_writes_no_state_rows(store: Any) -> None:
    run_id = await created(store)
    first = StateChanges(reset=True, values={"a": 1})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=first))
    stale = StateChanges(reset=True, values={"a": 99, "b": 2})
    with pytest.raises(StaleRunError):
        await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=stale))
    assert await state_of(store, run_id) == {"a": 1}
    # The same inside a group commit, between good commits.
    other = await created(store)
    outcomes = await store.commit_many(
        [
            Commit(other, 0, rows_snapshot(), "running", state=StateChanges(True, (), {"o": 1})),
            Commit(run_id, 5, rows_snapshot(), "running", state=StateChanges(True, (), {"x": 1})),
            Commit(run_id, 1, rows_snapshot(), "running", state=StateChanges(values={"a": 2})),
        ]
    )
    assert outcomes[0] == 1 and isinstance(outcomes[1], StaleRunError) and outcomes[2] == 2
    assert await state_of(store, run_id) == {"a": 2}
    assert await state_of(store, other) == {"o": 1}


async def test_a_finished_run_refuses_state_changes(store: Any) -> None:
    run_id = await created(store)
    done = StateChanges(reset=True, values={"total": 3})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "completed", result=3, state=done))
    assert await state_of(store, run_id) == {"total": 3}  # a finished run keeps its state
    outcomes = await store.commit_many(
        [Commit(run_id, 1, rows_snapshot(), "running", state=StateChanges(True, (), {"x": 1}))]
    )
    assert isinstance(outcomes[0], StoreError)
    assert await state_of(store, run_id) == {"total": 3}


async def test_unstorable_state_changes_are_refused_and_write_nothing(store: Any) -> None:
    run_id = await created(store)
    await store.commit(
        Commit(run_id, 0, rows_snapshot(), "running", state=StateChanges(True, (), {"a": 1}))
    )
    for bad in (StateChanges(values={"a": object()}), StateChanges(values={7: 1})):  # type: ignore[dict-item]
        with pytest.raises(StoreError, match="state key"):
            await store.commit(Commit(run_id, 1, rows_snapshot(), "running", state=bad))
    assert (await store.get_run(run_id)).version == 1
    assert await state_of(store, run_id) == {"a": 1}


async def test_a_deleted_run_leaves_no_state_rows_behind(store: Any) -> None:
    run_id = await created(store)
    changes = StateChanges(reset=True, values={"secret": "s", "n": 1})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=changes))
    await store.delete_run(run_id)
    # A new run of the same id whose snapshot expects rows finds none of the old ones.
    await store.create_run(RunRecord.new(run_id, "flow", rows_snapshot()))
    assert await state_of(store, run_id) == {}


async def test_rows_of_a_snapshot_without_the_marker_are_not_its_own(store: Any) -> None:
    run_id = await created(store)
    changes = StateChanges(reset=True, values={"a": 1})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=changes))
    # Back to a whole state in the snapshot (the committer resets the rows with it).
    whole = {"state": {"$map": [[1, 2]]}, "queues": {}}
    await store.commit(Commit(run_id, 1, whole, "running", state=StateChanges(reset=True)))
    assert (await store.get_run(run_id)).snapshot == whole


async def test_a_damaged_state_row_is_named(store: Any) -> None:
    run_id = await created(store)
    changes = StateChanges(reset=True, values={"good": 1, "bad": 2})
    await store.commit(Commit(run_id, 0, rows_snapshot(), "running", state=changes))
    await damage(store, "wf_state", "value", '{"torn": ', (run_id, "bad"))
    with pytest.raises(CorruptRecordError) as caught:
        await store.get_run(run_id)
    assert caught.value.column == "snapshot" and "state key 'bad'" in str(caught.value)
    assert caught.value.record is not None and caught.value.record.snapshot == {}
    [listed] = [r for r in await store.list_runs() if r.run_id == run_id]
    assert listed.corrupt is not None and "state key 'bad'" in listed.corrupt["snapshot"]
    loaded = (await store.load_many([run_id]))[run_id]
    assert loaded.damage is not None and "state key 'bad'" in str(loaded.damage)
    assert loaded.run.snapshot == {}
