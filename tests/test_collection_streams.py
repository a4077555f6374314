"""Collection streams: a step returning ``list[E]`` fans out, a ``list[E]`` parameter fans in.

Behaviour follows llama-index-workflows 2.26.1 (``workflows.collect``): each returned
element is dispatched on its own and everything it leads to forms one stream; a collector
fires once per stream, with ``All()`` when the stream has ended and with ``Take(n)`` at
the n-th arrival. Every test builds real workflows and goes through the public API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from _flows import Answer, Ask, Fan, Item, Result, Review, answerable
from _runs import (
    answered_after_release,
    answered_after_restart,
    first_prompt,
    paused_snapshot,
    restore,
    result_of,
    resume,
    settled,
)
from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.collect import All, Cardinality, Collect, Take
from workflows.decorators import catch_error
from workflows.errors import ContextSerdeError, WorkflowRuntimeError, WorkflowValidationError
from workflows.events import (
    CollectionReleaseEvent,
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from workflows.retry_policy import retry_policy, stop_after_attempt, wait_fixed


class Other(Event):
    n: int


class Part(Event):
    item: int
    part: int


class PartDone(Event):
    item: int
    part: int


class ItemDone(Event):
    item: int
    parts: list[int]


class Again(Event):
    round: int


# --- fan-out and All() -------------------------------------------------------------------


class Squares(Fan):
    @step
    async def work(self, ev: Item) -> Result:
        return Result(n=ev.n * ev.n)


async def test_each_element_runs_on_its_own_and_the_collector_gets_them_all() -> None:
    assert await result_of(Squares(), count=4) == [0, 1, 4, 9]


async def test_a_branch_that_produces_nothing_is_left_out() -> None:
    class Skipping(Squares):
        @step
        async def work(self, ev: Item) -> Result | None:
            return None if ev.n % 2 else Result(n=ev.n)

    assert await result_of(Skipping(), count=5) == [0, 2, 4]


async def test_an_empty_list_fires_the_collector_with_an_empty_list() -> None:
    assert await result_of(Squares(), count=0) == []


async def test_a_stream_whose_branches_all_produce_nothing_fires_with_an_empty_list() -> None:
    class Nothing(Squares):
        @step
        async def work(self, ev: Item) -> Result | None:
            return None

    assert await result_of(Nothing(), count=3) == []


class Ordered(Fan):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last = asyncio.Event()

    @step
    async def work(self, ev: Item) -> Result:
        if ev.n == 0:
            await self.last.wait()
        if ev.n == 2:
            self.last.set()
        return Result(n=ev.n)

    @step
    async def gather(self, results: list[Result]) -> StopEvent:
        return StopEvent(result=[r.n for r in results])


async def test_the_collector_gets_events_in_arrival_order() -> None:
    assert await result_of(Ordered()) == [1, 2, 0]


async def test_members_can_be_gathered_directly_and_explicit_all_is_the_default() -> None:
    class Direct(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Item]:
            return [Item(n=i) for i in range(3)]

        @step
        async def gather(self, items: Annotated[list[Item], Collect(All())]) -> StopEvent:
            return StopEvent(result=sorted(i.n for i in items))

    assert await result_of(Direct()) == [0, 1, 2]


async def test_a_union_list_gathers_every_member_type() -> None:
    class Mixed(Fan):
        @step
        async def work(self, ev: Item) -> Result | Other:
            return Result(n=ev.n) if ev.n % 2 else Other(n=ev.n)

        @step
        async def gather(self, found: list[Result | Other]) -> StopEvent:
            return StopEvent(result=sorted((type(e).__name__, e.n) for e in found))

    assert await result_of(Mixed(), count=4) == [
        ("Other", 0),
        ("Other", 2),
        ("Result", 1),
        ("Result", 3),
    ]


async def test_several_collectors_of_one_stream_each_fire_once() -> None:
    class Both(Fan):
        @step
        async def items(self, found: list[Item]) -> Other:
            return Other(n=len(found))

        @step
        async def gather(self, found: list[Result]) -> Again:
            return Again(round=sum(r.n for r in found))

        @step
        async def end(self, ctx: Context, ev: Other | Again) -> StopEvent | None:
            got = ctx.collect_events(ev, [Other, Again])
            return None if got is None else StopEvent(result=[e.model_dump() for e in got])

    assert await result_of(Both()) == [{"n": 3}, {"round": 3}]


# --- Take(n) -------------------------------------------------------------------------------


class Fastest(Workflow):
    @step(num_workers=1)
    async def fan(self, ev: StartEvent) -> list[Item]:
        return [Item(n=i) for i in range(ev.get("count", 5))]

    @step(num_workers=1)
    async def work(self, ev: Item) -> Result:
        return Result(n=ev.n)

    @step
    async def first_two(
        self, ctx: Context, results: Annotated[list[Result], Collect(Take(2))]
    ) -> None:
        async with ctx.store.edit_state() as state:
            state["fired"] = [*state.get("fired", []), [r.n for r in results]]

    @step
    async def everything(self, ctx: Context, results: list[Result]) -> StopEvent:
        return StopEvent(result=(await ctx.store.get("fired", []), [r.n for r in results]))


async def test_take_fires_once_with_the_first_n_and_drops_later_arrivals() -> None:
    fired, everything = await result_of(Fastest(), count=5)
    assert fired == [[0, 1]]
    assert everything == [0, 1, 2, 3, 4]


async def test_take_fires_with_what_arrived_when_the_stream_ends_first() -> None:
    assert await result_of(Fastest(), count=1) == ([[0]], [0])
    assert await result_of(Fastest(), count=0) == ([[]], [])


# --- what a fan-out step may return ---------------------------------------------------------


class EitherWay(Workflow):
    @step
    async def fan(self, ev: StartEvent) -> list[Item] | Other:
        if ev.get("alone"):
            return Other(n=7)
        return [Item(n=1), Item(n=2)]

    @step
    async def gather(self, items: list[Item]) -> StopEvent:
        return StopEvent(result=[i.n for i in items])

    @step
    async def other(self, ev: Other) -> StopEvent:
        return StopEvent(result=f"alone {ev.n}")


async def test_a_declared_bare_member_is_ordinary_dispatch() -> None:
    assert await result_of(EitherWay()) == [1, 2]
    assert await result_of(EitherWay(), alone=True) == "alone 7"


class BadFan(Workflow):
    """``fan``, declared to return ``list[Item]``, returns the start event's ``value``."""

    @step
    async def fan(self, ev: StartEvent) -> list[Item]:
        value: list[Item] = ev.value
        return value

    @step
    async def gather(self, items: list[Item]) -> StopEvent:
        return StopEvent(result=len(items))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(Item(n=1), "bare Item", id="a bare event declared only inside the list"),
        pytest.param([Item(n=1), 5], "list holding a int", id="a list holding a non-event"),
    ],
)
async def test_a_fan_out_return_that_is_not_a_list_of_events_fails_the_run(
    value: Any, message: str
) -> None:
    with pytest.raises(WorkflowRuntimeError, match=message):
        await result_of(BadFan(), value=value)


