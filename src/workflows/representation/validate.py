"""Static checks of a workflow's step/event graph, as llama-index-workflows 2.26.1 runs them.

:func:`build_step_graph` turns the steps into a directed graph whose nodes are step names
and event classes (event -> each step accepting it, step -> each event it returns) and
computes what is reachable from the run's inputs and what can reach its outputs.
:func:`validate_graph` then reports, without raising:

- ``reachability``: a step no chain of events from the start event, a
  :class:`~workflows.events.HumanResponseEvent` or a ``@catch_error`` handler reaches;
- ``terminal_event``: an event no step accepts, other than a StopEvent or an
  :class:`~workflows.events.InputRequiredEvent`;
- ``dead_end``: a step that returns events but from which no chain leads to a StopEvent
  or an InputRequiredEvent.

The private ``_validate_workflow`` runs the whole rule set of the reference's
``Workflow.run()`` (one start event class, one stop event class, event connectivity, the
``@catch_error`` handlers, then the graph checks) and raises on the first failing rule;
``Workflow.validate()`` and a workflow's first run call it, so each rule lives here only.
An event type goes to a step as the runtime routes it: exactly the types the step names,
plus their subclasses for a step declared with ``accept_event_subclasses=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from .._collection import binding_problems
from ..decorators import WorkflowGraphCheck
from ..errors import WorkflowConfigurationError, WorkflowValidationError
from ..events import (
    HumanResponseEvent,
    InputRequiredEvent,
    RequestOverdueEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from ._levels import event_types, same_level_types, stream_level_types_by_producer
from ._matching import (
    _accepts,
    _accepts_in_graph,
    _subclass_aware,
    is_subclass,
    step_accepts_type,
    type_matches,
)

if TYPE_CHECKING:
    from .._step_spec import StepSpec

__all__ = [
    "GraphNode",
    "GraphValidationError",
    "StepGraph",
    "WorkflowGraphCheck",
    "build_step_graph",
    "event_types",
    "is_subclass",
    "same_level_types",
    "step_accepts_type",
    "stream_level_types_by_producer",
    "type_matches",
    "validate_graph",
]

GraphNode: TypeAlias = "str | type"
"""A node of a :class:`StepGraph`: a step name or an event class."""

_OUTPUTS = (StopEvent, InputRequiredEvent)


@dataclass
class StepGraph:
    """A workflow's steps and events as an adjacency list, with reachability facts.

    An edge event -> step means the step accepts that event; step -> event means the
    step's return annotation lists it.
    """

    outgoing: dict[GraphNode, list[GraphNode]] = field(default_factory=dict)
    """Each node's successors."""

    event_types: set[type] = field(default_factory=set)
    """Every event class in the graph (the start event class included)."""

    step_names: set[str] = field(default_factory=set)
    """Every step name in the graph."""

    forward_reachable: set[GraphNode] = field(default_factory=set)
    """Nodes reachable from the inputs: the start event, human responses, error handlers."""

    reverse_reachable: set[GraphNode] = field(default_factory=set)
    """Nodes from which a StopEvent or an InputRequiredEvent can be reached."""


