"""Collection streams: which fan-out feeds which fan-in step, and the state of one stream.

A step that returns ``list[E]`` is a *fan-out producer*; a step whose event parameter is
``list[E]`` is a *collector* (see :mod:`workflows.collect`). Two halves, both plain code:

- **Static** (computed once per workflow class from the :class:`StepSpec` s): the
  *stream level* of each producer — the event types its members and everything they
  lead to can have without entering another fan-out — and from it the
  :class:`Binding` s, "collector C gathers the stream of producer P". A nested fan-out
  contributes to the level above it only what its own collectors return.
- **Runtime** (:class:`CollectionStream`): one per execution that returned a list. It
  counts the *work items* alive inside it (queued or running deliveries whose innermost
  stream it is, plus the releases owed by streams nested in it) and buffers members for
  each binding. When the count reaches zero the stream closes and every binding not yet
  released fires once, into the scope that opened the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .collect import Take
from .events import Event

if TYPE_CHECKING:
    from ._step_spec import StepSpec


@dataclass(frozen=True)
class Binding:
    """Collector ``target`` gathers members of the streams opened by producer ``source``."""

    id: str
    source: str
    target: str
    take: int | None
    """``n`` for ``Take(n)``; ``None`` for ``All()``."""


# -- static --------------------------------------------------------------------------------
def _event_classes(types: Iterable[object]) -> list[type[Event]]:
    return [t for t in types if isinstance(t, type) and issubclass(t, Event)]


class _Levels:
    """The stream-level walk over a workflow's steps (memoised per call site, no I/O)."""

    def __init__(self, specs: Mapping[str, StepSpec]) -> None:
        self.specs = specs
        self.collectors = {n: s for n, s in specs.items() if s.collect is not None}

    def walk(self, seeds: Iterable[object], guard: frozenset[str]) -> set[type[Event]]:
        """Types reachable from ``seeds`` at one level (``guard``: producers being expanded)."""
        seen: set[type[Event]] = set()
        frontier = _event_classes(seeds)
        while frontier:
            current = frontier.pop()
            if current in seen:
                continue
            seen.add(current)
            for name, spec in self.specs.items():
                if spec.collect is not None or not spec.accepts_type(current):
                    continue
                if spec.fan_out:
                    if name not in guard:
                        frontier.extend(self.collapsed(name, guard))
                    continue
                frontier.extend(spec.emits)
        return seen

    def collapsed(self, producer: str, guard: frozenset[str]) -> set[type[Event]]:
        """What one execution of ``producer`` brings back to the level that triggered it."""
        child = self.walk(self.specs[producer].emits, guard | {producer})
        out: set[type[Event]] = set()
        for name, spec in self.collectors.items():
            if not any(spec.accepts_type(t) for t in child):
                continue
            if spec.fan_out:
                if name not in guard:
                    out |= self.collapsed(name, guard | {name})
            else:
                out.update(spec.emits)
        return out


def same_level_types(
    specs: Mapping[str, StepSpec], seeds: Iterable[object], guard: frozenset[str]
) -> set[type[Event]]:
    """Event types reachable from ``seeds`` without entering or leaving a stream level.

    A fan-out step met on the way contributes the returns of the collectors bound to its
    stream (recursively when such a collector fans out too), not its members; collectors
    end the walk (their output belongs to the level above). ``guard`` names fan-out
    producers already being expanded, so that a producer feeding itself terminates.
    """
    return _Levels(specs).walk(seeds, guard)


def levels_by_producer(specs: Mapping[str, StepSpec]) -> dict[str, set[type[Event]]]:
    """For each fan-out step, the event types of the stream level its members open."""
    levels = _Levels(specs)
    return {
        name: levels.walk(spec.emits, frozenset({name}))
        for name, spec in specs.items()
        if spec.fan_out
    }


def _binding_id(source: str, target: str, spec: StepSpec) -> str:
    names = ",".join(f"{t.__module__}.{t.__qualname__}" for t in spec.accepted)
    card = spec.collect.cardinality if spec.collect is not None else None
    mode = f"Take({card.n})" if isinstance(card, Take) else "All"
    return f"{source}->{target}:{names}:{mode}:nearest"


def compute_bindings(specs: Mapping[str, StepSpec]) -> dict[str, tuple[Binding, ...]]:
    """Producer name -> the bindings of its streams, in step order."""
    found: dict[str, tuple[Binding, ...]] = {}
    for source, level in levels_by_producer(specs).items():
        bindings: list[Binding] = []
        for target, spec in specs.items():
            if spec.collect is None or not any(spec.accepts_type(t) for t in level):
                continue
            card = spec.collect.cardinality
            bindings.append(
                Binding(
                    id=_binding_id(source, target, spec),
                    source=source,
                    target=target,
                    take=card.n if isinstance(card, Take) else None,
                )
            )
        found[source] = tuple(bindings)
    return found


def binding_problems(specs: Mapping[str, StepSpec]) -> list[str]:
    """A message per collector gathering a type no fan-out stream can hold."""
    if not any(s.collect is not None for s in specs.values()):
        return []
    produced = set().union(*levels_by_producer(specs).values())
    problems: list[str] = []
    for name, spec in specs.items():
        if spec.collect is None:
            continue
        missing = [
            t
            for t in spec.accepted
            if not any(p is t or (spec.accept_subclasses and issubclass(p, t)) for p in produced)
        ]
        if missing:
            names = ", ".join(sorted(t.__name__ for t in missing))
            problems.append(
                f"step {name!r} collects list[{names}] in {spec.event_param!r}, but no step "
                "returning list[...] opens a stream in which such events are produced "
                "(a list[E] parameter gathers only what a fan-out stream produces; for "
                "events sent with ctx.send_event use ctx.collect_events)"
            )
    return problems


# -- runtime -------------------------------------------------------------------------------
@dataclass(slots=True)
class CollectionStream:
    """One open stream: what a step's returned list started, until all of it has ended."""

    id: str
    source: str
    """The fan-out step that opened it."""
    scope: tuple[str, ...]
    """The streams enclosing it, innermost last: where its releases are delivered."""
    bindings: tuple[Binding, ...]
    open: int = 1
    """Work items alive in the stream (a new stream holds one until its members are out)."""
    buffers: dict[str, list[Event] | None] = field(default_factory=dict)
    """Binding id -> members gathered so far; ``None`` once that binding has fired."""

    def binding_to(self, target: str) -> Binding | None:
        """The binding of this stream that feeds step ``target``, if any."""
        for binding in self.bindings:
            if binding.target == target:
                return binding
        return None

    def add_member(self, binding: Binding, event: Event) -> list[Event] | None:
        """Buffer ``event`` for ``binding``; the batch to release if a ``Take`` is now met."""
        buffer = self.buffers.get(binding.id, [])
        if buffer is None:  # already released: later arrivals are dropped
            return None
        buffer.append(event)
        if binding.take is not None and len(buffer) >= binding.take:
            self.buffers[binding.id] = None
            return buffer[: binding.take]
        self.buffers[binding.id] = buffer
        return None

    def close(self) -> list[tuple[Binding, list[Event]]]:
        """The releases still owed when the stream ends: every binding not fired yet."""
        owed: list[tuple[Binding, list[Event]]] = []
        for binding in self.bindings:
            buffer = self.buffers.get(binding.id, [])
            if buffer is None:
                continue
            owed.append((binding, buffer[: binding.take] if binding.take else buffer))
        self.buffers.clear()
        return owed
