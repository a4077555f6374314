"""Join steps: a step with several event parameters fires once one event per slot is there.

Behaviour follows llama-index-workflows 2.26.1 (``collect_params``): every declared type is
routed to the step; the events wait in a buffer (per step, per run); a batch takes, in
declaration order, the oldest event fitting each parameter (backtracking when subclasses
make one event fit several); the others wait for the next batch. Every test builds real
workflows and goes through the public API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from _flows import A, Answer, Ask, B, Fan, Item, Pair, WaitingJoin, answerable
from _runs import (
    answered_after_release,
    answered_after_restart,
    paused_snapshot,
    restore,
    result_of,
    resume,
)
from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.decorators import catch_error, make_step_function
from workflows.errors import ContextSerdeError, WorkflowValidationError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed


class SubA(A):
    pass


class Pairs(Workflow):
    """Sends the start event's ``events`` one by one; pairs them; stops after ``pairs``."""

    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | B | None:
        for event in ev.events:
            ctx.send_event(event)
        return None

    @step(num_workers=1)
    async def join(self, a: A, b: B) -> Pair:
        return Pair(a=a.n, b=b.n)

    @step(num_workers=1)
    async def gather(self, ctx: Context, ev: Pair) -> StopEvent | None:
        pairs = [*await ctx.store.get("seen", default=[]), (ev.a, ev.b)]
        await ctx.store.set("seen", pairs)
        if len(pairs) < await ctx.store.get("expected"):
            return None
        return StopEvent(result=pairs)


async def pairs_of(events: list[Event], expected: int) -> Any:
    wf = Pairs(timeout=TIMEOUT)
    ctx = Context(wf)
    await ctx.store.set("expected", expected)
    return await asyncio.wait_for(wf.run(ctx=ctx, events=events), TIMEOUT)


# --- firing ---------------------------------------------------------------------------------


async def test_a_join_fires_once_one_event_per_parameter_has_arrived() -> None:
    assert await pairs_of([A(n=1), B(n=10)], 1) == [(1, 10)]
    assert await pairs_of([B(n=10), A(n=1)], 1) == [(1, 10)]


async def test_the_oldest_events_form_a_batch_and_the_rest_wait_for_the_next() -> None:
    events: list[Event] = [A(n=1), A(n=2), B(n=10), A(n=3), B(n=20)]
    assert await pairs_of(events, 2) == [(1, 10), (2, 20)]


async def test_events_left_over_when_the_run_ends_are_dropped_with_it() -> None:
    wf = Pairs(timeout=TIMEOUT)
    ctx = Context(wf)
    await ctx.store.set("expected", 1)
    assert await asyncio.wait_for(wf.run(ctx=ctx, events=[A(n=1), A(n=2), B(n=3)]), 5) == [(1, 3)]
    # A new run of the same context starts with an empty buffer: A(n=2) is gone.
    await ctx.store.set("seen", [])
    handler = wf.run(ctx=ctx, events=[B(n=4), A(n=5)])
    assert await asyncio.wait_for(handler, 5) == [(5, 4)]


