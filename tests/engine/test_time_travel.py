"""Time travel on every store: a run's checkpoint history, edit then resume, forks and
replays, retention settings, and the fences that keep them safe next to other workers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _review_flow import Conversation, Review, ShoutingReview, TaskReview, TypedReview
from _runs import requests_of
from _wait import until
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import (
    CheckpointNotFoundError,
    RunFinishedError,
    RunNotWaitingError,
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)
from workflows.events import Event, InputRequiredEvent, StartEvent, StopEvent
from workflows.stores import InputRequest, MemoryStore

WORKFLOWS = {
    "review": Review(),
    "typed": TypedReview(),
    "talk": Conversation(),
    "task": TaskReview(),
}


async def asked(engine: Engine, run_id: str) -> InputRequest:
    """The one pending request of the run, once it asks."""
    [found] = await requests_of(engine, run_id=run_id)
    return found


async def test_the_history_of_a_run_that_waits_for_a_person(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, history="all") as engine:
        handle = await engine.start("review", text="draft one")
        request = await asked(engine, handle.run_id)
        history = await engine.checkpoints(handle.run_id)
        assert [c.seq for c in history] == sorted({c.seq for c in history})
        # The run's first commit: its start, or its start and first step folded together
        # (a start written alone is the run's creation, which keeps no checkpoint).
        assert history[0].causes[0] in ("start:StartEvent", "step:draft")
        waiting = history[-1]
        assert (waiting.status, waiting.step, waiting.causes[-1]) == (
            "waiting",
            "review",
            "wait:review",
        )
        assert waiting.checkpoint_id == f"{handle.run_id}:c{waiting.seq}"

        view = await engine.checkpoint(handle.run_id, waiting.checkpoint_id)
        assert view.state == {"text": "draft one", "log": ["drafted"]}
        assert view.pending_events == [] and view.in_flight == []
        [wait] = view.open_waits
        assert (wait.step, wait.request_id) == ("review", request.request_id)
        assert isinstance(wait.prompt, InputRequiredEvent)
        assert wait.prompt.prefix == "publish draft one?"
        first = await engine.checkpoint(handle.run_id, history[0].seq)
        if first.checkpoint.causes == ("start:StartEvent",):  # the start alone: draft is due
            assert [p.step for p in first.pending_events] == ["draft"]

        await engine.respond(request.request_id, "yes", answered_by="ann")
        assert await handle == "draft one:yes"
        history = await engine.checkpoints(handle.run_id)
        last = history[-1]
        assert (last.status, last.causes[-1]) == ("completed", "end:StopEvent")
        assert any(c.event == "HumanResponseEvent" for c in history)
        # Read back through its deltas, the last checkpoint is the stored run exactly.
        final = await engine.checkpoint(handle.run_id, last.seq)
        assert final.snapshot == (await engine.store.get_run(handle.run_id)).snapshot
        assert final.state["log"] == ["drafted", "yes"]
        with pytest.raises(CheckpointNotFoundError):
            await engine.checkpoint(handle.run_id, last.seq + 100)


async def test_an_edit_before_the_answer_changes_the_result(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:  # history none: edits are kept
        handle = await engine.start("review", text="teh text")
        request = await asked(engine, handle.run_id)
        assert await engine.checkpoints(handle.run_id) == []
        edit = await engine.update_state(
            handle.run_id, patch={"text": "the text"}, by="ann", reason="typo"
        )
        assert (edit.causes, edit.by, edit.reason, edit.status) == (
            ("edit",),
            "ann",
            "typo",
            "waiting",
        )
        assert await engine.checkpoints(handle.run_id) == [edit]
        view = await engine.checkpoint(handle.run_id, edit.seq)
        assert view.state == {"text": "the text", "log": ["drafted"]}
        # Still the same question, answered once.
        assert [r.request_id for r in await engine.inbox(run_id=handle.run_id)] == [
            request.request_id
        ]
        await engine.respond(request.request_id, "yes")
        assert await handle == "the text:yes"


async def test_an_edit_of_a_typed_state_is_validated(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        handle = await engine.start("typed", text="one two")
        request = await asked(engine, handle.run_id)
        with pytest.raises(WorkflowValidationError, match="words"):
            await engine.update_state(handle.run_id, patch={"words": "many"})
        with pytest.raises(WorkflowValidationError, match="exactly one"):
            await engine.update_state(handle.run_id)
        assert await engine.checkpoints(handle.run_id) == []  # nothing was written
        await engine.update_state(handle.run_id, replace={"text": "one two three", "words": 3})
        await engine.respond(request.request_id, "ok")
        assert await handle == "one two three/3:ok"


async def test_only_a_waiting_run_can_be_edited(store_url: str) -> None:
    gate = asyncio.Event()

    class Slow(Workflow):
        @step
        async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
            await ctx.store.set("n", 1)
            await gate.wait()
            return StopEvent(result=await ctx.store.get("n"))

    async with Engine(store_url, {"slow": Slow(), **WORKFLOWS}) as engine:
        handle = await engine.start("slow")
        with pytest.raises(RunNotWaitingError, match="running"):
            await engine.update_state(handle.run_id, patch={"n": 2})
        gate.set()
        assert await handle == 1
        with pytest.raises(RunFinishedError):
            await engine.update_state(handle.run_id, patch={"n": 2})


async def test_a_fork_before_the_answer_gets_its_own_answer(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, history="waits") as engine:
        handle = await engine.start("review", text="plan")
        request = await asked(engine, handle.run_id)
        [waiting] = await engine.checkpoints(handle.run_id)
        await engine.respond(request.request_id, "yes")
        assert await handle == "plan:yes"
        original = await engine.checkpoints(handle.run_id)

        fork_id = await engine.fork(handle.run_id, waiting.checkpoint_id, by="bob")
        assert fork_id != handle.run_id
        lineage = await engine.lineage(fork_id)
        assert lineage.forked_from is not None
        assert (lineage.forked_from.parent_run_id, lineage.forked_from.parent_seq) == (
            handle.run_id,
            waiting.seq,
        )
        assert [link.run_id for link in (await engine.lineage(handle.run_id)).forks] == [fork_id]
        [start] = await engine.checkpoints(fork_id)
        assert (start.seq, start.causes, start.by) == (0, ("fork",), "bob")
        assert start.forked_from == waiting.checkpoint_id

        fork_request = await asked(engine, fork_id)
        assert fork_request.request_id == f"{fork_id}{request.request_id[len(handle.run_id) :]}"
        await engine.respond(fork_request.request_id, "no")
        assert await engine.get(fork_id) == "plan:no"
        assert await engine.get(handle.run_id) == "plan:yes"  # untouched
        assert await engine.checkpoints(handle.run_id) == original
        events = [e async for e in engine.get(fork_id).stream_events(after=0)]
        assert sum(isinstance(e, InputRequiredEvent) for e in events) == 1
        entries = await engine.store.read_stream(fork_id, after=0)
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))


async def test_a_fork_asks_again_with_the_task_fields_the_workflow_gave(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, history="waits") as engine:
        handle = await engine.start("task", text="plan")
        request = await asked(engine, handle.run_id)
        await engine.set_assignee(
            request.request_id, "bo", actor="admin", action="assigned", expected="ada"
        )
        [waiting] = await engine.checkpoints(handle.run_id)
        fork_id = await engine.fork(handle.run_id, waiting.seq)
        copy = await asked(engine, fork_id)
        # Asked again: the workflow's assignee, not the one the original was given later.
        assert (copy.assignee, copy.candidate_groups, copy.priority) == ("ada", ("fin",), 2)
        assert request.due is not None and copy.due is not None
        assert copy.due - copy.created_at == pytest.approx(request.due - request.created_at, abs=5)
        assert [e.action for e in await engine.request_audit(copy.request_id)] == ["created"]
        assert (await engine.store.get_request(request.request_id)).assignee == "bo"


async def test_a_fork_can_change_the_state_it_starts_with(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, history="all") as engine:
        handle = await engine.start("review", text="plan a")
        request = await asked(engine, handle.run_id)
        waiting = (await engine.checkpoints(handle.run_id))[-1]
        fork_id = await engine.fork(handle.run_id, waiting.seq, {"text": "plan b"})
        await engine.respond(request.request_id, "yes")
        await engine.respond((await asked(engine, fork_id)).request_id, "yes")
        assert await engine.get(fork_id) == "plan b:yes"
        assert await handle == "plan a:yes"
        with pytest.raises(WorkflowRuntimeError, match="end of the run"):
            await engine.fork(handle.run_id, (await engine.checkpoints(handle.run_id))[-1].seq)


async def test_a_fork_from_a_running_checkpoint_is_taken_up(store_url: str) -> None:
    gate = asyncio.Event()

    class Prepared(Event):
        pass

    class Held(Workflow):
        @step
        async def prepare(self, ctx: Context, ev: StartEvent) -> Prepared:
            await ctx.store.set("hold", True)
            return Prepared()

        @step
        async def work(self, ctx: Context, ev: Prepared) -> StopEvent:
            if await ctx.store.get("hold"):
                await gate.wait()  # the original stays here, its last commit "running"
            return StopEvent(result="held" if await ctx.store.get("hold") else "free")

    async with Engine(store_url, {"held": Held()}, history="all") as engine:
        handle = await engine.start("held")
        [running] = await until(lambda: engine.checkpoints(handle.run_id), "a checkpoint")
        assert (running.status, running.causes[-1]) == ("running", "step:prepare")
        fork_id = await engine.fork(handle.run_id, running.seq, {"hold": False})
        assert await asyncio.wait_for(engine.get(fork_id).result(), 30) == "free"
        gate.set()
        assert await handle == "held"


@pytest.mark.parametrize("history", ["none", "all", "waits", "last 2"])
async def test_retention_settings_are_honoured(store_url: str, history: str) -> None:
    async with Engine(store_url, WORKFLOWS, history=history) as engine:
        handle = await engine.start("talk", rounds=3)
        for _ in range(3):
            request = await asked(engine, handle.run_id)
            await engine.respond(request.request_id, f"r{request.request_id[-5:]}")
        assert await handle == 3
        kept = await engine.checkpoints(handle.run_id)
        statuses = [c.status for c in kept]
        if history == "none":
            assert kept == []
            return
        assert [c.seq for c in kept] == sorted(c.seq for c in kept)
        if history == "all":
            assert statuses[-1] == "completed" and statuses.count("waiting") == 3
        elif history == "waits":
            assert statuses == ["waiting"] * 3
        else:
            assert len(kept) == 2 and statuses[-1] == "completed"
        for checkpoint in kept:  # each one reads back
            view = await engine.checkpoint(handle.run_id, checkpoint.seq)
            assert view.state["rounds"] == 3


async def test_a_workflow_can_keep_its_own_history(store_url: str) -> None:
    engine = Engine(store_url, {"review": Review()})
    engine.register(Conversation(), "talk", history="waits")
    async with engine:
        assert str(engine.retention_for("talk")) == "waits"
        assert str(engine.retention_for("review")) == "none"
        talk = await engine.start("talk", rounds=1)
        review = await engine.start("review", text="t")
        await asked(engine, talk.run_id)
        await asked(engine, review.run_id)
        assert [c.status for c in await engine.checkpoints(talk.run_id)] == ["waiting"]
        assert await engine.checkpoints(review.run_id) == []


async def test_history_settings_are_checked() -> None:
    with pytest.raises(WorkflowConfigurationError, match="last N"):
        Engine("memory://", history="last")
    with pytest.raises(WorkflowConfigurationError, match="unknown history"):
        Engine("memory://", history="sometimes")

    class NoCheckpoints(MemoryStore):
        list_checkpoints = None  # type: ignore[assignment]

    with pytest.raises(WorkflowConfigurationError, match="needs a store that keeps checkpoints"):
        async with Engine(NoCheckpoints(), WORKFLOWS, history="all"):
            pass


async def test_deltas_rebuild_every_checkpoint_of_a_growing_state(store_url: str) -> None:
    rounds = 24
    async with Engine(store_url, WORKFLOWS, history="all") as engine:
        handle = await engine.start("talk", rounds=rounds)
        for _ in range(rounds):
            request = await asked(engine, handle.run_id)
            await engine.respond(request.request_id, f"answer {request.request_id[-6:]}")
        assert await handle == rounds
        stored = await engine.store.list_checkpoints(handle.run_id)  # type: ignore[attr-defined]
        assert {c.kind for c in stored} == {"full", "delta"}
        previous: list[Any] = []
        for checkpoint in await engine.checkpoints(handle.run_id):
            messages = (await engine.checkpoint(handle.run_id, checkpoint.seq)).state["messages"]
            assert messages[: len(previous)] == previous  # only ever grows
            assert [m["turn"] for m in messages] == list(range(1, len(messages) + 1))
            previous = messages
        assert len(previous) == rounds
        last = await engine.checkpoint(handle.run_id, stored[-1].seq)
        assert last.snapshot == (await engine.store.get_run(handle.run_id)).snapshot


async def test_a_replay_feeds_the_recorded_answers(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, history="all") as engine:
        handle = await engine.start("review", text="memo")
        request = await asked(engine, handle.run_id)
        waiting = (await engine.checkpoints(handle.run_id))[-1]
        await engine.respond(request.request_id, "yes")
        assert await handle == "memo:yes"
        kept = await engine.checkpoints(handle.run_id)
        streamed = await engine.store.read_stream(handle.run_id)

        same = await engine.replay(handle.run_id)
        assert (same.status, same.result, same.same_result) == ("completed", "memo:yes", True)
        assert same.answers_fed == [request.request_id] and same.answers_unused == []
        assert isinstance(same.events[-1], StopEvent)
        louder = await engine.replay(handle.run_id, waiting.seq, workflow=ShoutingReview())
        assert (louder.result, louder.same_result) == ("MEMO:YES", False)
        assert louder.original_result == "memo:yes"
        # Nothing was stored by the replays.
        assert await engine.checkpoints(handle.run_id) == kept
        assert await engine.store.read_stream(handle.run_id) == streamed

        pending = await engine.start("review", text="later")
        await asked(engine, pending.run_id)
        stuck = await engine.replay(pending.run_id, timeout=10)
        assert (stuck.status, stuck.result, stuck.answers_fed) == ("waiting", None, [])


async def test_edit_and_fork_next_to_a_worker_that_holds_the_run(store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("two engines share a SQL store only")
    holder = Engine(
        store_url,
        WORKFLOWS,
        owner="holder",
        lease_seconds=1.0,
        poll_interval=0.05,
        history="all",
        idle_release_after=0.2,  # a waiting run is dropped and its lease given back
    )
    other = Engine(
        store_url,
        WORKFLOWS,
        owner="other",
        lease_seconds=1.0,
        poll_interval=0.05,
        history="all",
        execute=False,
    )
    async with holder, other:
        handle = await holder.start("review", text="held")
        request = await asked(holder, handle.run_id)
        waiting = (await other.checkpoints(handle.run_id))[-1]
        before = await other.store.get_run(handle.run_id)
        assert before.owner == "holder"

        fork_id = await other.fork(handle.run_id, waiting.seq)  # reads the original only
        after = await other.store.get_run(handle.run_id)
        assert (after.version, after.owner) == (before.version, "holder")

        await other.update_state(handle.run_id, patch={"text": "edited"}, by="ann")
        await other.respond(request.request_id, "yes")
        assert await asyncio.wait_for(other.get(handle.run_id).result(), 30) == "edited:yes"
        await other.respond((await asked(other, fork_id)).request_id, "no")
        assert await asyncio.wait_for(other.get(fork_id).result(), 30) == "held:no"


# -- kill -9 while forking -------------------------------------------------------------------

FORK_WORKER = Path(__file__).resolve().parent / "_fork_worker.py"


async def _fork_until_killed(url: str, run_id: str, seq: int, delay: float) -> list[str]:
    """Run a worker that forks ``run_id`` at ``seq`` in a loop; SIGKILL it after
    ``delay`` seconds; return the fork ids it printed (``fork()`` returned them)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(FORK_WORKER),
        url,
        run_id,
        str(seq),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"open":
            pytest.fail(
                f"fork worker did not open: {line!r} {(await proc.stderr.read())[-2000:]!r}"
            )
        await asyncio.sleep(delay)
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
        out = await proc.stdout.read()
        await proc.wait()
    return [part for part in out.decode().split() if part]


