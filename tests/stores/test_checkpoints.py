"""The CheckpointStore contract: checkpoints written with commits, read back by chain,
pruned by ``keep_last``, and forks; one suite for the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from _damage import TRUNCATED, damage
from workflows.errors import (
    CheckpointNotFoundError,
    CorruptRecordError,
    RunAlreadyExistsError,
    RunNotFoundError,
    StaleRunError,
    StoreError,
)
from workflows.stores import (
    CheckpointStore,
    CheckpointWrite,
    Commit,
    InputRequest,
    RunRecord,
    StoredCheckpoint,
)

_ids = itertools.count(1)


def full(seq: int, body: Any = None, **changes: Any) -> CheckpointWrite:
    text = f'{{"whole": {seq}}}' if body is None else body
    return CheckpointWrite(seq=seq, kind="full", anchor=seq, body=text, **changes)


def delta(seq: int, anchor: int, **changes: Any) -> CheckpointWrite:
    return CheckpointWrite(seq=seq, kind="delta", anchor=anchor, body=f"[[{seq}]]", **changes)


async def new_run(store: Any, status: str = "running") -> str:
    run_id = f"run-{next(_ids)}"
    await store.create_run(RunRecord.new(run_id, "flow", {"n": 0}, status=status))  # type: ignore[arg-type]
    return run_id


async def commit(
    store: Any, run_id: str, version: int, write: CheckpointWrite | None, **kw: Any
) -> int:
    status = kw.pop("status", "running")
    return int(
        await store.commit(Commit(run_id, version, {"n": version}, status, checkpoint=write, **kw))
    )


def seqs(found: list[StoredCheckpoint]) -> list[int]:
    return [checkpoint.seq for checkpoint in found]


async def test_every_store_keeps_checkpoints(store: Any) -> None:
    assert isinstance(store, CheckpointStore)


async def test_a_commit_keeps_its_checkpoint_with_the_run_status_and_time(store: Any) -> None:
    run_id = await new_run(store)
    meta = {"causes": ["step:a"], "by": "ann"}
    assert await commit(store, run_id, 0, full(1, '{"state": {"n": 1}}', meta=meta)) == 1
    await commit(store, run_id, 1, None, status="waiting")  # keeps none
    [listed] = await store.list_checkpoints(run_id)
    record = await store.get_run(run_id)
    assert (listed.run_id, listed.seq, listed.anchor, listed.kind) == (run_id, 1, 1, "full")
    assert (listed.status, listed.meta, listed.body, listed.corrupt) == (
        "running",
        meta,
        None,
        None,
    )
    assert listed.at <= record.updated_at
    [read] = await store.checkpoint_chain(run_id, 1)
    assert read.body == {"state": {"n": 1}} and read.meta == meta


async def test_a_chain_is_read_from_its_full_checkpoint(store: Any) -> None:
    run_id = await new_run(store)
    await commit(store, run_id, 0, full(1))
    await commit(store, run_id, 1, delta(2, 1))
    await commit(store, run_id, 2, delta(3, 1), status="waiting")
    await commit(store, run_id, 3, full(4))
    await commit(store, run_id, 4, delta(5, 4))
    chain = await store.checkpoint_chain(run_id, 3)
    assert seqs(chain) == [1, 2, 3]
    assert [c.body for c in chain] == [{"whole": 1}, [[2]], [[3]]]
    assert chain[-1].status == "waiting" and chain[-1].kind == "delta"
    assert seqs(await store.checkpoint_chain(run_id, 5)) == [4, 5]
    assert seqs(await store.checkpoint_chain(run_id, 4)) == [4]
    assert seqs(await store.list_checkpoints(run_id)) == [1, 2, 3, 4, 5]
    assert seqs(await store.list_checkpoints(run_id, after=2, limit=2)) == [3, 4]
    assert await store.list_checkpoints(run_id, after=5) == []


async def test_unknown_runs_and_checkpoints_are_named(store: Any) -> None:
    run_id = await new_run(store)
    assert await store.list_checkpoints(run_id) == []
    with pytest.raises(RunNotFoundError):
        await store.list_checkpoints("no-such-run")
    with pytest.raises(CheckpointNotFoundError, match="has no checkpoint 7"):
        await store.checkpoint_chain(run_id, 7)
    with pytest.raises(CheckpointNotFoundError):
        await store.checkpoint_chain("no-such-run", 1)


async def test_a_refused_commit_keeps_no_checkpoint(store: Any) -> None:
    run_id = await new_run(store)
    with pytest.raises(StaleRunError):
        await commit(store, run_id, 5, full(6))
    other = await new_run(store)
    outcomes = await store.commit_many(
        [
            Commit(run_id, 3, {}, "running", checkpoint=full(4)),  # stale
            Commit(other, 0, {}, "waiting", checkpoint=full(1)),
        ]
    )
    assert isinstance(outcomes[0], StaleRunError) and outcomes[1] == 1
    assert await store.list_checkpoints(run_id) == []
    assert seqs(await store.list_checkpoints(other)) == [1]
    assert (await store.list_checkpoints(other))[0].status == "waiting"


async def test_a_group_commit_keeps_each_commits_checkpoint(store: Any) -> None:
    runs = [await new_run(store) for _ in range(3)]
    commits = [
        Commit(runs[2], 0, {"n": 2}, "running", checkpoint=full(1, '{"r": 2}')),
        Commit(runs[0], 0, {"n": 0}, "completed", checkpoint=full(1, '{"r": 0}')),
        Commit(runs[1], 0, {"n": 1}, "running"),
    ]
    assert await store.commit_many(commits) == [1, 1, 1]
    assert [c.body for c in await store.checkpoint_chain(runs[2], 1)] == [{"r": 2}]
    [finished] = await store.checkpoint_chain(runs[0], 1)
    assert (finished.body, finished.status) == ({"r": 0}, "completed")
    assert await store.list_checkpoints(runs[1]) == []


async def test_a_repeated_checkpoint_refuses_its_commit_alone(store: Any) -> None:
    run_id = await new_run(store)
    await commit(store, run_id, 0, full(1))
    with pytest.raises(StoreError, match="checkpoint"):
        await commit(store, run_id, 1, full(1))
    assert (await store.get_run(run_id)).version == 1
    other = await new_run(store)
    outcomes = await store.commit_many(
        [
            Commit(run_id, 1, {}, "running", checkpoint=delta(1, 1)),
            Commit(other, 0, {}, "running", checkpoint=full(1)),
        ]
    )
    assert isinstance(outcomes[0], StoreError) and outcomes[1] == 1
    assert (await store.get_run(run_id)).version == 1
    assert seqs(await store.list_checkpoints(other)) == [1]


@pytest.mark.parametrize(
    "write",
    [
        CheckpointWrite(seq=1, kind="whole", anchor=1, body="{}"),  # type: ignore[arg-type]
        CheckpointWrite(seq=2, kind="full", anchor=1, body="{}"),
        CheckpointWrite(seq=1, kind="delta", anchor=2, body="{}"),
        CheckpointWrite(seq=1, kind="full", anchor=1, body={"not": "text"}),  # type: ignore[arg-type]
        CheckpointWrite(seq=1, kind="full", anchor=1, body="{}", keep_last=0),
        CheckpointWrite(seq=1, kind="full", anchor=1, body="{}", meta={"x": object()}),
    ],
)
async def test_a_malformed_checkpoint_writes_nothing(store: Any, write: CheckpointWrite) -> None:
    run_id = await new_run(store)
    with pytest.raises((StoreError, ValueError)):
        await commit(store, run_id, 0, write)
    [outcome] = await store.commit_many([Commit(run_id, 0, {}, "running", checkpoint=write)])
    assert isinstance(outcome, (StoreError, ValueError))
    assert (await store.get_run(run_id)).version == 0
    assert await store.list_checkpoints(run_id) == []


async def test_keep_last_keeps_the_newest_and_the_chains_they_need(store: Any) -> None:
    run_id = await new_run(store)
    await commit(store, run_id, 0, full(1, keep_last=3))
    await commit(store, run_id, 1, delta(2, 1, keep_last=3))
    await commit(store, run_id, 2, delta(3, 1, keep_last=3))
    await commit(store, run_id, 3, full(4, keep_last=3))
    assert seqs(await store.list_checkpoints(run_id)) == [1, 2, 3, 4]  # 2 and 3 need 1
    await commit(store, run_id, 4, delta(5, 4, keep_last=3))
    assert seqs(await store.list_checkpoints(run_id)) == [1, 2, 3, 4, 5]  # 3 needs 1
    await commit(store, run_id, 5, delta(6, 4, keep_last=3))
    assert seqs(await store.list_checkpoints(run_id)) == [4, 5, 6]
    assert seqs(await store.checkpoint_chain(run_id, 6)) == [4, 5, 6]
    await commit(store, run_id, 6, delta(7, 4, keep_last=1))
    assert seqs(await store.list_checkpoints(run_id)) == [4, 5, 6, 7]  # 7 needs 4
    await commit(store, run_id, 7, full(8, keep_last=1))
    assert seqs(await store.list_checkpoints(run_id)) == [8]


async def test_keep_last_in_a_group_commit(store: Any) -> None:
    run_id = await new_run(store)
    for version in range(4):
        await commit(store, run_id, version, full(version + 1))
    other = await new_run(store)
    outcomes = await store.commit_many(
        [
            Commit(run_id, 4, {}, "running", checkpoint=full(5, keep_last=2)),
            Commit(other, 0, {}, "running", checkpoint=full(1, keep_last=2)),
        ]
    )
    assert outcomes == [5, 1]
    assert seqs(await store.list_checkpoints(run_id)) == [4, 5]
    assert seqs(await store.list_checkpoints(other)) == [1]


def request_of(run_id: str, suffix: str) -> InputRequest:
    return InputRequest.new(
        f"{run_id}:{suffix}",
        run_id,
        "flow",
        "InputRequiredEvent",
        {"prefix": "ok?"},
        {"type": "object"},
        deadline=5000.0,
        now=1000.0,
    )


async def test_a_fork_is_created_whole_and_linked_both_ways(store: Any) -> None:
    parent = await new_run(store)
    await store.commit(
        Commit(
            parent,
            0,
            {"n": 1},
            "waiting",
            stream=[(1, "E", {"i": 1}), (2, "E", {"i": 2}), (3, "E", {"i": 3})],
            new_requests=[request_of(parent, "w1:0:0")],
            checkpoint=full(1),
        )
    )
    before = await store.get_run(parent)
    fork_id = f"fork-{next(_ids)}"
    await store.fork_run(
        RunRecord.new(fork_id, "flow", {"n": 1, "forked": True}, status="waiting"),
        parent_run_id=parent,
        parent_seq=1,
        checkpoint=full(0, '{"n": 1}', meta={"causes": ["fork"]}),
        requests=[request_of(fork_id, "w1:0:0")],
        stream_upto=2,
    )
    forked = await store.get_run(fork_id)
    assert (forked.status, forked.snapshot, forked.version) == (
        "waiting",
        {"n": 1, "forked": True},
        0,
    )
    assert [(e.seq, e.payload) for e in await store.read_stream(fork_id)] == [
        (1, {"i": 1}),
        (2, {"i": 2}),
    ]
    [pending] = await store.list_requests(run_id=fork_id)
    assert (pending.request_id, pending.deadline) == (f"{fork_id}:w1:0:0", 5000.0)
    [first] = await store.checkpoint_chain(fork_id, 0)
    assert (first.body, first.status, first.meta) == ({"n": 1}, "waiting", {"causes": ["fork"]})
    lineage = await store.run_lineage(fork_id)
    assert lineage.forks == []
    assert lineage.forked_from is not None
    assert (lineage.forked_from.parent_run_id, lineage.forked_from.parent_seq) == (parent, 1)
    assert [link.run_id for link in (await store.run_lineage(parent)).forks] == [fork_id]
    assert (await store.run_lineage(parent)).forked_from is None
    # The parent is untouched: same version, same stream, same pending request.
    assert await store.get_run(parent) == before
    assert [r.request_id for r in await store.list_requests(run_id=parent)] == [f"{parent}:w1:0:0"]
    assert len(await store.read_stream(parent)) == 3


async def test_a_forks_requests_keep_their_task_fields_and_are_audited(store: Any) -> None:
    parent = await new_run(store)
    fork_id = f"fork-{next(_ids)}"
    task = InputRequest.new(
        f"{fork_id}:w1:0:0",
        fork_id,
        "flow",
        "InputRequiredEvent",
        {},
        now=1000.0,
        assignee="ada",
        candidate_groups=["finance"],
        priority=3,
        due=2000.0,
        follow_up=1500.0,
    )
    await store.fork_run(
        RunRecord.new(fork_id, "flow", {}, status="waiting"),
        parent_run_id=parent,
        parent_seq=0,
        checkpoint=full(0),
        requests=[task],
    )
    stored = await store.get_request(task.request_id)
    assert (stored.assignee, stored.candidate_groups, stored.priority) == ("ada", ("finance",), 3)
    assert (stored.due, stored.follow_up) == (2000.0, 1500.0)
    [created] = await store.request_audit(task.request_id)
    assert (created.action, created.run_id, created.at) == ("created", fork_id, 1000.0)
    assert created.detail["assignee"] == "ada"
    assert [e.request_id for e in await store.audit_after(0)] == [task.request_id]


async def test_a_refused_fork_writes_nothing(store: Any) -> None:
    parent = await new_run(store)
    taken = await new_run(store)
    with pytest.raises(RunAlreadyExistsError):
        await store.fork_run(
            RunRecord.new(taken, "flow", {}),
            parent_run_id=parent,
            parent_seq=0,
            checkpoint=full(0),
        )
    with pytest.raises(RunNotFoundError):
        await store.fork_run(
            RunRecord.new("fork-x", "flow", {}),
            parent_run_id="no-such-run",
            parent_seq=0,
            checkpoint=full(0),
        )
    with pytest.raises(StoreError, match="belongs to run"):
        await store.fork_run(
            RunRecord.new("fork-y", "flow", {}),
            parent_run_id=parent,
            parent_seq=0,
            checkpoint=full(0),
            requests=[request_of(parent, "1")],
        )
    for run_id in ("fork-x", "fork-y"):
        with pytest.raises(RunNotFoundError):
            await store.get_run(run_id)
    assert (await store.run_lineage(parent)).forks == []
    assert await store.list_checkpoints(taken) == []
    with pytest.raises(RunNotFoundError):
        await store.run_lineage("no-such-run")


async def test_deleting_a_run_deletes_its_checkpoints_and_own_link(store: Any) -> None:
    parent = await new_run(store)
    await commit(store, parent, 0, full(1))
    fork_id = f"fork-{next(_ids)}"
    await store.fork_run(
        RunRecord.new(fork_id, "flow", {}), parent_run_id=parent, parent_seq=1, checkpoint=full(0)
    )
    await store.delete_run(fork_id)
    assert (await store.run_lineage(parent)).forks == []
    second = f"fork-{next(_ids)}"
    await store.fork_run(
        RunRecord.new(second, "flow", {}), parent_run_id=parent, parent_seq=1, checkpoint=full(0)
    )
    await store.delete_run(parent)
    with pytest.raises(CheckpointNotFoundError):
        await store.checkpoint_chain(parent, 1)
    link = (await store.run_lineage(second)).forked_from
    assert link is not None and link.parent_run_id == parent  # it still names its parent


async def test_a_damaged_checkpoint_is_listed_marked_and_refused_in_a_chain(store: Any) -> None:
    run_id = await new_run(store)
    await commit(store, run_id, 0, full(1))
    await commit(store, run_id, 1, delta(2, 1))
    await damage(store, "wf_checkpoints", "meta", TRUNCATED, (run_id, 1))
    await damage(store, "wf_checkpoints", "body", TRUNCATED, (run_id, 2))
    listed = await store.list_checkpoints(run_id)
    assert listed[0].corrupt is not None and "meta" in listed[0].corrupt
    assert listed[0].meta == {} and listed[1].corrupt is None
    with pytest.raises(CorruptRecordError, match="checkpoint 1"):
        await store.checkpoint_chain(run_id, 1)
    with pytest.raises(CorruptRecordError):
        await store.checkpoint_chain(run_id, 2)
