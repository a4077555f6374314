"""``workflows.testing.WorkflowTestRunner`` (SPEC §3, Testing helper)."""

from __future__ import annotations

import pytest

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent, UnhandledEvent
from workflows.testing import WorkflowTestRunner


class Progress(Event):
    n: int


class Note(Event):
    text: str


class Orphan(Event):
    pass


class Hop(Event):
    pass


class Greeter(Workflow):
    @step
    async def greet(self, ctx: Context, ev: StartEvent) -> Hop:
        for n in range(3):
            ctx.write_event_to_stream(Progress(n=n))
        ctx.write_event_to_stream(Note(text="halfway"))
        ctx.send_event(Orphan())
        return Hop()

    @step
    async def finish(self, ev: Hop) -> StopEvent:
        return StopEvent(result="hello")


class Named(Workflow):
    @step
    async def greet(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Note(text=ev.name))
        return StopEvent(result=f"hello {ev.name}")


async def test_runner_collects_streamed_events_and_result() -> None:
    outcome = await WorkflowTestRunner(Greeter()).run(expose_internal=False)
    assert outcome.result == "hello"
    assert [type(ev) for ev in outcome.collected] == [Progress] * 3 + [Note, StopEvent]
    assert [ev.n for ev in outcome.collected[:3]] == [0, 1, 2]
    assert outcome.event_types == {Progress: 3, Note: 1, StopEvent: 1}


async def test_runner_excludes_listed_event_types() -> None:
    outcome = await WorkflowTestRunner(Greeter()).run(
        exclude_events=[Progress], expose_internal=False
    )
    assert [type(ev) for ev in outcome.collected] == [Note, StopEvent]
    assert Progress not in outcome.event_types
    assert outcome.result == "hello"


async def test_runner_exposes_internal_events_by_default() -> None:
    # As in llama-index-workflows 2.26.1: WorkflowTestRunner.run(expose_internal=True)
    outcome = await WorkflowTestRunner(Greeter()).run()
    assert outcome.event_types.get(UnhandledEvent, 0) == 1
    assert outcome.event_types[Progress] == 3
    assert isinstance(outcome.collected[-1], StopEvent)


async def test_runner_takes_a_start_event_or_keyword_arguments() -> None:
    runner = WorkflowTestRunner(Named())
    by_event = await runner.run(start_event=StartEvent(name="ada"), expose_internal=False)
    assert by_event.result == "hello ada"
    assert by_event.collected[0].text == "ada"

    by_kwargs = await WorkflowTestRunner(Named()).run(name="bob", expose_internal=False)
    assert by_kwargs.result == "hello bob"
    assert by_kwargs.collected[0].text == "bob"


class Fails(Workflow):
    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        raise RuntimeError("runner sees this")


async def test_runner_propagates_the_step_exception() -> None:
    with pytest.raises(RuntimeError, match="runner sees this"):
        await WorkflowTestRunner(Fails()).run()