async def test_a_bad_list_return_is_a_step_failure_an_error_handler_sees() -> None:
    class Handled(BadFan):
        @catch_error
        async def recover(self, ev: StepFailedEvent) -> StopEvent:
            return StopEvent(result=(ev.step_name, str(ev.exception)))

    name, message = await result_of(Handled(), value=[Item(n=1), "two"])
    assert name == "fan" and "list holding a str" in message


async def test_a_stop_event_in_a_branch_ends_the_run() -> None:
    class Early(Fan):
        @step
        async def work(self, ev: Item) -> Result | StopEvent:
            if ev.n == 1:
                return StopEvent(result="early")
            await asyncio.sleep(0.05)
            return Result(n=ev.n)

    assert await result_of(Early()) == "early"


# --- nested, repeated and parallel streams ------------------------------------------------


class Nested(Workflow):
    @step
    async def fan(self, ev: StartEvent) -> list[Item]:
        return [Item(n=i) for i in range(3)]

    @step
    async def split(self, ev: Item) -> list[Part]:
        return [Part(item=ev.n, part=j) for j in range(ev.n + 1)]

    @step
    async def work(self, ev: Part) -> PartDone:
        await asyncio.sleep(0.001 * ((ev.item + ev.part) % 3))
        return PartDone(item=ev.item, part=ev.part)

    @step
    async def inner(self, parts: list[PartDone]) -> ItemDone:
        return ItemDone(item=parts[0].item, parts=sorted(p.part for p in parts))

    @step
    async def outer(self, items: list[ItemDone]) -> StopEvent:
        return StopEvent(result=sorted((i.item, i.parts) for i in items))