def build_step_graph(
    steps: Mapping[str, StepSpec],
    start_event_class: type,
    catch_error_steps: list[str] | None = None,
) -> StepGraph:
    """Build the :class:`StepGraph` of ``steps``.

    Args:
        steps: the workflow's steps by name.
        start_event_class: the StartEvent class the workflow runs with.
        catch_error_steps: names of ``@catch_error`` steps; the runtime hands them
            failures directly, so they count as reachable inputs.

    Returns:
        The graph with its forward and reverse reachability computed.
    """
    outgoing: dict[GraphNode, list[GraphNode]] = {}
    # An insertion-ordered set, so that the graph is the same from run to run.
    types: dict[type, None] = {start_event_class: None} if steps else {}
    for name, spec in steps.items():
        for emitted in spec.emits:
            types.setdefault(emitted)
            outgoing.setdefault(name, []).append(emitted)
        for accepted in spec.accepted:
            types.setdefault(accepted)
    for event_type in types:
        for name, spec in steps.items():
            if _accepts_in_graph(spec, event_type):
                outgoing.setdefault(event_type, []).append(name)

    seeds: list[GraphNode] = [start_event_class]
    seeds += [
        t
        for t in types
        if is_subclass(t, (HumanResponseEvent, RequestOverdueEvent)) and t is not start_event_class
    ]
    seeds += list(dict.fromkeys(catch_error_steps or ()))
    incoming: dict[GraphNode, list[GraphNode]] = {}
    for source, targets in outgoing.items():
        for target in targets:
            incoming.setdefault(target, []).append(source)
    return StepGraph(
        outgoing=outgoing,
        event_types=set(types),
        step_names=set(steps),
        forward_reachable=_reachable(seeds, outgoing),
        reverse_reachable=_reachable([t for t in types if is_subclass(t, _OUTPUTS)], incoming),
    )


def _reachable(
    seeds: Iterable[GraphNode], adjacency: Mapping[GraphNode, list[GraphNode]]
) -> set[GraphNode]:
    """Every node reachable from ``seeds`` (seeds included)."""
    seen: set[GraphNode] = set()
    pending = list(seeds)
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(adjacency.get(node, ()))
    return seen


@dataclass
class GraphValidationError:
    """One failed graph check (a report, not an exception).

    Attributes:
        check: which check failed.
        message: what is wrong, naming the steps or events concerned.
        hint: how to fix it.
        step_names: the steps concerned (empty when the problem is about events).
    """

    check: WorkflowGraphCheck
    message: str
    hint: str
    step_names: list[str] = field(default_factory=list)


def validate_graph(
    steps: Mapping[str, StepSpec],
    start_event_class: type,
    skip_checks: set[WorkflowGraphCheck] | None = None,
    catch_error_steps: list[str] | None = None,
) -> list[GraphValidationError]:
    """Run the reachability, terminal-event and dead-end checks; return what fails.

    Args:
        steps: the workflow's steps by name.
        start_event_class: the StartEvent class the workflow runs with.
        skip_checks: checks not to run at all.
        catch_error_steps: names of ``@catch_error`` steps (reachable by definition).

    Returns:
        One :class:`GraphValidationError` per failing check, in the order above; an
        empty list for a sound graph. A step declared with
        ``@step(skip_graph_checks=[...])`` is left out of the checks it names.
    """
    skip = skip_checks or set()
    graph = build_step_graph(steps, start_event_class, catch_error_steps)
    errors: list[GraphValidationError] = []

    if "reachability" not in skip:
        unreachable = sorted(
            name
            for name in graph.step_names - _steps_skipping(steps, "reachability")
            if name not in graph.forward_reachable
        )
        if unreachable:
            errors.append(
                GraphValidationError(
                    check="reachability",
                    message="Unreachable steps: " + ", ".join(unreachable),
                    hint="Steps must be reachable from StartEvent or HumanResponseEvent.",
                    step_names=unreachable,
                )
            )

    if "terminal_event" not in skip:
        dangling = sorted(
            t.__name__
            for t in graph.event_types
            if not is_subclass(t, _OUTPUTS)
            and not any(target in graph.step_names for target in graph.outgoing.get(t, ()))
        )
        if dangling:
            errors.append(
                GraphValidationError(
                    check="terminal_event",
                    message="Events produced but never consumed: " + ", ".join(dangling),
                    hint="Only StopEvent and InputRequiredEvent may be terminal.",
                )
            )

    if "dead_end" not in skip:
        producers = {name for name, spec in steps.items() if spec.emits}
        dead_ends = sorted(
            name
            for name in producers - _steps_skipping(steps, "dead_end")
            if name not in graph.reverse_reachable
        )
        if dead_ends:
            errors.append(
                GraphValidationError(
                    check="dead_end",
                    message="Dead-end steps: " + ", ".join(dead_ends),
                    hint="Steps must have a path to StopEvent or InputRequiredEvent.",
                    step_names=dead_ends,
                )
            )
    return errors


