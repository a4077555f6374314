"""Sync steps (run in a worker thread) get the same contract as async ones."""

from __future__ import annotations

import pytest

from workflows import Context, Workflow, step
from workflows.errors import WorkflowRuntimeError, WorkflowStepDoesNotExistError
from workflows.events import Event, InputRequiredEvent, StartEvent, StopEvent


class Ping(Event):
    pass


class SendsToNowhere(Workflow):
    @step
    def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        try:
            ctx.send_event(Ping(), step="nope")
        except WorkflowStepDoesNotExistError as exc:
            return StopEvent(result=f"raised in the step: {type(exc).__name__}")
        return StopEvent(result="not raised")

    @step
    async def pong(self, ev: Ping) -> StopEvent:
        return StopEvent(result="pong")


class SendsToAWrongStep(Workflow):
    @step
    def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.send_event(Ping(), step="start")  # start takes StartEvent, not Ping
        return StopEvent(result="not raised")

    @step
    async def pong(self, ev: Ping) -> StopEvent:
        return StopEvent(result="pong")


class WritesAPrompt(Workflow):
    @step
    def start(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(InputRequiredEvent(prefix="from a thread"))
        return StopEvent(result="written")


async def test_send_event_to_an_unknown_step_raises_inside_a_sync_step() -> None:
    assert (
        await SendsToNowhere(disable_validation=True).run()
        == "raised in the step: WorkflowStepDoesNotExistError"
    )


async def test_send_event_to_a_step_that_does_not_take_it_fails_the_sync_step() -> None:
    with pytest.raises(WorkflowRuntimeError, match="does not accept Ping"):
        await SendsToAWrongStep(disable_validation=True).run()


async def test_a_prompt_written_from_a_sync_step_reaches_the_stream() -> None:
    handler = WritesAPrompt().run()
    prompts = [ev async for ev in handler.stream_events() if isinstance(ev, InputRequiredEvent)]
    assert [p.prefix for p in prompts] == ["from a thread"]
    assert await handler == "written"