async def test_nested_fan_outs_gather_each_inner_stream_then_the_outer_one() -> None:
    assert await result_of(Nested()) == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]


def test_stream_levels_follow_the_reference() -> None:
    from workflows.representation.validate import stream_level_types_by_producer

    levels = stream_level_types_by_producer(Nested().steps)
    # As llama-index-workflows 2.26.1 computes them for the same workflow.
    assert levels == {"fan": {Item, ItemDone}, "split": {Part, PartDone}}


async def test_repeated_fan_outs_in_one_run_each_open_their_own_stream() -> None:
    class Rounds(Workflow):
        @step
        async def fan(self, ctx: Context, ev: StartEvent | Again) -> list[Item]:
            r = ev.round if isinstance(ev, Again) else 0
            return [Item(n=r * 10 + i) for i in range(r + 1)]

        @step
        async def work(self, ev: Item) -> Result:
            return Result(n=ev.n)

        @step
        async def gather(self, ctx: Context, results: list[Result]) -> Again | StopEvent:
            found = sorted(r.n for r in results)
            async with ctx.store.edit_state() as state:
                state["rounds"] = [*state.get("rounds", []), found]
            if len(found) == 3:
                return StopEvent(result=await ctx.store.get("rounds"))
            return Again(round=len(found))

    assert await result_of(Rounds()) == [[0], [10, 11], [20, 21, 22]]


async def test_two_streams_of_the_same_step_open_at_once_are_kept_apart() -> None:
    class Parallel(Workflow):
        @step
        async def start(self, ctx: Context, ev: StartEvent) -> Other | None:
            ctx.send_event(Other(n=1))
            ctx.send_event(Other(n=2))
            return None

        @step
        async def fan(self, ev: Other) -> list[Item]:
            return [Item(n=ev.n * 10 + i) for i in range(ev.n)]

        @step
        async def work(self, ev: Item) -> Result:
            await asyncio.sleep(0.005 * (ev.n % 10))
            return Result(n=ev.n)

        @step
        async def gather(self, results: list[Result]) -> Again:
            return Again(round=sum(r.n for r in results))

        @step
        async def end(self, ctx: Context, ev: Again) -> StopEvent | None:
            got = ctx.collect_events(ev, [Again, Again])
            return None if got is None else StopEvent(result=sorted(e.round for e in got))

    assert await result_of(Parallel()) == [10, 41]


async def test_a_collector_may_fan_out_again() -> None:
    class Twice(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Item]:
            return [Item(n=i) for i in range(3)]

        @step
        async def regroup(self, items: list[Item]) -> list[Part]:
            return [Part(item=i.n, part=i.n * 2) for i in items]

        @step
        async def work(self, ev: Part) -> PartDone:
            return PartDone(item=ev.item, part=ev.part)

        @step
        async def gather(self, done: list[PartDone]) -> StopEvent:
            return StopEvent(result=sorted(d.part for d in done))

    assert await result_of(Twice()) == [0, 2, 4]


async def test_subclasses_are_gathered_by_a_step_that_accepts_them() -> None:
    class Special(Result):
        pass

    class Sub(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Special]:
            return [Special(n=1), Special(n=2)]

        @step(accept_event_subclasses=True)
        async def gather(self, found: list[Result]) -> StopEvent:
            return StopEvent(result=[type(e).__name__ for e in found])

    assert await result_of(Sub()) == ["Special", "Special"]