def _steps_skipping(steps: Mapping[str, StepSpec], check: str) -> set[str]:
    """Steps that opted out of ``check`` with ``@step(skip_graph_checks=[...])``."""
    return {name for name, spec in steps.items() if check in spec.skip_graph_checks}


# -- the reference's workflow-level rules ------------------------------------------------
@dataclass
class _WorkflowValidationResult:
    """What :func:`_validate_workflow` learned about a sound workflow."""

    start_event_class: type[StartEvent]
    stop_event_class: type[StopEvent]
    uses_hitl: bool


def _catch_error_steps(steps: Mapping[str, StepSpec]) -> list[str]:
    """Names of the ``@catch_error`` steps."""
    return [name for name, spec in steps.items() if spec.catch_for_steps is not None]


def _find_start_event_class(steps: Mapping[str, StepSpec], workflow_name: str) -> type[StartEvent]:
    """The one StartEvent class the steps accept.

    Raises:
        WorkflowConfigurationError: no step accepts a StartEvent, or they accept
            several different StartEvent classes.
    """
    found = {t for spec in steps.values() for t in spec.accepted if issubclass(t, StartEvent)}
    start: type[StartEvent] = _the_one(found, "StartEvent", "accepts", "received", workflow_name)
    return start


def _find_stop_event_class(steps: Mapping[str, StepSpec], workflow_name: str) -> type[StopEvent]:
    """The one StopEvent class the steps return.

    Raises:
        WorkflowConfigurationError: no step returns a StopEvent, or they return
            several different StopEvent classes.
    """
    found = {t for spec in steps.values() for t in spec.emits if issubclass(t, StopEvent)}
    stop: type[StopEvent] = _the_one(found, "StopEvent", "returns", "returned", workflow_name)
    return stop


def _the_one(
    found: set[type[Any]], kind: str, verb: str, participle: str, workflow_name: str
) -> Any:
    """The single class in ``found``, else the reference's configuration error.

    Several classes are listed as the reference prints them (a set of classes), in a
    fixed order so that the message is the same from run to run.
    """
    ordered = sorted(found, key=lambda t: (t.__module__, t.__qualname__))
    if not ordered:
        raise WorkflowConfigurationError(
            f"At least one Event of type {kind} must be {participle} by any step. "
            f"(Workflow '{workflow_name}' has no @step that {verb} {kind}.)"
        )
    if len(ordered) > 1:
        listed = "{" + ", ".join(repr(t) for t in ordered) + "}"
        raise WorkflowConfigurationError(
            f"Only one type of {kind} is allowed per workflow, found {len(ordered)}: "
            f"{listed} in workflow '{workflow_name}'."
        )
    return ordered[0]


def _ensure_boundary_event_classes(
    steps: Mapping[str, StepSpec], workflow_name: str
) -> tuple[type[StartEvent], type[StopEvent]]:
    """The workflow's one StartEvent class and one StopEvent class.

    The reference checks this when a workflow is constructed, even with
    ``disable_validation=True``; ``Workflow.__init__`` calls this function.

    Raises:
        WorkflowConfigurationError: no step accepts a StartEvent or returns a StopEvent,
            or the steps name several classes of either (the StartEvent is checked first).
    """
    return (
        _find_start_event_class(steps, workflow_name),
        _find_stop_event_class(steps, workflow_name),
    )


