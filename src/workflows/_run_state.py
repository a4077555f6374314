"""The state of one run as plain data, and the decisions taken over it.

Nothing here touches asyncio: the runtime (``_runtime.py``) moves events and runs steps,
and asks this module what the next state is. A snapshot (``ctx.to_dict()``) is exactly
this data; the durable engine commits it at step boundaries.

::

    RunState
    ├── queues        step name -> deque[QueuedEvent]   events waiting for a free worker
    ├── in_flight     invocation id -> Invocation       step calls started, not finished
    ├── waiters       key -> Waiter                     ctx.wait_for_event calls
    ├── collect       buffer key -> [Event]             ctx.collect_events buffers
    ├── streams       stream id -> CollectionStream     open fan-outs (list[E] returns)
    ├── joins         step name -> JoinBuffer           events waiting for a join's batch
    ├── stream_seq    events written to the stream so far
    ├── pending_prompts  InputRequiredEvents not yet answered from outside
    └── stop_event    set once the run has ended
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._collection import CollectionStream
from ._join import JoinBuffer
from .events import Event, StopEvent

if TYPE_CHECKING:
    from ._step_spec import StepSpec


@dataclass(slots=True)
class QueuedEvent:
    """An event waiting in a step's queue; ``lineage`` counts recoveries upstream of it."""

    event: Event
    lineage: int = 0
    scope: tuple[str, ...] = ()
    """The collection streams it was produced in, innermost last (empty: top level)."""
    bound: tuple[Event, ...] | None = None
    """For a join step: its batch, one event per slot (``event`` is the last to arrive)."""


@dataclass(slots=True)
class Invocation:
    """A step call that has started and not finished (retries reuse the same record)."""

    id: int
    step: str
    event: Event
    lineage: int = 0
    scope: tuple[str, ...] = ()
    """The collection streams its input belongs to, innermost last."""
    bound: tuple[Event, ...] | None = None
    """For a join step: the batch it is called with (``event`` arrived last)."""
    attempts: int = 0
    """Failed attempts so far."""
    first_started_at: float | None = None
    last_error: str | None = None
    last_failed_at: float | None = None
    prompted: list[str] = field(default_factory=list)
    """``waiter_id``s whose waiter event this invocation has written (kept across retries)."""
    emits_done: int = 0
    """Events this attempt sent or streamed so far; a replay after restore skips as many."""
    writes_done: int = 0
    """State-store writes this attempt made so far; a replay after restore skips as many."""
    write_calls: int = 0
    """State-store writes made by the current execution (not serialised)."""
    emit_calls: int = 0
    """Sends/stream writes made by the current execution (not serialised)."""
    last_exception: BaseException | None = None
    """The previous attempt's exception (in memory only; snapshots keep ``last_error``)."""
    wait_calls: int = 0
    """``wait_for_event`` calls made by the current attempt (not serialised: replays recount)."""
    blocked: bool = False
    """True while the invocation waits in ``wait_for_event`` for outside input."""


current_invocation: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar(
    "workflows_current_invocation", default=None
)
"""The step invocation the running code belongs to (set by the runtime around a step)."""


@dataclass(slots=True)
class Waiter:
    """A ``ctx.wait_for_event`` call: what it waits for and whether the answer came."""

    key: str
    invocation_id: int
    event_type: type[Event]
    requirements: dict[str, Any]
    waiter_id: str | None = None
    waiter_event: Event | None = None
    emitted: bool = False
    resolved: Event | None = None
    deadline: float | None = None
    """Wall-clock time (``time.time()``) after which the wait times out."""

    def matches(self, event: Event) -> bool:
        """True if ``event`` answers this waiter."""
        if self.resolved is not None or not isinstance(event, self.event_type):
            return False
        return all(event.get(k) == v for k, v in self.requirements.items())


def waiter_key(invocation_id: int, attempt: int, call_index: int) -> str:
    """The key of the ``call_index``-th wait of an attempt (stable across replays)."""
    return f"{invocation_id}:{attempt}:{call_index}"


