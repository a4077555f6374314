"""Event routing between steps (SPEC §3, Steps and Context)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from _flows import HumanLoop
from workflows import Context, Workflow, step
from workflows.errors import WorkflowStepDoesNotExistError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    UnhandledEvent,
)


class Animal(Event):
    name: str


class Dog(Animal):
    pass


class Left(Event):
    n: int


class Right(Event):
    n: int


class Ping(Event):
    n: int


class Pong(Event):
    source: str


class Work(Event):
    i: int


class Release(Event):
    pass


class Done(Event):
    i: int


class Orphan(Event):
    pass


# --- exact-type routing, subclass routing on request, unions ---------------------------


class SubclassRouting(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Dog:
        return Dog(name="rex")

    @step(accept_event_subclasses=True)
    async def any_animal(self, ev: Animal) -> StopEvent:
        return StopEvent(result=(type(ev).__name__, ev.name))


async def test_event_subclass_is_routed_to_a_step_accepting_its_base_on_request() -> None:
    assert await SubclassRouting().run() == ("Dog", "rex")


class ExactRouting(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Animal | Dog | None:
        ctx.send_event(Dog(name="rex"))
        ctx.send_event(Animal(name="generic"))
        return None

    @step
    async def any_animal(self, ev: Animal) -> StopEvent:
        return StopEvent(result=(type(ev).__name__, ev.name))

    @step
    async def dogs(self, ev: Dog) -> None:
        return None


async def test_by_default_an_event_goes_only_to_steps_accepting_its_exact_type() -> None:
    # llama-index-workflows 2.26.1 routes by exact type unless accept_event_subclasses=True
    assert await ExactRouting().run() == ("Animal", "generic")


class UnionRouting(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Left | Right | None:
        ctx.send_event(Left(n=1))
        ctx.send_event(Right(n=2))
        return None

    @step(num_workers=1)
    async def either(self, ctx: Context, ev: Left | Right) -> StopEvent | None:
        seen = await ctx.store.get("seen", default=[])
        seen = [*seen, type(ev).__name__]
        await ctx.store.set("seen", seen)
        if len(seen) == 2:
            return StopEvent(result=sorted(seen))
        return None


async def test_union_parameter_step_runs_for_each_member_type() -> None:
    assert await UnionRouting().run() == ["Left", "Right"]


# --- fan-out: every accepting step gets the event ------------------------------------


class FanOut(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Ping:
        return Ping(n=1)

    @step
    async def north(self, ev: Ping) -> Pong:
        return Pong(source="north")

    @step
    async def south(self, ev: Ping) -> Pong:
        return Pong(source="south")

    @step
    async def gather(self, ctx: Context, ev: Pong) -> StopEvent | None:
        got = ctx.collect_events(ev, [Pong, Pong])
        if got is None:
            return None
        return StopEvent(result=sorted(p.source for p in got))


async def test_event_goes_to_every_step_that_accepts_it() -> None:
    assert await FanOut().run() == ["north", "south"]


class Targeted(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.left_calls: list[int] = []
        self.right_calls: list[int] = []

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Ping | None:
        ctx.send_event(Ping(n=1), step="left")
        return None

    @step
    async def left(self, ev: Ping) -> Pong | None:
        self.left_calls.append(ev.n)
        return Pong(source="left") if ev.n == 1 else None

    @step
    async def right(self, ev: Ping) -> StopEvent:
        self.right_calls.append(ev.n)
        return StopEvent(result=ev.n)

    @step
    async def rebroadcast(self, ev: Pong) -> Ping:
        return Ping(n=2)


async def test_send_event_to_a_named_step_reaches_only_that_step() -> None:
    wf = Targeted()
    assert await wf.run() == 2
    assert wf.right_calls == [2]
    assert wf.left_calls[0] == 1


class TargetsNowhere(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Ping | StopEvent:
        ctx.send_event(Ping(n=0), step="no_such_step")
        return StopEvent(result="unreachable")

    @step
    async def consume(self, ev: Ping) -> StopEvent:
        return StopEvent()


async def test_send_event_to_unknown_step_inside_a_step_fails_the_run() -> None:
    with pytest.raises(WorkflowStepDoesNotExistError, match="no_such_step"):
        await TargetsNowhere().run()


async def test_handler_send_event_to_unknown_step_raises() -> None:
    handler = HumanLoop().run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            with pytest.raises(WorkflowStepDoesNotExistError, match="not_a_step"):
                await handler.send_event(HumanResponseEvent(response="x"), step="not_a_step")
            # the run is still alive and answerable
            await handler.send_event(HumanResponseEvent(response="ok"), step="got")
    assert await handler == "ok"


# --- num_workers bounds concurrency ---------------------------------------------------


class Bounded(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.active = 0
        self.max_active = 0
        self.gate = asyncio.Event()

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Work | Release | None:
        for i in range(6):
            ctx.send_event(Work(i=i))
        ctx.send_event(Release())
        return None

    @step
    async def releaser(self, ev: Release) -> None:
        # Runs after all Work events were dispatched: by now every worker the
        # bound allows has started and is blocked on the gate.
        self.gate.set()
        return None

    @step(num_workers=2)
    async def worker(self, ev: Work) -> Done:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await self.gate.wait()
        self.active -= 1
        return Done(i=ev.i)

    @step
    async def gather(self, ctx: Context, ev: Done) -> StopEvent | None:
        got = ctx.collect_events(ev, [Done] * 6)
        if got is None:
            return None
        return StopEvent(result=sorted(d.i for d in got))


async def test_num_workers_bounds_concurrent_invocations_of_a_step() -> None:
    wf = Bounded()
    assert await wf.run() == [0, 1, 2, 3, 4, 5]
    assert wf.max_active == 2


# --- collect_events -------------------------------------------------------------------


class Collecting(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.none_returns = 0

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Left | Right | None:
        # arrival order differs from the order asked for below
        ctx.send_event(Right(n=1))
        ctx.send_event(Left(n=2))
        ctx.send_event(Left(n=3))
        return None

    @step(num_workers=1)
    async def collect(self, ctx: Context, ev: Left | Right) -> StopEvent | None:
        got = ctx.collect_events(ev, [Left, Right, Left])
        if got is None:
            self.none_returns += 1
            return None
        return StopEvent(result=[(type(e).__name__, e.n) for e in got])


async def test_collect_events_buffers_until_complete_and_returns_in_list_order() -> None:
    wf = Collecting()
    assert await wf.run() == [("Left", 2), ("Right", 1), ("Left", 3)]
    assert wf.none_returns == 2


class CollectsNothing(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> StopEvent:
        got = ctx.collect_events(ev, [])
        return StopEvent(result=(got, dict(ctx._state.collect)))


async def test_collect_events_with_nothing_expected_returns_an_empty_list_and_buffers_nothing() -> (
    None
):
    assert await CollectsNothing().run() == ([], {})


# --- events no step accepts -----------------------------------------------------------


class SendsOrphan(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.send_event(Orphan())
        return StopEvent(result="finished")


class Relay(Workflow):
    """Sends an orphan event in one step and finishes in a later one."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Ping:
        ctx.send_event(Orphan())
        return Ping(n=1)

    @step
    async def end(self, ev: Ping) -> StopEvent:
        return StopEvent(result="finished")