def _catch_error_handler_problems(steps: Mapping[str, StepSpec]) -> list[str]:
    """What is wrong with the set of ``@catch_error`` handlers, in the reference's words.

    Rules: at most one wildcard handler (no ``for_steps``); every step a handler lists
    exists, is not itself a handler, and is listed by one handler only.
    """
    handlers = {name: spec for name, spec in steps.items() if spec.catch_for_steps is not None}
    problems: list[str] = []
    wildcards = sorted(name for name, spec in handlers.items() if not spec.catch_for_steps)
    if len(wildcards) > 1:
        problems.append(
            "Only one wildcard @catch_error handler is allowed per workflow, "
            f"found {len(wildcards)}: {', '.join(wildcards)}"
        )
    owner: dict[str, str] = {}
    for name, spec in handlers.items():
        for target in spec.catch_for_steps or ():
            if target not in steps:
                problems.append(
                    f"@catch_error handler '{name}' lists unknown step '{target}' in for_steps."
                )
            elif target in handlers:
                problems.append(
                    f"@catch_error handler '{name}' cannot cover another handler step '{target}'."
                )
            elif target in owner:
                problems.append(
                    f"Step '{target}' is claimed by two @catch_error handlers: "
                    f"'{owner[target]}' and '{name}'."
                )
            else:
                owner[target] = name
    return problems


def _check_catch_error_handlers(steps: Mapping[str, StepSpec]) -> None:
    """Raise if the ``@catch_error`` handlers cannot route failures unambiguously.

    The reference requires this of every run, even with ``disable_validation=True``.

    Raises:
        WorkflowValidationError: every problem :func:`_catch_error_handler_problems`
            finds, one per line.
    """
    problems = _catch_error_handler_problems(steps)
    if problems:
        raise WorkflowValidationError("\n".join(problems))


def _check_event_connectivity(
    steps: Mapping[str, StepSpec], start_event_class: type[StartEvent]
) -> bool:
    """Check that events flow: what is accepted is produced and what is produced is used.

    Rules, in order: no step accepts a StopEvent; every accepted event type is produced
    by some step (or is the start event), unless it crosses the workflow's boundary
    (input requests, human responses, StopEvents, step failures); every produced event
    type is accepted by some step, unless it leaves the workflow (input requests, human
    responses, StopEvents).

    Returns:
        True if the workflow involves a person (it returns an InputRequiredEvent or
        accepts a HumanResponseEvent).

    Raises:
        WorkflowValidationError: for the first rule broken.
    """
    stop_takers = [
        name
        for name, spec in steps.items()
        if any(is_subclass(t, StopEvent) for t in spec.accepted)
    ]
    if stop_takers:
        plural = "s" if len(stop_takers) > 1 else ""
        names = "', '".join(stop_takers)
        raise WorkflowValidationError(
            f"Step{plural} '{names}' cannot accept StopEvent. "
            "StopEvent signals the end of the workflow. Use a different Event type instead."
        )

    produced = {start_event_class: None} | {t: None for s in steps.values() for t in s.emits}
    boundary_in = (
        InputRequiredEvent,
        HumanResponseEvent,
        RequestOverdueEvent,
        StopEvent,
        StepFailedEvent,
    )
    never_produced = sorted(
        {
            accepted.__name__
            for spec in steps.values()
            for accepted in spec.accepted
            if not is_subclass(accepted, boundary_in)
            and not any(
                type_matches(p, accepted, allow_subclasses=_subclass_aware(spec)) for p in produced
            )
        }
    )
    if never_produced:
        raise WorkflowValidationError(
            "The following events are consumed but never produced: " + ", ".join(never_produced)
        )

    boundary_out = (InputRequiredEvent, HumanResponseEvent, StopEvent)
    never_consumed = sorted(
        p.__name__
        for p in produced
        if not is_subclass(p, boundary_out) and not any(_accepts(s, p) for s in steps.values())
    )
    if never_consumed:
        raise WorkflowValidationError(
            "The following events are produced but never consumed: " + ", ".join(never_consumed)
        )

    return any(is_subclass(p, InputRequiredEvent) for p in produced) or any(
        is_subclass(t, HumanResponseEvent) for s in steps.values() for t in s.accepted
    )


