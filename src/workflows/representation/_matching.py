"""Whether an event type goes to a step: one rule shared by the graph and its checks.

A step declares the event types it accepts. A produced type matches an accepted one
exactly, or, for a step in subclass-aware mode (``@step(accept_event_subclasses=True)``),
also when it derives from it. The graph, its checks and the runtime must agree on this
rule, so the graph code asks the helpers here rather than testing types itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..events import StopEvent

if TYPE_CHECKING:
    from .._step_spec import StepSpec


def is_subclass(candidate: Any, parents: type | tuple[type, ...]) -> bool:
    """``issubclass`` that answers ``False`` for annotations that are not classes.

    ``issubclass(list[str], Event)`` raises ``TypeError``; this returns ``False``.

    Args:
        candidate: any annotation (a class, a generic alias, ``typing.Any``...).
        parents: a class or a tuple of classes.
    """
    return isinstance(candidate, type) and issubclass(candidate, parents)


def type_matches(produced: Any, accepted: type, *, allow_subclasses: bool) -> bool:
    """True if events of type ``produced`` go to a step that accepts ``accepted``.

    Args:
        produced: the type of the event.
        accepted: a type the step accepts.
        allow_subclasses: match subclasses of ``accepted`` too (else only itself).
    """
    if allow_subclasses:
        return is_subclass(produced, accepted)
    return produced is accepted


def step_accepts_type(
    produced: Any, accepted_events: Iterable[type], *, allow_subclasses: bool
) -> bool:
    """True if events of type ``produced`` go to a step accepting ``accepted_events``.

    Args:
        produced: the type of the event.
        accepted_events: every type the step accepts.
        allow_subclasses: match subclasses of the accepted types too.
    """
    return any(
        type_matches(produced, accepted, allow_subclasses=allow_subclasses)
        for accepted in accepted_events
    )


def _subclass_aware(spec: StepSpec) -> bool:
    """True if ``spec``'s step also receives subclasses of the types it accepts."""
    return spec.accept_subclasses


def _accepts(spec: StepSpec, produced: Any) -> bool:
    """True if events of type ``produced`` are routed to ``spec``'s step."""
    return step_accepts_type(produced, spec.accepted, allow_subclasses=_subclass_aware(spec))


def _routes_in_graph(spec: StepSpec, produced: Any, accepted: type) -> bool:
    """Whether the graph draws ``produced -> step`` for the step's accepted type ``accepted``.

    As the runtime routes, except that a StopEvent type only reaches a step naming it
    exactly: a returned StopEvent ends the run instead of being routed, so a step
    accepting a broad base such as ``Event`` gets no edge from it.
    """
    allow = _subclass_aware(spec) and not is_subclass(produced, StopEvent)
    return type_matches(produced, accepted, allow_subclasses=allow)


def _accepts_in_graph(spec: StepSpec, produced: Any) -> bool:
    """True if the graph draws an edge from event type ``produced`` to ``spec``'s step."""
    return any(_routes_in_graph(spec, produced, accepted) for accepted in spec.accepted)
