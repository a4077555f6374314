"""Graph validation, ``validate()`` and ``draw_mermaid()`` (SPEC §3, Workflow)."""

from __future__ import annotations

import pydantic
import pytest

from _flows import HumanLoop
from workflows import Context, Workflow, catch_error, step
from workflows.errors import (
    WorkflowConfigurationError,
    WorkflowRuntimeError,
    WorkflowValidationError,
)
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
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
# Each message below is what llama-index-workflows 2.26.1 raises for the same workflow.


class Begins(Workflow):
    """A sound start: ``begin`` ends the run with "begun"; graphs below add to it."""

    @step
    async def begin(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result="begun")


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


class TwoStops(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Report | Loop:
        return Report()

    @step
    async def other(self, ev: Loop) -> StopEvent:
        return StopEvent()


class EmitsUnclaimed(Workflow):
    @step
    async def emitter_step(self, ev: StartEvent) -> Unclaimed | StopEvent:
        return StopEvent()


class ConsumesGhost(Begins):
    @step
    async def haunted_step(self, ev: Ghost) -> StopEvent:
        return StopEvent()


class AcceptsStop(Begins):
    @step
    async def after_the_end(self, ev: StopEvent) -> None:
        return None


class UnreachableStep(Begins):
    @step
    async def orphan(self, ev: Loop) -> Loop | StopEvent:
        return StopEvent()


class DeadEnds(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Hop | StopEvent:
        return StopEvent(result="begun")

    @step
    async def sink(self, ev: Hop) -> Loop:
        return Loop()

    @step
    async def spin(self, ev: Loop) -> Loop:
        return Loop()


class UnreachableAndDeadEnds(DeadEnds):
    @step
    async def orphan(self, ev: Ghost) -> Ghost:
        return Ghost()


class StepOptsOut(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Hop | StopEvent:
        return StopEvent(result="begun")

    @step(skip_graph_checks=["dead_end"])
    async def sink(self, ev: Hop) -> Loop:
        return Loop()

    @step(skip_graph_checks=["dead_end"])
    async def spin(self, ev: Loop) -> Loop:
        return Loop()

    @step(skip_graph_checks=["reachability"])
    async def orphan(self, ev: Ghost) -> Ghost | StopEvent:
        return StopEvent()


class CatchesUnknownStep(Begins):
    @catch_error(for_steps=["nope"])
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()


class TwoWildcardHandlers(Begins):
    @catch_error
    async def rescue_a(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()

    @catch_error
    async def rescue_b(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()


class HandlersOverlap(Begins):
    @catch_error(for_steps=["rescue_b", "begin"])
    async def rescue_a(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()

    @catch_error(for_steps=["begin"])
    async def rescue_b(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()


@pytest.mark.parametrize(
    ("wf_cls", "message"),
    [
        (
            NoStartConsumer,
            "At least one Event of type StartEvent must be received by any step. "
            "(Workflow 'NoStartConsumer' has no @step that accepts StartEvent.)",
        ),
        (
            NoStopProducer,
            "At least one Event of type StopEvent must be returned by any step. "
            "(Workflow 'NoStopProducer' has no @step that returns StopEvent.)",
        ),
        (
            TwoStops,
            "Only one type of StopEvent is allowed per workflow, found 2: "
            f"{{{Report!r}, {StopEvent!r}}} in workflow 'TwoStops'.",
        ),
    ],
)
@pytest.mark.parametrize("options", [{}, {"disable_validation": True}])
def test_a_workflow_without_one_start_and_one_stop_class_cannot_be_built(
    wf_cls: type[Workflow], message: str, options: dict[str, bool]
) -> None:
    with pytest.raises(WorkflowConfigurationError) as info:
        wf_cls(**options)  # type: ignore[arg-type]
    assert str(info.value) == message


GRAPH_FAILED = "Graph validation failed:\n"
UNREACHABLE = (
    "  - [reachability] Unreachable steps: {}\n"
    "    Steps must be reachable from StartEvent or HumanResponseEvent."
)
DEAD_ENDS = (
    "  - [dead_end] Dead-end steps: {}\n"
    "    Steps must have a path to StopEvent or InputRequiredEvent."
)
INVALID = [
    (
        EmitsUnclaimed,
        "The following events are produced but never consumed: Unclaimed",
    ),
    (
        ConsumesGhost,
        "The following events are consumed but never produced: Ghost",
    ),
    (
        AcceptsStop,
        "Step 'after_the_end' cannot accept StopEvent. StopEvent signals the end of the "
        "workflow. Use a different Event type instead.",
    ),
    (UnreachableStep, GRAPH_FAILED + UNREACHABLE.format("orphan")),
    (DeadEnds, GRAPH_FAILED + DEAD_ENDS.format("sink, spin")),
    (
        UnreachableAndDeadEnds,
        GRAPH_FAILED + UNREACHABLE.format("orphan") + "\n" + DEAD_ENDS.format("orphan, sink, spin"),
    ),
    (
        CatchesUnknownStep,
        "@catch_error handler 'recover' lists unknown step 'nope' in for_steps.",
    ),
    (
        TwoWildcardHandlers,
        "Only one wildcard @catch_error handler is allowed per workflow, found 2: "
        "rescue_a, rescue_b",
    ),
    (
        HandlersOverlap,
        "@catch_error handler 'rescue_a' cannot cover another handler step 'rescue_b'.\n"
        "Step 'begin' is claimed by two @catch_error handlers: 'rescue_a' and 'rescue_b'.",
    ),
]


@pytest.mark.parametrize(("wf_cls", "message"), INVALID)
def test_validate_raises_the_reference_error(wf_cls: type[Workflow], message: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        wf_cls().validate()
    assert str(info.value) == message


@pytest.mark.parametrize(("wf_cls", "message"), INVALID)
async def test_run_raises_the_reference_error(wf_cls: type[Workflow], message: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        await wf_cls().run()
    assert str(info.value) == message


@pytest.mark.parametrize(("wf_cls", "message"), INVALID)
def test_validate_checks_even_with_disable_validation(wf_cls: type[Workflow], message: str) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        wf_cls(disable_validation=True).validate()
    assert str(info.value) == message


async def test_disable_validation_lets_an_invalid_graph_run() -> None:
    assert await ConsumesGhost(disable_validation=True).run() == "begun"
    assert await UnreachableAndDeadEnds(disable_validation=True).run() == "begun"


@pytest.mark.parametrize("wf_cls", [CatchesUnknownStep, TwoWildcardHandlers, HandlersOverlap])
async def test_catch_error_handlers_are_checked_even_with_disable_validation(
    wf_cls: type[Workflow],
) -> None:
    with pytest.raises(WorkflowValidationError, match="@catch_error"):
        await wf_cls(disable_validation=True).run()


async def test_skip_graph_checks_on_the_workflow_turns_the_graph_checks_off() -> None:
    wf = UnreachableAndDeadEnds(skip_graph_checks={"reachability", "dead_end"})
    assert wf.validate() is False
    assert await wf.run() == "begun"
    with pytest.raises(WorkflowValidationError) as info:
        UnreachableAndDeadEnds(skip_graph_checks={"reachability"}).validate()
    assert str(info.value) == GRAPH_FAILED + DEAD_ENDS.format("orphan, sink, spin")


def test_skip_graph_checks_does_not_turn_the_event_checks_off() -> None:
    every_check = {"reachability", "dead_end", "terminal_event"}
    for wf_cls, message in INVALID[:3]:
        with pytest.raises(WorkflowValidationError) as info:
            wf_cls(skip_graph_checks=every_check).validate()
        assert str(info.value) == message


async def test_a_step_opts_out_of_the_checks_it_names() -> None:
    assert StepOptsOut().validate() is False
    assert await StepOptsOut().run() == "begun"


async def test_a_step_added_after_validation_is_checked_on_the_next_run() -> None:
    class Growing(Begins):
        pass

    wf = Growing()
    assert await wf.run() == "begun"

    @step(workflow=Growing)
    async def stray(ev: Ghost) -> StopEvent:
        return StopEvent()

    with pytest.raises(WorkflowValidationError, match="consumed but never produced: Ghost"):
        await wf.run()


# --- valid graphs and the exemptions --------------------------------------------------


class TypedHumanLoop(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> Question:
        return Question(prefix="?")

    @step
    async def answer(self, ev: Reply) -> Report:
        return Report(result=ev.response)


class ExactTypesOnly(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> SpecialHop:
        return SpecialHop()

    @step
    async def end(self, ev: Hop) -> StopEvent:
        return StopEvent(result=type(ev).__name__)


class SubclassEmitter(ExactTypesOnly):
    @step(accept_event_subclasses=True)
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
    assert str(info.value) == "The following events are consumed but never produced: Hop"


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
