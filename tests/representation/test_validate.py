"""Graph checks with the reference's rules, run on this project's step specs.

Each rule-breaking workflow below was validated under llama-index-workflows 2.26.1;
the expected messages are the ones it raised.
"""

from __future__ import annotations

import pytest

import workflows.representation.validate as validate_module
from workflows import Workflow, step
from workflows.errors import WorkflowConfigurationError, WorkflowValidationError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)
from workflows.representation.validate import (
    GraphValidationError,
    build_step_graph,
    event_types,
    is_subclass,
    same_level_types,
    step_accepts_type,
    stream_level_types_by_producer,
    type_matches,
    validate_graph,
)

from . import _flows as f


class Loop(Event):
    pass


class X(Event):
    pass


class Y(Event):
    pass


class Orphan(Event):
    pass


class StopA(StopEvent):
    pass


class StopB(StopEvent):
    pass


class Unreachable(Workflow):
    @step
    async def start(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def orphan(self, ev: Loop) -> Loop | StopEvent:
        return StopEvent()


class DeadEnd(Workflow):
    @step
    async def a(self, ev: StartEvent) -> X | StopEvent:
        return StopEvent()

    @step
    async def b(self, ev: X) -> Y:
        return Y()

    @step
    async def c(self, ev: Y) -> X:
        return X()


class ProducesHuman(Workflow):
    @step
    async def a(self, ev: StartEvent) -> HumanResponseEvent | StopEvent:
        return StopEvent()


class ConsumesInputRequired(Workflow):
    @step
    async def a(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def b(self, ev: InputRequiredEvent) -> StopEvent:
        return StopEvent()


class AcceptsStop(Workflow):
    @step
    async def a(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def b(self, ev: StopEvent) -> None:
        return None


class TwoStops(Workflow):
    @step
    async def a(self, ev: StartEvent) -> X | StopA:
        return StopA()

    @step
    async def b(self, ev: X) -> StopB:
        return StopB()


class NoStart(Workflow):
    @step
    async def a(self, ev: X) -> StopEvent:
        return StopEvent()


class NoStop(Workflow):
    @step
    async def a(self, ev: StartEvent) -> None:
        return None


class NeverProduced(Workflow):
    @step
    async def a(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @step
    async def b(self, ev: Orphan) -> StopEvent:
        return StopEvent()


class NeverConsumed(Workflow):
    @step
    async def a(self, ev: StartEvent) -> Orphan | StopEvent:
        return StopEvent()


def _errors(flow: type[Workflow], **kwargs: object) -> list[GraphValidationError]:
    return validate_graph(flow().steps, StartEvent, **kwargs)  # type: ignore[arg-type]


# -- helpers --------------------------------------------------------------------------------
def test_is_subclass_tolerates_annotations_that_are_not_classes() -> None:
    assert is_subclass(f.Child, f.Base)
    assert is_subclass(f.Child, (X, Event))
    assert not is_subclass(f.Base, f.Child)
    assert not is_subclass(list[str], Event)
    assert not is_subclass(None, Event)


def test_type_matching_exact_or_with_subclasses() -> None:
    assert type_matches(f.Base, f.Base, allow_subclasses=False)
    assert not type_matches(f.Child, f.Base, allow_subclasses=False)
    assert type_matches(f.Child, f.Base, allow_subclasses=True)
    assert step_accepts_type(f.Child, [X, f.Base], allow_subclasses=True)
    assert not step_accepts_type(f.Child, [X, f.Base], allow_subclasses=False)


def test_event_types_keeps_event_classes_in_order() -> None:
    assert event_types([StopEvent, str, None, list[int], X]) == [StopEvent, X]


def test_one_stream_level_reaches_every_event_downstream() -> None:
    steps = f.LinearFlow().steps
    assert same_level_types(steps, [StartEvent], frozenset()) == {
        StartEvent,
        f.FirstEvent,
        f.SecondEvent,
        StopEvent,
    }
    assert same_level_types(steps, [f.SecondEvent, int], frozenset()) == {
        f.SecondEvent,
        StopEvent,
    }
    assert stream_level_types_by_producer(steps) == {}


# -- the step graph -------------------------------------------------------------------------
def test_step_graph_of_a_hitl_flow() -> None:
    steps = f.HitlFlow().steps
    graph = build_step_graph(steps, StartEvent)
    assert graph.step_names == {"ask", "got"}
    assert graph.event_types == {StartEvent, InputRequiredEvent, HumanResponseEvent, StopEvent}
    assert graph.outgoing == {
        "ask": [InputRequiredEvent],
        "got": [StopEvent],
        StartEvent: ["ask"],
        HumanResponseEvent: ["got"],
    }
    everything = {"ask", "got", *graph.event_types}
    assert graph.forward_reachable == everything
    assert graph.reverse_reachable == everything


def test_step_graph_of_no_steps_is_empty() -> None:
    graph = build_step_graph({}, StartEvent)
    assert graph.event_types == set()
    assert graph.outgoing == {}
    assert graph.forward_reachable == {StartEvent}


def test_catch_error_steps_seed_forward_reachability() -> None:
    steps = f.ErrFlow().steps
    assert "recover" not in build_step_graph(steps, StartEvent).forward_reachable
    graph = build_step_graph(steps, StartEvent, catch_error_steps=["recover"])
    assert "recover" in graph.forward_reachable
    assert validate_graph(steps, StartEvent, catch_error_steps=["recover"]) == []
    [error] = validate_graph(steps, StartEvent)
    assert (error.check, error.step_names) == ("reachability", ["recover"])


# -- the three graph checks -----------------------------------------------------------------
@pytest.mark.parametrize("flow", [f.LinearFlow, f.BranchFlow, f.HitlFlow, f.FreeFlow])
def test_sound_workflows_pass(flow: type[Workflow]) -> None:
    assert _errors(flow) == []


def test_custom_start_event_is_the_seed() -> None:
    steps = f.CustomFlow().steps
    assert validate_graph(steps, f.MyStart) == []
    wrong_seed = validate_graph(steps, StartEvent)
    assert [(e.check, e.step_names) for e in wrong_seed] == [
        ("reachability", ["end", "go"]),
        ("terminal_event", []),
    ]
    assert wrong_seed[1].message == "Events produced but never consumed: StartEvent"


def test_unreachable_step() -> None:
    assert _errors(Unreachable) == [
        GraphValidationError(
            check="reachability",
            message="Unreachable steps: orphan",
            hint="Steps must be reachable from StartEvent or HumanResponseEvent.",
            step_names=["orphan"],
        )
    ]
    assert _errors(Unreachable, skip_checks={"reachability"}) == []


def test_dead_end_steps() -> None:
    assert _errors(DeadEnd) == [
        GraphValidationError(
            check="dead_end",
            message="Dead-end steps: b, c",
            hint="Steps must have a path to StopEvent or InputRequiredEvent.",
            step_names=["b", "c"],
        )
    ]
    assert _errors(DeadEnd, skip_checks={"dead_end"}) == []


def test_terminal_event() -> None:
    assert _errors(ProducesHuman) == [
        GraphValidationError(
            check="terminal_event",
            message="Events produced but never consumed: HumanResponseEvent",
            hint="Only StopEvent and InputRequiredEvent may be terminal.",
            step_names=[],
        )
    ]
    assert _errors(ProducesHuman, skip_checks={"terminal_event"}) == []


def test_a_step_on_an_input_request_is_unreachable() -> None:
    [error] = _errors(ConsumesInputRequired)
    assert (error.check, error.message) == ("reachability", "Unreachable steps: b")


# -- the workflow-level rule set of the reference's run() ------------------------------------
def _run_rules(flow: type[Workflow]) -> object:
    return validate_module._validate_workflow(flow().steps, flow.__name__)


@pytest.mark.parametrize(
    ("flow", "error", "message"),
    [
        (
            AcceptsStop,
            WorkflowValidationError,
            "Step 'b' cannot accept StopEvent. StopEvent signals the end of the workflow. "
            "Use a different Event type instead.",
        ),
        (
            TwoStops,
            WorkflowConfigurationError,
            # The reference prints the set of classes (in no fixed order; here sorted).
            f"Only one type of StopEvent is allowed per workflow, found 2: {{{StopA!r}, "
            f"{StopB!r}}} in workflow 'TwoStops'.",
        ),
        (
            NoStart,
            WorkflowConfigurationError,
            "At least one Event of type StartEvent must be received by any step. "
            "(Workflow 'NoStart' has no @step that accepts StartEvent.)",
        ),
        (
            NoStop,
            WorkflowConfigurationError,
            "At least one Event of type StopEvent must be returned by any step. "
            "(Workflow 'NoStop' has no @step that returns StopEvent.)",
        ),
        (
            NeverProduced,
            WorkflowValidationError,
            "The following events are consumed but never produced: Orphan",
        ),
        (
            NeverConsumed,
            WorkflowValidationError,
            "The following events are produced but never consumed: Orphan",
        ),
        (
            Unreachable,
            WorkflowValidationError,
            "Graph validation failed:\n  - [reachability] Unreachable steps: orphan\n"
            "    Steps must be reachable from StartEvent or HumanResponseEvent.",
        ),
        (
            ProducesHuman,
            WorkflowValidationError,
            "Graph validation failed:\n  - [terminal_event] Events produced but never "
            "consumed: HumanResponseEvent\n    Only StopEvent and InputRequiredEvent may "
            "be terminal.",
        ),
    ],
)
def test_run_rules_raise_like_the_reference(
    flow: type[Workflow], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        _run_rules(flow)
    assert str(caught.value) == message


def test_run_rules_report_the_start_and_stop_classes_and_hitl() -> None:
    hitl = validate_module._validate_workflow(f.HitlFlow().steps, "HitlFlow")
    assert (hitl.start_event_class, hitl.stop_event_class, hitl.uses_hitl) == (
        StartEvent,
        StopEvent,
        True,
    )
    custom = validate_module._validate_workflow(f.CustomFlow().steps, "CustomFlow")
    assert (custom.start_event_class, custom.stop_event_class, custom.uses_hitl) == (
        f.MyStart,
        f.MyStop,
        False,
    )
    errors = validate_module._validate_workflow(f.ErrFlow().steps, "ErrFlow")
    assert errors.stop_event_class is StopEvent