async def _kill9_during_fork(url: str) -> None:
    async with Engine(url, WORKFLOWS, history="waits") as engine:
        original = await engine.start("review", text="kept")
        await asked(engine, original.run_id)
        [waiting] = await engine.checkpoints(original.run_id)
        before = await engine.store.get_run(original.run_id)
    reported: list[str] = []
    for delay in (0.05, 0.2, 0.35, 0.5):
        reported += await _fork_until_killed(url, original.run_id, waiting.seq, delay)
    async with Engine(url, WORKFLOWS, history="waits") as engine:
        links = (await engine.lineage(original.run_id)).forks
        forks = {link.run_id for link in links}
        assert set(reported) <= forks  # every fork() that returned is stored
        runs = {record.run_id: record for record in await engine.runs(limit=100_000)}
        assert set(runs) == forks | {original.run_id}  # no run without its link
        assert await engine.store.get_run(original.run_id) == before  # untouched
        assert await engine.checkpoints(original.run_id) == [waiting]
        for fork_id in forks:  # each one whole: its checkpoint, request and stream
            assert runs[fork_id].status == "waiting"
            [first] = await engine.checkpoints(fork_id)
            assert first.forked_from == waiting.checkpoint_id
            [request] = await engine.inbox(run_id=fork_id)
            entries = await engine.store.read_stream(fork_id, after=0)
            assert [e.seq for e in entries] == [1]
        sample = sorted(forks)[:5]
        for fork_id in sample:
            [request] = await engine.inbox(run_id=fork_id)
            await engine.respond(request.request_id, fork_id[:4])
        for fork_id in sample:
            assert await asyncio.wait_for(engine.get(fork_id).result(), 30) == f"kept:{fork_id[:4]}"
    assert reported, "no fork was made before the kills"


@pytest.mark.timeout(240)
async def test_kill9_during_fork_loses_nothing_sqlite(tmp_path: Path) -> None:
    await _kill9_during_fork(f"sqlite:///{tmp_path / 'runs.db'}")


@pytest.mark.timeout(240)
async def test_kill9_during_fork_loses_nothing_postgres(postgres_schema_url: str) -> None:
    await _kill9_during_fork(postgres_schema_url)