# --- failures inside a stream -------------------------------------------------------------


async def test_a_retried_branch_still_counts_once() -> None:
    class Flaky(Fan):
        @step(retry_policy=retry_policy(wait=wait_fixed(0.001), stop=stop_after_attempt(3)))
        async def work(self, ctx: Context, ev: Item) -> Result:
            if ev.n == 1 and ctx.retry_info().retry_number < 2:
                raise ValueError("again")
            return Result(n=ev.n)

    assert await result_of(Flaky()) == [0, 1, 2]


async def test_a_recovered_branch_rejoins_its_stream() -> None:
    class Recovered(Fan):
        @step
        async def work(self, ev: Item) -> Result:
            if ev.n == 1:
                raise ValueError("bad item")
            return Result(n=ev.n)

        @catch_error
        async def recover(self, ev: StepFailedEvent) -> Result:
            return Result(n=-1)

    assert await result_of(Recovered()) == [-1, 0, 2]


async def test_a_failing_collector_hands_its_batch_to_the_error_handler() -> None:
    class Failing(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Item]:
            return [Item(n=i) for i in range(2)]

        @step
        async def gather(self, items: list[Item]) -> StopEvent:
            raise ValueError("boom")

        @catch_error
        async def recover(self, ev: StepFailedEvent) -> StopEvent:
            batch = ev.input_event
            assert isinstance(batch, CollectionReleaseEvent)
            return StopEvent(result=(ev.step_name, [e.n for e in batch.events]))

    assert await result_of(Failing()) == ("gather", [0, 1])


async def test_events_sent_with_send_event_are_not_gathered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Sends(Fan):
        @step
        async def work(self, ctx: Context, ev: Item) -> Result:
            if ev.n == 0:
                ctx.send_event(Result(n=100))
            return Result(n=ev.n)

    with caplog.at_level(logging.WARNING, logger="workflows"):
        assert await result_of(Sends(), count=2) == [0, 1]
    assert "outside any fan-out stream" in caplog.text


async def test_sending_an_event_to_a_collector_fails_the_run() -> None:
    class Targeted(Fan):
        @step
        async def work(self, ctx: Context, ev: Item) -> Result:
            ctx.send_event(Result(n=100), step="gather")
            return Result(n=ev.n)

    with pytest.raises(WorkflowRuntimeError, match="takes a list"):
        await result_of(Targeted(), count=1)


# --- a branch waiting for a person ---------------------------------------------------------


async def test_a_branch_waiting_for_a_person_holds_its_stream_open() -> None:
    handler = answerable(Review).run()
    assert (await first_prompt(handler)).n == 1
    await settled(handler)
    assert not handler.is_done()
    handler.ctx.send_event(Answer(n=1, text="fine"))
    assert await asyncio.wait_for(handler, TIMEOUT) == [0, 2, 104]


async def test_a_paused_fan_out_snapshots_restores_and_resumes() -> None:
    data = await paused_snapshot(answerable(Review))
    assert data["format_version"] == 2
    [stream] = data["streams"].values()
    assert stream["open"] == 1
    [buffer] = stream["buffers"].values()
    assert sorted(ev["data"]["n"] for ev in buffer) == [0, 2]
    [waiting] = data["in_flight"]
    assert waiting["scope"] == list(data["streams"])
    assert await resume(answerable(Review), data, Answer(n=1, text="ok")) == [0, 2, 102]


class NestedReview(Nested):
    @step
    async def work(self, ctx: Context, ev: Part) -> PartDone:
        if (ev.item, ev.part) == (2, 1):
            await ctx.wait_for_event(Answer, waiter_event=Ask(n=21), requirements={"n": 21})
        return PartDone(item=ev.item, part=ev.part)


async def test_a_paused_nested_fan_out_snapshots_restores_and_resumes() -> None:
    wf = answerable(NestedReview)
    data = await paused_snapshot(wf)
    assert len(data["streams"]) == 2
    assert await resume(wf, data, Answer(n=21)) == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]


