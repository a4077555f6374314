"""Graph validation, ``validate()`` and ``draw_mermaid()`` (SPEC §3, Workflow)."""

from __future__ import annotations

import pydantic
import pytest

from workflows import Context, Workflow, step
from workflows.errors import WorkflowRuntimeError, WorkflowValidationError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class Unclaimed(Event):
    pass


class Ghost(Event):
    pass


class Loop(Event):
    pass


class Hop(Event):
    pass


class SpecialHop(Hop):
    pass


class Question(InputRequiredEvent):
    pass


class Reply(HumanResponseEvent):
    pass


class Report(StopEvent):
    pass


class Topic(StartEvent):
    topic: str


# --- invalid graphs -------------------------------------------------------------------


class NoStartConsumer(Workflow):
    @step
    async def only_loop(self, ev: Loop) -> StopEvent:
        return StopEvent()


class NoStopProducer(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Loop:
        return Loop()

    @step
    async def spin(self, ev: Loop) -> Loop | None:
        return None


class EmitsUnclaimed(Workflow):
    @step
    async def emitter_step(self, ev: StartEvent) -> Unclaimed | StopEvent:
        return StopEvent()


class ConsumesGhost(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def haunted_step(self, ev: Ghost) -> StopEvent:
        return StopEvent()


def test_validate_no_step_accepts_start_event() -> None:
    with pytest.raises(WorkflowValidationError, match="StartEvent"):
        NoStartConsumer().validate()


async def test_run_no_step_accepts_start_event() -> None:
    with pytest.raises(WorkflowValidationError, match="StartEvent"):
        await NoStartConsumer().run()


def test_validate_no_step_emits_stop_event() -> None:
    with pytest.raises(WorkflowValidationError, match="StopEvent"):
        NoStopProducer().validate()


async def test_run_no_step_emits_stop_event() -> None:
    with pytest.raises(WorkflowValidationError, match="StopEvent"):
        await NoStopProducer().run()


def test_validate_emitted_event_nobody_accepts_names_event_and_step() -> None:
    wf = EmitsUnclaimed()
    with pytest.raises(WorkflowValidationError, match="Unclaimed") as info:
        wf.validate()
    assert "emitter_step" in str(info.value)


async def test_run_emitted_event_nobody_accepts() -> None:
    with pytest.raises(WorkflowValidationError, match="Unclaimed"):
        await EmitsUnclaimed().run()


def test_validate_step_whose_event_nobody_emits_names_step_and_event() -> None:
    wf = ConsumesGhost()
    with pytest.raises(WorkflowValidationError, match="Ghost") as info:
        wf.validate()
    assert "haunted_step" in str(info.value)


async def test_run_step_whose_event_nobody_emits() -> None:
    with pytest.raises(WorkflowValidationError, match="Ghost"):
        await ConsumesGhost().run()


async def test_disable_validation_lets_an_invalid_graph_run() -> None:
    assert await ConsumesGhost(disable_validation=True).run() is None


# --- valid graphs and the exemptions --------------------------------------------------


class HumanLoop(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="?")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


class TypedHumanLoop(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> Question:
        return Question(prefix="?")

    @step
    async def answer(self, ev: Reply) -> Report:
        return Report(result=ev.response)


class SubclassEmitter(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> SpecialHop:
        return SpecialHop()

    @step(accept_event_subclasses=True)
    async def end(self, ev: Hop) -> StopEvent:
        return StopEvent(result=type(ev).__name__)


class ExactTypesOnly(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> SpecialHop:
        return SpecialHop()

    @step
    async def end(self, ev: Hop) -> StopEvent:
        return StopEvent(result=type(ev).__name__)


@pytest.mark.parametrize("wf_cls", [HumanLoop, TypedHumanLoop])
def test_input_required_needs_no_consumer_and_human_response_no_producer(
    wf_cls: type[Workflow],
) -> None:
    wf_cls().validate()  # does not raise


async def test_valid_human_loop_runs() -> None:
    handler = HumanLoop().run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(HumanResponseEvent(response="yes"))
    assert await handler == "yes"


def test_emitted_subclass_is_accepted_by_a_step_that_accepts_subclasses() -> None:
    SubclassEmitter().validate()  # accept_event_subclasses: routing and validation agree


def test_by_default_a_step_accepts_exactly_its_annotated_types() -> None:
    # As in llama-index-workflows 2.26.1: a subclass is not routed to a base-class step
    # unless the step says accept_event_subclasses=True.
    with pytest.raises(WorkflowValidationError) as info:
        ExactTypesOnly().validate()
    assert "emits SpecialHop, which no step accepts" in str(info.value)


async def test_run_emitted_subclass_reaches_base_class_step() -> None:
    assert await SubclassEmitter().run() == "SpecialHop"


class TopicFlow(Workflow):
    @step
    async def begin(self, ctx: Context, ev: Topic) -> StopEvent:
        return StopEvent(result=ev.topic.upper())


async def test_start_event_subclass_inferred_and_validated_from_kwargs() -> None:
    assert await TopicFlow().run(topic="pirates") == "PIRATES"
    with pytest.raises((pydantic.ValidationError, WorkflowRuntimeError, WorkflowValidationError)):
        await TopicFlow().run(wrong="field")


# --- draw_mermaid ---------------------------------------------------------------------


class Drawn(Workflow):
    @step
    async def ask_human(self, ev: StartEvent) -> Question | Hop:
        return Question(prefix="?")

    @step
    async def hop_step(self, ev: Hop) -> Report:
        return Report()

    @step
    async def handle_reply(self, ev: Reply) -> Report:
        return Report()


def test_draw_mermaid_names_every_step_and_event() -> None:
    text = Drawn().draw_mermaid()
    assert isinstance(text, str)
    first_line = text.strip().splitlines()[0].strip()
    assert first_line.startswith(("flowchart", "graph"))
    for name in (
        "ask_human",
        "hop_step",
        "handle_reply",
        "StartEvent",
        "Question",
        "Hop",
        "Reply",
        "Report",
    ):
        assert name in text, f"{name} missing from mermaid output:\n{text}"
    assert "-->" in text


def test_draw_mermaid_is_deterministic() -> None:
    assert Drawn().draw_mermaid() == Drawn().draw_mermaid()