def _join_level_problems(
    steps: Mapping[str, StepSpec], start_event_class: type[StartEvent]
) -> list[str]:
    """A message per join step whose slots are never all produced at one stream level.

    A join fires with one event per slot, and its call belongs to the stream of the
    event that arrived last. Slots filled at different levels (one inside a fan-out
    stream, one outside it) would wait for each other for ever, so every slot type must
    be produced at a common level: the top level (from the start event and the human
    responses the steps accept) or the stream of one fan-out step.
    """
    joins = {name: spec.join for name, spec in steps.items() if spec.join is not None}
    if not joins:
        return []
    inputs = [
        t for spec in steps.values() for t in spec.accepted if is_subclass(t, HumanResponseEvent)
    ]
    levels = {"the top level": same_level_types(steps, [start_event_class, *inputs], frozenset())}
    for producer, level in stream_level_types_by_producer(steps).items():
        levels[f"the stream of step {producer!r}"] = level
    problems: list[str] = []
    for name, slots in joins.items():
        wanted = {slot_type for _, slot_type in slots}
        if any(wanted <= level for level in levels.values()):
            continue
        where = "; ".join(
            f"{param!r} ({slot_type.__name__}) at "
            + (
                " and ".join(sorted(n for n, level in levels.items() if slot_type in level))
                or "no level"
            )
            for param, slot_type in slots
        )
        problems.append(
            f"step {name!r} joins events that no single stream level produces together: "
            f"{where}. A join fires only with events of one level; to let a branch of a "
            "fan-out wait for something from outside it, use ctx.wait_for_event in that branch"
        )
    return problems


def _validate_workflow(
    steps: Mapping[str, StepSpec],
    workflow_name: str,
    skip_graph_checks: set[WorkflowGraphCheck] | None = None,
) -> _WorkflowValidationResult:
    """Run every structural rule of the reference's ``Workflow.run()`` on ``steps``.

    Order: the workflow has steps; one StartEvent class; one StopEvent class; every
    ``list[E]`` parameter gathers types some fan-out stream produces (all such problems
    in one error); every join's slots are produced at one common stream level
    (:func:`_join_level_problems`); event connectivity (:func:`_check_event_connectivity`); the
    ``@catch_error`` handlers
    (:func:`_check_catch_error_handlers`); the graph checks (:func:`validate_graph`, all
    failures listed in one error). Only the graph checks can be skipped.

    Raises:
        WorkflowConfigurationError: no steps, or not exactly one start/stop event class.
        WorkflowValidationError: the first other rule broken.
    """
    if not steps:
        raise WorkflowConfigurationError(
            f"Workflow '{workflow_name}' has no configured steps. Did you forget to "
            "decorate methods with @step, or to attach free functions with "
            "@step(workflow=...)?"
        )
    start, stop = _ensure_boundary_event_classes(steps, workflow_name)
    unbound = binding_problems(steps)  # list[E] parameters no fan-out stream feeds
    if unbound:
        raise WorkflowValidationError("\n".join(unbound))
    stranded = _join_level_problems(steps, start)  # joins whose slots never meet
    if stranded:
        raise WorkflowValidationError("\n".join(stranded))
    uses_hitl = _check_event_connectivity(steps, start)
    _check_catch_error_handlers(steps)
    failures = validate_graph(
        steps, start, skip_checks=skip_graph_checks, catch_error_steps=_catch_error_steps(steps)
    )
    if failures:
        detail = "\n".join(f"  - [{f.check}] {f.message}\n    {f.hint}" for f in failures)
        raise WorkflowValidationError("Graph validation failed:\n" + detail)
    return _WorkflowValidationResult(
        start_event_class=start, stop_event_class=stop, uses_hitl=uses_hitl
    )