class TakeReview(Fan):
    @step
    async def work(self, ctx: Context, ev: Item) -> Result:
        if ev.n == 2:
            await ctx.wait_for_event(Answer, waiter_event=Ask(n=2), requirements={"n": 2})
        return Result(n=ev.n)

    @step
    async def first(self, ctx: Context, found: Annotated[list[Result], Collect(Take(1))]) -> None:
        async with ctx.store.edit_state() as state:
            state["fired"] = [*state.get("fired", []), [r.n for r in found]]

    @step
    async def gather(self, ctx: Context, found: list[Result]) -> StopEvent:
        return StopEvent(result=(await ctx.store.get("fired"), sorted(r.n for r in found)))


async def test_a_take_that_fired_before_the_snapshot_does_not_fire_again() -> None:
    wf = answerable(TakeReview)
    data = await paused_snapshot(wf)
    [stream] = data["streams"].values()
    assert None in stream["buffers"].values()
    fired, everything = await resume(wf, data, Answer(n=2))
    assert len(fired) == 1 and len(fired[0]) == 1
    assert everything == [0, 1, 2]


# --- snapshot format ---------------------------------------------------------------------


async def test_a_snapshot_without_an_open_stream_keeps_format_version_1() -> None:
    class Plain(Workflow):
        @step
        async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
            answer = await ctx.wait_for_event(Answer, waiter_event=Ask(n=0))
            return StopEvent(result=answer.text)

    wf = answerable(Plain)
    handler = wf.run()
    await first_prompt(handler)
    data = handler.ctx.to_dict()
    assert data["format_version"] == 1
    assert "streams" not in data
    assert all("scope" not in inv for inv in data["in_flight"])
    await handler.cancel_run()
    assert await resume(wf, data, Answer(n=0, text="v1")) == "v1"


@pytest.fixture
async def review_snapshot() -> dict[str, Any]:
    return await paused_snapshot(answerable(Review))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.pop("streams"), "streams: required"),
        (lambda d: d.update(format_version=1), "streams: not allowed"),
        (lambda d: d["in_flight"][0].update(scope=["nope"]), "no open stream 'nope'"),
        (
            lambda d: next(iter(d["streams"].values())).update(source="work"),
            "no fan-out step 'work'",
        ),
        (
            lambda d: next(iter(d["streams"].values())).update(buffers={"x": []}),
            "no binding 'x'",
        ),
        (lambda d: next(iter(d["streams"].values())).update(scope=["gone"]), "enclosing"),
        (lambda d: next(iter(d["streams"].values())).update(open=0), "streams"),
    ],
)
async def test_a_damaged_stream_snapshot_is_refused_with_the_reason(
    review_snapshot: dict[str, Any], damage: Any, message: str
) -> None:
    damage(review_snapshot)
    with pytest.raises(ContextSerdeError, match=message):
        restore(answerable(Review), review_snapshot)


async def test_a_stream_with_no_work_left_fails_the_run_instead_of_hanging(
    review_snapshot: dict[str, Any],
) -> None:
    review_snapshot["in_flight"] = []
    review_snapshot["waiters"] = []
    with pytest.raises(WorkflowRuntimeError, match="collection streams are still open"):
        await resume(answerable(Review), review_snapshot)


# --- the durable engine ------------------------------------------------------------------


class DurableReview(Fan):
    """Item 1 asks the engine's inbox (a plain HumanResponseEvent answers)."""

    @step
    async def work(self, ctx: Context, ev: Item) -> Result:
        if ev.n == 1:
            answer = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix="item 1?"),
                timeout=None,
            )
            return Result(n=100 + len(answer.response))
        return Result(n=ev.n)


async def test_the_engine_resumes_a_paused_fan_out_after_a_restart(tmp_path: Path) -> None:
    result = await answered_after_restart(tmp_path, DurableReview(timeout=None), "yes")
    assert result == [0, 2, 103]


