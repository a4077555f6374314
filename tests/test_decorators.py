"""The ``@step`` decorator: signatures read from annotations (SPEC §3, Steps).

This module deliberately uses postponed annotations (``from __future__ import
annotations``): every workflow below is declared with string annotations.
"""

from __future__ import annotations

import threading
from typing import Annotated, Optional, Union

import pytest

from workflows import Context, Workflow, step
from workflows.errors import WorkflowValidationError
from workflows.events import Event, StartEvent, StopEvent
from workflows.resource import Resource


class Middle(Event):
    value: int


class Tick(Event):
    n: int


class Tracker:
    def __init__(self) -> None:
        self.seen: list[str] = []


made_trackers: list[Tracker] = []


def make_tracker() -> Tracker:
    tracker = Tracker()
    made_trackers.append(tracker)
    return tracker


@pytest.fixture(autouse=True)
def _reset_trackers() -> None:
    made_trackers.clear()


# --- accepted forms -------------------------------------------------------------------


class BareAndCalled(Workflow):
    @step
    async def first(self, ev: StartEvent) -> Middle:
        return Middle(value=ev.get("start", 1))

    @step()
    async def second(self, ev: Middle) -> Tick:
        return Tick(n=ev.value + 1)

    @step(num_workers=2)
    async def third(self, ev: Tick) -> StopEvent:
        return StopEvent(result=ev.n * 10)


async def test_step_with_and_without_arguments() -> None:
    assert await BareAndCalled().run(start=4) == 50


class ContextAnyName(Workflow):
    @step
    async def begin(self, ev: StartEvent, context: Context) -> Middle:
        await context.store.set("seen", "begin")
        return Middle(value=2)

    @step
    async def end(self, c: Context, ev: Middle) -> StopEvent:
        return StopEvent(result=(await c.store.get("seen"), ev.value))


async def test_context_parameter_found_by_annotation_under_any_name_and_position() -> None:
    assert await ContextAnyName().run() == ("begin", 2)


