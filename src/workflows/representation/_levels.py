"""Stream levels: which event types can occur together in one scope of a run.

In llama-index-workflows a step returning ``list[E]`` opens a child *stream level*
(fan-out) whose members are gathered by a step taking ``list[E]`` (fan-in). The
functions keep the reference's names and signatures; the walk itself lives in
``workflows._collection``, which the runtime uses to bind fan-outs to collectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .. import _collection
from ..events import Event

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
    """Event types reachable from ``seed_types`` without changing stream level, seeds included.

    Args:
        steps: the workflow's steps by name.
        seed_types: where to start (non-Event members are ignored).
        guard: names of fan-out producers already being expanded (so that a producer
            feeding itself terminates).

    Returns:
        Every event type some chain of steps can produce from the seeds at their level: a
        fan-out step met on the way contributes what the collectors of its stream return,
        not its members.
    """
    return _collection.same_level_types(steps, seed_types, guard)


def stream_level_types_by_producer(
    steps: Mapping[str, StepSpec],
) -> dict[str, set[type[Event]]]:
    """For each fan-out step (one returning ``list[E]``), the types of its stream level."""
    return _collection.levels_by_producer(steps)
