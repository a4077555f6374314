"""Join steps: a step with several event parameters fires once one event per slot is there.

``async def join(self, a: A, b: B) -> C`` accepts ``A`` and ``B`` for routing. Each
event routed to it waits in the step's :class:`JoinBuffer` (one per step per run) until
a full batch exists: one event per parameter, chosen in declaration order — the oldest
buffered event matching slot 1, then the oldest *other* one matching slot 2, and so on,
backtracking when an early choice leaves a later slot empty (with
``accept_event_subclasses=True`` one event may fit several slots). The chosen events
leave the buffer; the others wait for the next batch. This is the rule of
llama-index-workflows 2.26.1.

The buffer keeps one deque per concrete event class, each entry numbered by arrival, so
that with exact-type matching (the default) checking and taking a batch costs O(slots),
however many events of one type are waiting. Plain data: nothing here touches asyncio.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .events import Event

if TYPE_CHECKING:
    from ._step_spec import StepSpec


@dataclass(slots=True)
class JoinBuffer:
    """The events routed to one join step that are not part of a batch yet."""

    by_type: dict[type[Event], deque[tuple[int, Event]]] = field(default_factory=dict)
    """Concrete event class -> ``(arrival number, event)``, oldest first."""
    arrivals: int = 0
    size: int = 0

    def add(self, event: Event) -> None:
        """Buffer ``event`` (no batch is looked for)."""
        queue = self.by_type.get(type(event))
        if queue is None:
            queue = self.by_type[type(event)] = deque()
        queue.append((self.arrivals, event))
        self.arrivals += 1
        self.size += 1

    def events(self) -> list[Event]:
        """Every buffered event, in arrival order."""
        entries = [entry for queue in self.by_type.values() for entry in queue]
        entries.sort(key=lambda entry: entry[0])
        return [event for _, event in entries]

    def take_batch(self, spec: StepSpec) -> tuple[Event, ...] | None:
        """Remove and return one event per slot of ``spec``, if the buffer holds a batch.

        Called after each :meth:`add`, a batch found always holds the event just added
        (the buffer held none before).
        """
        entries = self._take(spec)
        return None if entries is None else tuple(event for _, event in entries)

    def take_ready(self, spec: StepSpec) -> tuple[Event, tuple[Event, ...]] | None:
        """As :meth:`take_batch`, with the batch's most recent event (its trigger)."""
        entries = self._take(spec)
        if entries is None:
            return None
        return max(entries, key=lambda entry: entry[0])[1], tuple(e for _, e in entries)

    def _take(self, spec: StepSpec) -> list[tuple[int, Event]] | None:
        slots = spec.join
        assert slots is not None
        if self.size < len(slots):
            return None
        if spec.accept_subclasses:
            return self._take_matching(slots)
        return self._take_exact(slots)

    def _take_exact(
        self, slots: tuple[tuple[str, type[Event]], ...]
    ) -> list[tuple[int, Event]] | None:
        # Exact types: a slot takes the oldest event of its class; slots naming the same
        # class take them in order. A batch exists iff each class has enough events.
        by_type = self.by_type
        needed: dict[type[Event], int] = {}
        for _, wanted in slots:
            needed[wanted] = needed.get(wanted, 0) + 1
        for wanted, count in needed.items():
            queue = by_type.get(wanted)
            if queue is None or len(queue) < count:
                return None
        return [self._pop(wanted) for _, wanted in slots]

    def _pop(self, cls: type[Event]) -> tuple[int, Event]:
        queue = self.by_type[cls]
        entry = queue.popleft()
        if not queue:
            del self.by_type[cls]
        self.size -= 1
        return entry

    def _take_matching(
        self, slots: tuple[tuple[str, type[Event]], ...]
    ) -> list[tuple[int, Event]] | None:
        # Subclass-aware: a slot's candidates are the buffered events that are instances
        # of its type, oldest first; the first full assignment in that order wins.
        candidates: list[list[tuple[int, Event]]] = []
        for _, wanted in slots:
            found = [
                entry
                for cls, queue in self.by_type.items()
                if issubclass(cls, wanted)
                for entry in queue
            ]
            if not found:
                return None
            found.sort(key=lambda entry: entry[0])
            candidates.append(found)
        chosen = _first_assignment(candidates, 0, set())
        if chosen is None:
            return None
        taken = set(chosen)
        for cls in list(self.by_type):
            queue = self.by_type[cls]
            kept = deque(entry for entry in queue if entry[0] not in taken)
            if len(kept) != len(queue):
                if kept:
                    self.by_type[cls] = kept
                else:
                    del self.by_type[cls]
        self.size -= len(chosen)
        by_number = {n: event for found in candidates for n, event in found}
        return [(n, by_number[n]) for n in chosen]


def _first_assignment(
    candidates: list[list[tuple[int, Event]]], slot: int, used: set[int]
) -> list[int] | None:
    """Arrival numbers for slots ``slot``.., each unused and distinct; the first in order."""
    if slot == len(candidates):
        return []
    for number, _ in candidates[slot]:
        if number in used:
            continue
        used.add(number)
        rest = _first_assignment(candidates, slot + 1, used)
        used.discard(number)
        if rest is not None:
            return [number, *rest]
    return None


def buffer_of(events: Iterable[Event]) -> JoinBuffer:
    """A buffer holding ``events`` in that arrival order (a restored snapshot's)."""
    buffer = JoinBuffer()
    for event in events:
        buffer.add(event)
    return buffer