@dataclass
class RunState:
    """Everything that decides what a run does next."""

    run_id: str
    queues: dict[str, deque[QueuedEvent]] = field(default_factory=dict)
    in_flight: dict[int, Invocation] = field(default_factory=dict)
    waiters: dict[str, Waiter] = field(default_factory=dict)
    open_waiters: dict[str, Waiter] = field(default_factory=dict)
    """The unanswered subset of ``waiters``, oldest first (what routing scans)."""
    collect: dict[str, list[Event]] = field(default_factory=dict)
    streams: dict[str, CollectionStream] | None = None
    """Open collection streams (see :mod:`workflows._collection`); ``None`` until the first
    (most runs never open one, and an empty dict per run is memory for nothing)."""
    joins: dict[str, JoinBuffer] | None = None
    """Join step name -> the events waiting for a batch; ``None`` until the first."""
    stream_seq: int = 0
    next_invocation_id: int = 1
    pending_prompts: int = 0
    queued_count: int = 0
    started: bool = False
    stop_event: StopEvent | None = None

    # -- queues ------------------------------------------------------------------------
    def enqueue(self, step: str, item: QueuedEvent) -> None:
        """Put an event in a step's queue."""
        queue = self.queues.get(step)
        if queue is None:
            queue = self.queues[step] = deque()
        queue.append(item)
        self.queued_count += 1

    def begin(self, step: str, item: QueuedEvent, now: float) -> Invocation:
        """Record that a step starts processing ``item`` (already taken off its queue)."""
        self.queued_count -= 1
        inv = Invocation(
            id=self.next_invocation_id,
            step=step,
            event=item.event,
            lineage=item.lineage,
            scope=item.scope,
            bound=item.bound,
            first_started_at=now,
        )
        self.next_invocation_id += 1
        self.in_flight[inv.id] = inv
        return inv

    def finish(self, inv: Invocation) -> None:
        """Forget a finished invocation and its waiters."""
        self.in_flight.pop(inv.id, None)
        if self.waiters:
            self.drop_waiters(inv.id)

    def drop_waiters(self, invocation_id: int) -> None:
        """Forget the waiters of one invocation (it finished, or a new attempt starts)."""
        prefix = f"{invocation_id}:"
        for key in [k for k in self.waiters if k.startswith(prefix)]:
            del self.waiters[key]
            self.open_waiters.pop(key, None)

    @property
    def is_quiescent(self) -> bool:
        """Nothing queued and every in-flight invocation blocked on outside input."""
        if self.queued_count:
            return False
        return all(inv.blocked for inv in self.in_flight.values())

    @property
    def awaits_outside_input(self) -> bool:
        """Quiescent, and someone outside has been asked for something."""
        if not self.is_quiescent:
            return False
        return self.pending_prompts > 0 or bool(self.open_waiters)

    # -- waiters -----------------------------------------------------------------------
    def resolve_waiter(self, event: Event) -> Waiter | None:
        """Give ``event`` to the oldest waiter it answers, if any (that waiter only)."""
        for key, waiter in self.open_waiters.items():
            if waiter.matches(event):
                waiter.resolved = event
                del self.open_waiters[key]
                return waiter
        return None

    def add_waiter(self, waiter: Waiter) -> None:
        """Record a new wait."""
        self.waiters[waiter.key] = waiter
        if waiter.resolved is None:
            self.open_waiters[waiter.key] = waiter

    # -- collect_events ----------------------------------------------------------------
    def collect_events(
        self, key: str, event: Event, expected: Sequence[type[Event]]
    ) -> list[Event] | None:
        """Buffer ``event``; once one event per expected type is there, return them in order."""
        buffer = self.collect.get(key)
        if buffer is None:
            buffer = self.collect[key] = []
        buffer.append(event)
        # Callers pass the full expected list on every call: touch it only once the buffer
        # could satisfy it, so that collecting N events costs O(N), not O(N^2).
        if len(buffer) < len(expected):
            return None
        used = bytearray(len(buffer))
        next_index: dict[type[Event], int] = {}
        chosen: list[int] = []
        for wanted in expected:
            index = next_index.get(wanted, 0)
            while index < len(buffer) and (used[index] or not isinstance(buffer[index], wanted)):
                index += 1
            if index == len(buffer):
                return None
            used[index] = 1
            next_index[wanted] = index + 1
            chosen.append(index)
        result = [buffer[i] for i in chosen]
        remaining = [ev for i, ev in enumerate(buffer) if not used[i]]
        if remaining:
            self.collect[key] = remaining
        else:
            del self.collect[key]
        return result

    # -- collection streams ------------------------------------------------------------
    def open_stream(self, stream: CollectionStream) -> None:
        """Record a stream a step's returned list has just opened."""
        if self.streams is None:
            self.streams = {}
        self.streams[stream.id] = stream

    def settle(self, stream_id: str, delta: int) -> CollectionStream | None:
        """Add ``delta`` work items to a stream; return it if that closed it.

        A closed stream is forgotten; the caller delivers what its
        :meth:`CollectionStream.close` still owes.
        """
        streams = self.streams
        stream = streams.get(stream_id) if streams else None
        if streams is None or stream is None:
            return None
        stream.open += delta
        if stream.open > 0:
            return None
        del streams[stream_id]
        return stream

    # -- joins -------------------------------------------------------------------------
    def join(self, step: str, event: Event, spec: StepSpec) -> tuple[Event, ...] | None:
        """Buffer ``event`` for the join step ``step``; return a batch if one is now full."""
        joins = self.joins
        if joins is None:
            joins = self.joins = {}
        buffer = joins.get(step)
        if buffer is None:
            buffer = joins[step] = JoinBuffer()
        buffer.add(event)
        batch = buffer.take_batch(spec)
        if batch is not None and not buffer.size:
            del joins[step]
        return batch

    # -- life cycle --------------------------------------------------------------------
    @property
    def has_pending_work(self) -> bool:
        """True if resuming this state would do something (a restored, unfinished run)."""
        return bool(self.queued_count or self.in_flight or self.waiters)

    def reset_for_new_run(self, run_id: str) -> None:
        """Clear the run-scoped parts (the state store lives elsewhere and is kept)."""
        self.run_id = run_id
        self.queues.clear()
        self.in_flight.clear()
        self.waiters.clear()
        self.open_waiters.clear()
        self.collect.clear()
        self.streams = None
        self.joins = None
        self.stream_seq = 0
        self.next_invocation_id = 1
        self.pending_prompts = 0
        self.queued_count = 0
        self.started = False
        self.stop_event = None


def run_result(stop_event: StopEvent) -> Any:
    """What awaiting a run that ended with ``stop_event`` gives: the ``result`` of a plain
    ``StopEvent``, the event itself for a subclass."""
    return stop_event.result if type(stop_event) is StopEvent else stop_event