class SameType(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | None:
        for n in ev.ns:
            ctx.send_event(A(n=n))
        return None

    @step
    async def join(self, first: A, second: A, third: A) -> StopEvent:
        return StopEvent(result=(first.n, second.n, third.n))


async def test_parameters_of_one_type_take_the_events_in_arrival_order() -> None:
    assert await result_of(SameType(), ns=[3, 1, 2, 9]) == (3, 1, 2)


class Subclasses(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | SubA | None:
        for event in ev.events:
            ctx.send_event(event)
        return None

    @step(accept_event_subclasses=True)
    async def join(self, base: A, sub: SubA) -> StopEvent:
        return StopEvent(result=(type(base).__name__, base.n, type(sub).__name__, sub.n))


async def test_with_subclasses_an_earlier_choice_gives_way_when_a_later_slot_needs_it() -> None:
    # SubA(1) fits both slots: taken for `base` it would leave `sub` empty.
    assert await result_of(Subclasses(), events=[SubA(n=1), A(n=2)]) == ("A", 2, "SubA", 1)
    assert await result_of(Subclasses(), events=[SubA(n=1), SubA(n=2)]) == ("SubA", 1, "SubA", 2)
    assert await result_of(Subclasses(), events=[A(n=1), A(n=2), SubA(n=3)]) == ("A", 1, "SubA", 3)


async def test_without_accept_event_subclasses_a_subclass_is_not_routed_to_a_join() -> None:
    class Exact(Workflow):
        @step
        async def send(self, ctx: Context, ev: StartEvent) -> A | SubA | B | None:
            ctx.send_event(SubA(n=1))
            ctx.send_event(B(n=2))
            ctx.send_event(A(n=3))
            return None

        @step
        async def join(self, a: A, b: B) -> StopEvent:
            return StopEvent(result=(type(a).__name__, a.n, b.n))

        @step
        async def sub(self, ev: SubA) -> None:
            return None

    assert await result_of(Exact()) == ("A", 3, 2)


class StartSlot(Workflow):
    @step
    async def produce(self, ev: StartEvent) -> A:
        return A(n=5)

    @step
    async def join(self, start: StartEvent, a: A) -> StopEvent:
        return StopEvent(result=(start.v, a.n))


async def test_the_start_event_can_fill_a_slot() -> None:
    assert await result_of(StartSlot(), v=1) == (1, 5)


class Targeted(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | B | None:
        ctx.send_event(A(n=1), step="join")
        ctx.send_event(B(n=2), step="join")
        return None

    @step
    async def join(self, a: A, b: B) -> StopEvent:
        return StopEvent(result=(a.n, b.n))


async def test_an_event_sent_to_a_join_step_by_name_waits_in_its_buffer() -> None:
    assert await result_of(Targeted()) == (1, 2)


class Outside(Workflow):
    @step
    async def start(self, ev: StartEvent) -> A:
        return A(n=1)

    @step
    async def join(self, a: A, answer: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=(a.n, answer.response))


async def test_an_event_from_outside_fills_a_slot() -> None:
    handler = Outside(timeout=TIMEOUT).run()
    handler.ctx.send_event(HumanResponseEvent(response="yes"))
    assert await asyncio.wait_for(handler, TIMEOUT) == (1, "yes")


class Concurrent(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | B | None:
        for n in range(4):
            ctx.send_event(A(n=n))
            ctx.send_event(B(n=n))
        return None

    @step(num_workers=2)
    async def join(self, ctx: Context, a: A, b: B) -> Pair:
        running = await ctx.store.get("running", default=0) + 1
        await ctx.store.set("running", running)
        peak = max(await ctx.store.get("peak", default=0), running)
        await ctx.store.set("peak", peak)
        await asyncio.sleep(0.02)
        await ctx.store.set("running", await ctx.store.get("running") - 1)
        return Pair(a=a.n, b=b.n)

    @step
    async def gather(self, ctx: Context, ev: Pair) -> StopEvent | None:
        got = ctx.collect_events(ev, [Pair] * 4)
        if got is None:
            return None
        return StopEvent(result=(sorted((p.a, p.b) for p in got), await ctx.store.get("peak")))


async def test_full_batches_run_concurrently_up_to_num_workers() -> None:
    pairs, peak = await result_of(Concurrent())
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert peak == 2


class Retried(Workflow):
    @step
    async def send(self, ctx: Context, ev: StartEvent) -> A | B | None:
        ctx.send_event(A(n=1))
        ctx.send_event(B(n=2))
        return None

    @step(retry_policy=retry_policy(wait=wait_fixed(0.01), stop=stop_after_attempt(2)))
    async def join(self, ctx: Context, a: A, b: B) -> StopEvent:
        calls = await ctx.store.get("calls", default=[])
        await ctx.store.set("calls", [*calls, (a.n, b.n)])
        raise ValueError("boom")

    @catch_error
    async def recover(self, ctx: Context, ev: StepFailedEvent) -> StopEvent:
        return StopEvent(
            result=(
                await ctx.store.get("calls"),
                ev.step_name,
                type(ev.input_event).__name__,
                ev.attempts,
            )
        )


async def test_a_retry_calls_the_join_with_the_same_batch_and_a_handler_sees_the_last_event() -> (
    None
):
    calls, step_name, input_type, attempts = await result_of(Retried())
    assert calls == [(1, 2), (1, 2)]
    assert (step_name, input_type, attempts) == ("join", "B", 2)


# --- inside collection streams ------------------------------------------------------------


class InStream(Fan):
    """Each item becomes an A (odd) or a B (even); the join pairs them in the stream."""

    @step
    async def work(self, ev: Item) -> A | B:
        return A(n=ev.n) if ev.n % 2 else B(n=ev.n)

    @step
    async def join(self, a: A, b: B) -> Pair:
        await asyncio.sleep(0.005)
        return Pair(a=a.n, b=b.n)

    @step
    async def gather(self, pairs: list[Pair]) -> StopEvent:
        return StopEvent(result=sorted((p.a, p.b) for p in pairs))


async def test_a_join_inside_a_fan_out_stream_feeds_its_collector() -> None:
    assert await result_of(InStream(), count=4) == [(1, 0), (3, 2)]
    # An unmatched member is finished for the stream: the collector still fires.
    assert await result_of(InStream(), count=3) == [(1, 0)]
    assert await result_of(InStream(), count=1) == []


# --- signatures and validation --------------------------------------------------------------


def test_step_config_lists_the_join_parameters() -> None:
    config = Pairs.join._step_config  # type: ignore[attr-defined]
    assert config.collect_params == [("a", A), ("b", B)]
    assert config.accepted_events == [A, B]
    assert config.event_name == "a"
    same = SameType.join._step_config  # type: ignore[attr-defined]
    assert same.accepted_events == [A, A, A]
    assert same.collect_params == [("first", A), ("second", A), ("third", A)]
    assert Pairs.gather._step_config.collect_params is None  # type: ignore[attr-defined]


def test_make_step_function_reads_a_join() -> None:
    async def join(a: A, b: B | None) -> StopEvent:
        return StopEvent()

    config = make_step_function(join)._step_config
    assert config.collect_params == [("a", A), ("b", B)]


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("async def j(self, a: A | SubA, b: B) -> StopEvent: ...", "'a'"),
        ("async def j(self, a: A, b: list[B]) -> StopEvent: ...", "cannot be combined"),
        ("async def j(self, b: list[B], a: A) -> StopEvent: ...", "cannot be combined"),
    ],
)
def test_a_join_signature_that_cannot_work_is_refused_when_the_class_is_created(
    signature: str, message: str
) -> None:
    namespace: dict[str, Any] = {
        "A": A,
        "B": B,
        "SubA": SubA,
        "StopEvent": StopEvent,
        "Workflow": Workflow,
        "step": step,
    }
    with pytest.raises(WorkflowValidationError, match=message) as info:
        exec(f"class Bad(Workflow):\n    @step\n    {signature}", namespace)
    assert "'j'" in str(info.value)


def test_a_catch_error_handler_cannot_be_a_join() -> None:
    with pytest.raises(WorkflowValidationError, match="StepFailedEvent"):

        class Bad(Workflow):
            @step
            async def start(self, ev: StartEvent) -> StopEvent:
                return StopEvent()

            @catch_error
            async def handler(self, failed: StepFailedEvent, a: A) -> StopEvent:
                return StopEvent()


def test_a_join_whose_slots_are_produced_at_different_stream_levels_is_refused() -> None:
    class Stranded(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[A]:
            return [A()]

        @step
        async def top(self, ev: StartEvent) -> B:
            return B()

        @step
        async def join(self, a: A, b: B) -> Pair:
            return Pair(a=a.n, b=b.n)

        @step
        async def total(self, pairs: list[Pair]) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowValidationError) as info:
        Stranded().validate()
    message = str(info.value)
    assert "'join'" in message
    assert "'a' (A) at the stream of step 'fan'" in message
    assert "'b' (B) at the top level" in message


def test_a_join_slot_no_step_produces_is_reported() -> None:
    class Never(Workflow):
        @step
        async def start(self, ev: StartEvent) -> A:
            return A()

        @step
        async def join(self, a: A, b: B) -> StopEvent:
            return StopEvent()

    with pytest.raises(WorkflowValidationError, match="'b' \\(B\\) at no level"):
        Never().validate()


def test_a_sound_join_validates_and_its_events_count_as_consumed() -> None:
    assert Pairs().validate() is False
    assert InStream().validate() is False
    drawn = Pairs().draw_mermaid()
    assert "event_A --> step_join" in drawn and "event_B --> step_join" in drawn


# --- snapshots ---------------------------------------------------------------------------


class Approvals(Workflow):
    """``join`` pairs an A with an approved B; approving waits for a person."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> A | Item | None:
        ctx.send_event(A(n=1))
        ctx.send_event(A(n=2))
        ctx.send_event(Item(n=7))
        return None

    @step
    async def approve(self, ctx: Context, ev: Item) -> B:
        answer = await ctx.wait_for_event(Answer, waiter_event=Ask(n=ev.n), timeout=None)
        return B(n=ev.n * 10 + answer.n)

    @step
    async def join(self, ctx: Context, a: A, b: B) -> StopEvent:
        return StopEvent(result=(a.n, b.n, await ctx.store.get("note", default=None)))


async def test_buffered_join_events_snapshot_restore_and_resume_in_memory() -> None:
    data = await paused_snapshot(answerable(Approvals))
    assert data["format_version"] == 3
    assert [ev["data"]["n"] for ev in data["joins"]["join"]] == [1, 2]
    assert "streams" not in data

    again = answerable(Approvals)
    restored = restore(again, data)
    await restored.store.set("note", "restored")
    assert await resume(again, restored, Answer(n=3)) == (1, 73, "restored")


async def test_a_join_call_paused_in_wait_for_event_resumes_with_its_batch() -> None:
    data = await paused_snapshot(answerable(WaitingJoin))
    assert data["format_version"] == 3
    [waiting] = data["in_flight"]
    assert [ev["data"]["n"] for ev in waiting["bound"]] == [1, 2]
    assert waiting["event"]["data"]["n"] == 2  # the event that completed the batch
    assert [ev["data"]["n"] for ev in data["joins"]["join"]] == [3]
    # The step runs again with its batch; its question was asked before the snapshot.
    assert await resume(answerable(WaitingJoin), data, Answer(n=9)) == (1, 2, 9, 2)


async def test_a_snapshot_with_no_join_pending_keeps_the_older_format() -> None:
    class Idle(Workflow):
        @step
        async def start(self, ctx: Context, ev: StartEvent) -> A | None:
            await ctx.wait_for_event(Answer, waiter_event=Ask(n=0), timeout=None)
            return A(n=1)

        @step
        async def join(self, a: A, answer: Answer) -> StopEvent:
            return StopEvent(result=a.n)

    data = await paused_snapshot(answerable(Idle))
    assert data["format_version"] == 1
    assert "joins" not in data
    assert all("bound" not in inv for inv in data["in_flight"])


class StreamJoin(Workflow):
    """Inside a fan-out, an A waits in the join while the branch making B waits for a person."""

    @step
    async def fan(self, ev: StartEvent) -> list[Item]:
        return [Item(n=0), Item(n=1)]

    @step
    async def split(self, ctx: Context, ev: Item) -> A | B:
        if ev.n == 0:
            return A(n=0)
        answer = await ctx.wait_for_event(Answer, waiter_event=Ask(n=1), timeout=None)
        return B(n=answer.n)

    @step
    async def join(self, a: A, b: B) -> Pair:
        return Pair(a=a.n, b=b.n)

    @step
    async def total(self, pairs: list[Pair]) -> StopEvent:
        return StopEvent(result=[(p.a, p.b) for p in pairs])


async def test_a_pending_join_inside_an_open_stream_snapshots_both() -> None:
    wf = answerable(StreamJoin)
    data = await paused_snapshot(wf)
    assert data["format_version"] == 3
    [stream] = data["streams"].values()
    assert stream["open"] == 1  # the waiting branch; the buffered A is finished
    assert [ev["data"]["n"] for ev in data["joins"]["join"]] == [0]
    assert await resume(wf, data, Answer(n=5)) == [(0, 5)]


@pytest.fixture
async def join_snapshot() -> dict[str, Any]:
    return await paused_snapshot(answerable(WaitingJoin))


def _first_bound(data: dict[str, Any]) -> list[Any]:
    bound: list[Any] = data["in_flight"][0]["bound"]
    return bound


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(format_version=1), "joins: not allowed in format_version 1"),
        (lambda d: d.update(format_version=2, streams={}), "joins: not allowed"),
        (lambda d: d.pop("joins") and d.update(format_version=1), "bound: not allowed"),
        (lambda d: d["joins"].update(start=[]), "no join step 'start'"),
        (lambda d: _first_bound(d).pop(), "does not join 1 events"),
        (lambda d: _first_bound(d).reverse(), "does not fit parameter 'a'"),
        (lambda d: d["in_flight"][0].pop("bound"), "needs bound"),
        (lambda d: d["in_flight"][0].update(step="start"), "does not join 2 events"),
    ],
)
def test_a_damaged_join_snapshot_is_refused_with_the_reason(
    join_snapshot: dict[str, Any], damage: Any, message: str
) -> None:
    damage(join_snapshot)
    with pytest.raises(ContextSerdeError, match=message):
        restore(answerable(WaitingJoin), join_snapshot)


def test_a_join_buffer_holding_an_event_the_step_does_not_take_is_refused(
    join_snapshot: dict[str, Any],
) -> None:
    key = join_snapshot["in_flight"][0]["bound"][0]["$event"]
    assert key.endswith(".A")
    answer = {"$event": key[: -len("A")] + "Answer", "data": {"n": 1, "response": "x"}}
    join_snapshot["joins"]["join"].append(answer)
    with pytest.raises(ContextSerdeError, match="takes no Answer"):
        restore(answerable(WaitingJoin), join_snapshot)


# --- the durable engine ----------------------------------------------------------------------


class DurableApprovals(Approvals):
    """Approving asks the engine's inbox (a plain HumanResponseEvent answers)."""

    @step
    async def approve(self, ctx: Context, ev: Item) -> B:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="ok?"), timeout=None
        )
        return B(n=len(answer.response))

    @step
    async def join(self, a: A, b: B) -> StopEvent:
        return StopEvent(result=(a.n, b.n))


class DurableWaitingJoin(WaitingJoin):
    """The join call asks the engine's inbox (a plain HumanResponseEvent answers)."""

    @step
    async def join(self, ctx: Context, a: A, b: B) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="pair?"), timeout=None
        )
        return StopEvent(result=(a.n, b.n, answer.response))


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [(DurableApprovals, (1, 3)), (DurableWaitingJoin, (1, 2, "yes"))],
)
async def test_the_engine_resumes_a_pending_join_after_a_restart(
    tmp_path: Path, workflow: type[Workflow], expected: Any
) -> None:
    assert await answered_after_restart(tmp_path, workflow(timeout=None), "yes") == expected


async def test_the_engine_releases_a_run_with_a_pending_join_and_loads_it_on_answer(
    tmp_path: Path,
) -> None:
    result = await answered_after_release(tmp_path, DurableApprovals(timeout=None), "later")
    assert result == (1, 5)
