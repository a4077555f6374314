"""Stream levels: which event types can occur together in one scope of a run.

In llama-index-workflows a step returning ``list[E]`` opens a child *stream level*
(fan-out) whose members are gathered by a step taking ``list[E]`` (fan-in). This
project's steps return single events only (a ``list[E]`` return annotation is refused
when the workflow class is created), so every run has one level: the event types
reachable from the seeds. The functions keep the reference's names and signatures so
that code written against them runs; they answer for the one-level case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..events import Event
from ._matching import _accepts

if TYPE_CHECKING:
    from .._step_spec import StepSpec


def event_types(types: Iterable[Any]) -> list[type[Event]]:
    """The members of ``types`` that are Event classes, in order.

    Example: ``event_types([StartEvent, str, None, list[int]]) == [StartEvent]``.
    """
    return [t for t in types if isinstance(t, type) and issubclass(t, Event)]


def same_level_types(
    steps: Mapping[str, StepSpec],
    seed_types: Iterable[Any],
    guard: frozenset[str],
) -> set[type[Event]]:
    """Event types reachable from ``seed_types`` by following steps, seeds included.

    Args:
        steps: the workflow's steps by name.
        seed_types: where to start (non-Event members are ignored).
        guard: names of fan-out producers already being expanded; kept for
            compatibility, as this project has no fan-out steps.

    Returns:
        Every event type some chain of steps can produce from the seeds.
    """
    seen: set[type[Event]] = set()
    frontier = event_types(seed_types)
    while frontier:
        current = frontier.pop()
        if current in seen:
            continue
        seen.add(current)
        for spec in steps.values():
            if _accepts(spec, current):
                frontier.extend(t for t in spec.emits if t not in seen)
    return seen


def stream_level_types_by_producer(
    steps: Mapping[str, StepSpec],
) -> dict[str, set[type[Event]]]:
    """For each fan-out step (one returning ``list[E]``), the types of its stream level.

    Always empty here: this project's steps cannot return ``list[E]``.
    """
    return {}