class OptionalReturn(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Tick | None:
        ctx.send_event(Tick(n=1))
        ctx.send_event(Tick(n=2))
        return None

    @step(num_workers=1)
    async def count(self, ev: Tick) -> StopEvent | None:
        if ev.n < 2:
            return None
        return StopEvent(result=ev.n)


async def test_return_annotation_may_include_none() -> None:
    assert await OptionalReturn().run() == 2


class TypingForms(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Optional[Union[Middle, Tick]]:  # noqa: UP007, UP045
        return Middle(value=3)

    @step
    async def end(self, ev: Union[Middle, Tick]) -> Union[StopEvent, None]:  # noqa: UP007
        return StopEvent(result=ev.value)


async def test_typing_optional_and_union_spellings_work() -> None:
    assert await TypingForms().run() == 3


class SyncSteps(Workflow):
    @step
    def blocking(self, ev: StartEvent) -> Middle:
        return Middle(value=threading.get_ident())

    @step
    async def report(self, ev: Middle) -> StopEvent:
        return StopEvent(result=(ev.value, threading.get_ident()))


async def test_plain_def_step_runs_in_a_thread() -> None:
    sync_thread, loop_thread = await SyncSteps().run()
    assert loop_thread == threading.get_ident()
    assert sync_thread != loop_thread


class SyncWithContext(Workflow):
    @step
    def blocking(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Tick(n=ev.n))
        return StopEvent(result=ev.n + 1)


async def test_plain_def_step_gets_a_context_and_can_write_to_the_stream() -> None:
    handler = SyncWithContext().run(n=41)
    streamed = [ev async for ev in handler.stream_events()]
    assert await handler == 42
    assert [type(ev) for ev in streamed] == [Tick, StopEvent]
    assert streamed[0].n == 41


class Hosted(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Middle:
        return Middle(value=ev.get("x", 0))


@step(workflow=Hosted)
async def hosted_finish(ctx: Context, ev: Middle) -> StopEvent:
    await ctx.store.set("via", "free function")
    return StopEvent(result=ev.value * 2)


async def test_free_function_step_attached_with_workflow_argument() -> None:
    handler = Hosted().run(x=21)
    assert await handler == 42
    assert await handler.ctx.store.get("via") == "free function"


def test_free_function_step_without_workflow_is_rejected() -> None:
    with pytest.raises(WorkflowValidationError, match="orphan_function"):

        @step
        async def orphan_function(ev: StartEvent) -> StopEvent:
            return StopEvent()


async def test_postponed_annotations_resolve_event_classes_local_to_a_function() -> None:
    class LocalHop(Event):
        payload: str

    class LocalFlow(Workflow):
        @step
        async def begin(self, ev: StartEvent) -> LocalHop:
            return LocalHop(payload="local")

        @step
        async def end(self, ctx: Context, ev: LocalHop) -> StopEvent:
            return StopEvent(result=ev.payload)

    assert await LocalFlow().run() == "local"


# --- resources ------------------------------------------------------------------------


def tracked(cache: bool) -> Workflow:
    """``begin`` and ``end`` each take a Tracker resource (``cache`` as given) and note
    their name in it; the result: whether both got the same tracker, and what the one
    of ``end`` saw."""
    Tracked = Annotated[Tracker, Resource(make_tracker, cache=cache)]

    class Resources(Workflow):
        @step
        async def begin(self, ev: StartEvent, tracker: Tracked) -> Middle:
            tracker.seen.append("begin")
            return Middle(value=id(tracker))

        @step
        async def end(self, ctx: Context, ev: Middle, tracker: Tracked) -> StopEvent:
            tracker.seen.append("end")
            return StopEvent(result=(ev.value == id(tracker), list(tracker.seen)))

    return Resources()


@pytest.mark.parametrize(
    ("cache", "same", "seen", "built"),
    [
        pytest.param(True, True, ["begin", "end"], 1, id="cached: built once, shared"),
        pytest.param(False, False, ["end"], 2, id="uncached: built for each invocation"),
    ],
)
async def test_a_resource_is_shared_between_steps_only_when_cached(
    cache: bool, same: bool, seen: list[str], built: int
) -> None:
    assert await tracked(cache).run() == (same, seen)
    assert len(made_trackers) == built


# --- bad signatures fail at class definition ------------------------------------------


@pytest.mark.parametrize(
    ("signature", "says"),
    [
        pytest.param("lonely_step(self, ctx: Context) -> StopEvent", "", id="no event parameter"),
        pytest.param("int_step(self, ev: int) -> StopEvent", "", id="a non-event parameter"),
        pytest.param("bare_step(self, ev) -> StopEvent", "", id="an unannotated parameter"),
        pytest.param("silent_step(self, ev: StartEvent)", "return", id="no return annotation"),
        pytest.param(
            # Several event parameters make a join (tests/test_joins.py); each names one type.
            "greedy_step(self, first: StartEvent, second: Middle | Tick) -> StopEvent",
            "'second'",
            id="a join parameter naming two event types",
        ),
        pytest.param(
            "double_ctx_step(self, a: Context, ev: StartEvent, b: Context) -> StopEvent",
            "",
            id="two context parameters",
        ),
        pytest.param(
            "extra_param_step(self, ev: StartEvent, limit: int) -> StopEvent",
            "",
            id="an unknown extra parameter",
        ),
    ],
)
def test_a_step_with_a_bad_signature_is_rejected_when_the_class_is_created(
    signature: str, says: str
) -> None:
    source = (
        "from __future__ import annotations\n"
        "class Bad(Workflow):\n"
        "    @step\n"
        f"    async def {signature}:\n"
        "        return StopEvent()\n"
    )
    namespace = {"Workflow": Workflow, "step": step, "Context": Context}
    namespace |= {"StartEvent": StartEvent, "StopEvent": StopEvent, "Middle": Middle, "Tick": Tick}
    name = signature.split("(")[0]
    with pytest.raises(WorkflowValidationError, match=name) as info:
        exec(source, namespace)
    assert says in str(info.value).lower()


@pytest.mark.parametrize("workers", [0, -1])
def test_num_workers_must_be_positive(workers: int) -> None:
    with pytest.raises(WorkflowValidationError, match="num_workers"):

        class Bad(Workflow):
            @step(num_workers=workers)
            async def some_step(self, ev: StartEvent) -> StopEvent:
                return StopEvent()
