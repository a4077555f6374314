"""The written snapshot layout: which keys, in which order, for each format version.

Snapshots are stored and compared as JSON text, so the key order is part of the format:
these tests pin it for version 1 (a run waiting for a person, with a queued event and a
collect buffer), version 2 (an open collection stream) and version 3 (a join call
waiting with its batch). The layout is declared once (``workflows._snapshot_layout``);
a declaration that cannot be written in order is refused when its writer is built.
"""

from __future__ import annotations

from typing import Annotated

import pytest

from _flows import Answer, Ask, Item, Result, Review, WaitingJoin, answerable
from _runs import paused_snapshot
from workflows import Context, Workflow, step
from workflows._snapshot_layout import _Scope, _Strict, writer_of
from workflows.events import StartEvent, StopEvent

V1_KEYS = [
    "format_version",
    "serializer",
    "workflow",
    "run_id",
    "started",
    "stop_event",
    "state",
    "queues",
    "in_flight",
    "waiters",
    "collect",
    "stream_seq",
    "next_invocation_id",
    "pending_prompts",
]
QUEUED_KEYS = ["event", "lineage"]
IN_FLIGHT_KEYS = [
    "id",
    "step",
    "event",
    "lineage",
    "attempts",
    "emits_done",
    "writes_done",
    "prompted",
    "first_started_at",
    "last_error",
    "last_failed_at",
]
WAITER_KEYS = [
    "key",
    "invocation_id",
    "event_type",
    "requirements",
    "waiter_id",
    "waiter_event",
    "emitted",
    "resolved",
    "deadline",
]


class Waiting(Workflow):
    """Item 1 waits for an answer while item 2 queues behind it; Result 0 is collected."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Item | Result | None:
        ctx.send_event(Result(n=0))
        ctx.send_event(Item(n=1))
        ctx.send_event(Item(n=2))
        return None

    @step(num_workers=1)
    async def ask(self, ctx: Context, ev: Item) -> Result:
        answer = await ctx.wait_for_event(
            Answer, waiter_event=Ask(n=ev.n), waiter_id=f"q{ev.n}", requirements={"n": ev.n}
        )
        return Result(n=answer.n)

    @step
    async def gather(self, ctx: Context, ev: Result) -> StopEvent | None:
        done = ctx.collect_events(ev, [Result] * 3)
        return None if done is None else StopEvent(result=[d.n for d in done])


async def test_version_1_writes_its_keys_in_the_declared_order() -> None:
    data = await paused_snapshot(answerable(Waiting), queued=1, buffered=1)
    assert list(data) == V1_KEYS
    assert data["format_version"] == 1
    [queued] = data["queues"]["ask"]
    assert list(queued) == QUEUED_KEYS
    [running] = data["in_flight"]
    assert list(running) == IN_FLIGHT_KEYS
    [waiter] = data["waiters"]
    assert list(waiter) == WAITER_KEYS
    assert (waiter["waiter_id"], waiter["requirements"]) == ("q1", {"n": 1})
    assert [list(ev) for ev in data["collect"].popitem()[1]] == [["$event", "data"]]


async def test_version_2_adds_streams_last_and_scope_after_an_entry() -> None:
    data = await paused_snapshot(answerable(Review))
    assert list(data) == [*V1_KEYS, "streams"]
    assert data["format_version"] == 2
    [running] = data["in_flight"]
    assert list(running) == [*IN_FLIGHT_KEYS, "scope"]
    [stream] = data["streams"].values()
    assert list(stream) == ["source", "scope", "open", "buffers"]
    assert running["scope"] == list(data["streams"])


async def test_version_3_adds_joins_last_and_bound_after_an_entry() -> None:
    data = await paused_snapshot(answerable(WaitingJoin))
    assert list(data) == [*V1_KEYS, "joins"]
    assert data["format_version"] == 3
    [running] = data["in_flight"]
    assert list(running) == [*IN_FLIGHT_KEYS, "bound"]
    assert [ev["data"]["n"] for ev in running["bound"]] == [1, 2]
    assert [ev["data"]["n"] for ev in data["joins"]["join"]] == [3]


def test_a_field_always_written_cannot_follow_one_that_may_be_left_out() -> None:
    class Misordered(_Strict):
        scope: Annotated[list[str], _Scope()] = []
        lineage: int

    with pytest.raises(TypeError, match="Misordered.lineage: follows a field that may be left"):
        writer_of(Misordered)