async def test_event_no_step_accepts_does_not_fail_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="workflows"):
        assert await Relay().run() == "finished"
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.split(".")[0] == "workflows"
    ]
    assert any("Orphan" in r.getMessage() for r in warnings), caplog.text


async def test_unhandled_event_visible_only_with_expose_internal() -> None:
    handler = Relay().run()
    internal = [ev async for ev in handler.stream_events(expose_internal=True)]
    assert await handler == "finished"
    assert any(isinstance(ev, UnhandledEvent) for ev in internal)

    handler = Relay().run()
    public = [ev async for ev in handler.stream_events()]
    assert await handler == "finished"
    assert not any(isinstance(ev, UnhandledEvent) for ev in public)
    assert isinstance(public[-1], StopEvent)


async def test_event_sent_from_outside_that_no_step_accepts_is_dropped() -> None:
    handler = HumanLoop().run()
    seen: list[Event] = []
    async for ev in handler.stream_events(expose_internal=True):
        seen.append(ev)
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(Orphan())
            await handler.send_event(HumanResponseEvent(response="still here"))
    assert await handler == "still here"
    assert any(isinstance(ev, UnhandledEvent) for ev in seen)


async def test_orphan_sent_by_the_final_step_does_not_change_the_result() -> None:
    assert await SendsOrphan().run() == "finished"