async def test_the_engine_releases_a_paused_fan_out_and_loads_it_on_answer(
    tmp_path: Path,
) -> None:
    result = await answered_after_release(tmp_path, DurableReview(timeout=None), "later")
    assert result == [0, 2, 105]


# --- signatures ------------------------------------------------------------------------------


def test_step_config_describes_fan_out_and_fan_in() -> None:
    fan = EitherWay.fan._step_config  # type: ignore[attr-defined]
    assert fan.is_fan_out
    assert fan.return_types == [Item, Other]
    assert fan.bare_return_types == (Other,)
    gather = Fastest.first_two._step_config  # type: ignore[attr-defined]
    assert gather.collection_param == ("results", (Result,))
    assert gather.collection_policy == Collect(Take(2))
    assert gather.accepted_events == [Result]
    plain = Squares.gather._step_config  # type: ignore[attr-defined]
    assert plain.collection_policy == Collect(All())
    assert not Squares.work._step_config.is_fan_out  # type: ignore[attr-defined]


def test_optional_list_annotations_are_accepted() -> None:
    class Optional_(Workflow):
        @step
        async def fan(self, ev: StartEvent) -> list[Item] | None:
            return None

        @step
        async def gather(self, items: list[Item] | None) -> StopEvent:
            return StopEvent(result=items)

    config = Optional_.gather._step_config  # type: ignore[attr-defined]
    assert config.collection_param == ("items", (Item,))
    assert Optional_.fan._step_config.is_fan_out  # type: ignore[attr-defined]


class Weird(Cardinality):
    pass


def _define(body: str) -> None:
    namespace: dict[str, Any] = {
        "Workflow": Workflow,
        "step": step,
        "Annotated": Annotated,
        "AsyncIterator": AsyncIterator,
        "Collect": Collect,
        "Take": Take,
        "Weird": Weird,
        "StartEvent": StartEvent,
        "StopEvent": StopEvent,
        "Item": Item,
        "Result": Result,
        "Other": Other,
    }
    source = "class W(Workflow):\n    @step\n" + "\n".join(
        "    " + line for line in body.strip().splitlines()
    )
    exec(source, namespace)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "async def g(self, a: list[Result], b: list[Other]) -> StopEvent: ...",
            "more than one list",
        ),
        ("async def g(self, a: list[Result], b: Other) -> StopEvent: ...", "cannot be combined"),
        ("async def g(self, b: Other, a: list[Result]) -> StopEvent: ...", "cannot be combined"),
        (
            "async def g(self, a: Annotated[Result, Collect()]) -> StopEvent: ...",
            "carries a Collect marker",
        ),
        (
            "async def g(self, a: Annotated[list[Result], Collect(Weird())]) -> StopEvent: ...",
            "All\\(\\) or Take\\(n\\)",
        ),
        ("async def g(self, a: list[int]) -> StopEvent: ...", "list\\[int\\]"),
        (
            "async def g(self, a: StartEvent) -> AsyncIterator[Item]: ...",
            "cannot stream its results",
        ),
        (
            "async def g(self, a: StartEvent) -> list[Item]:\n    yield Item(n=1)",
            "cannot stream its results",
        ),
        ("async def g(self, a: StartEvent) -> list: ...", "return annotation"),
    ],
)
def test_bad_signatures_fail_when_the_class_is_created(body: str, message: str) -> None:
    with pytest.raises(WorkflowValidationError, match=message) as info:
        _define(body)
    assert "'g'" in str(info.value)


def test_take_needs_a_positive_integer() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="Take"):
            Take(bad)  # type: ignore[arg-type]


async def test_a_collector_with_no_stream_to_gather_is_invalid() -> None:
    class Unstreamed(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> Result:
            return Result(n=1)

        @step
        async def gather(self, found: list[Result]) -> StopEvent:
            return StopEvent(result=found)

    with pytest.raises(WorkflowValidationError, match="list\\[Result\\]"):
        Unstreamed().validate()
    with pytest.raises(WorkflowValidationError, match="list\\[Result\\]"):
        Unstreamed().run()
