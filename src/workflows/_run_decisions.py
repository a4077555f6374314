"""The decisions of a run, as functions of its data that say what the shell must do.

The asyncio shell (:mod:`._runtime`) owns tasks, futures, timers and the stream; every
choice about the run is taken here, over :class:`~._run_state.RunState` and the static
:class:`~._graph.WorkflowGraph`: where an event goes, whether a step whose queue grew
needs a worker woken or started, what a worker does next, what a failed attempt leads
to, how a wait is recorded, which restored work is resumed, how a run that cannot go on
ends. Each function updates the run's plain data (that is
the state transition) and returns small immutable commands that the shell executes.
Nothing here touches asyncio or reads a clock (``now`` is passed in), so tests drive the
whole of it without an event loop (``tests/test_run_decisions.py``).

Routing returns a tuple of :data:`Command` items: a plain step name says "this step's
queue grew by one delivery of the routed event: see that it has a worker"; the other
commands are the dataclasses below. In the common case (the routes of the event's type,
no waiter, no collector) the tuple is the graph's cached route tuple itself, so the hot
path allocates nothing for the decision.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from ._run_state import Invocation, QueuedEvent, RunState, Waiter, waiter_key
from .errors import WorkflowRuntimeError, WorkflowStepDoesNotExistError
from .events import (
    CollectionReleaseEvent,
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StepFailedEvent,
    StopEvent,
    WorkflowTimedOutEvent,
)

if TYPE_CHECKING:
    from ._collection import Binding, CollectionStream
    from ._graph import WorkflowGraph
    from ._step_spec import StepSpec


# -- commands --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Finish:
    """End the run with ``stop_event``."""

    stop_event: StopEvent


@dataclass(frozen=True, slots=True)
class Write:
    """Write ``event`` to the caller's stream (it is already counted in the state)."""

    event: Event


@dataclass(frozen=True, slots=True)
class Answer:
    """Wake the step parked on ``waiter``, which ``event`` answered (already recorded)."""

    waiter: Waiter
    event: Event


@dataclass(frozen=True, slots=True)
class Unhandled:
    """No step takes ``event``: report it (``idle``: the run was quiescent then)."""

    event: Event
    idle: bool


@dataclass(frozen=True, slots=True)
class NotGathered:
    """A collector accepts ``event`` but it cannot be gathered: report it.

    ``source`` is the producer of the event's innermost stream (which ``collector`` does
    not gather), ``None`` if the event was produced in no stream.
    """

    event: Event
    collector: str
    source: str | None


@dataclass(frozen=True, slots=True)
class Release:
    """A collector's batch was queued for ``step`` (a stream's work, not a delivery)."""

    step: str


Command: TypeAlias = "str | Finish | Write | Answer | Unhandled | NotGathered | Release"
"""What routing asks of the shell; a ``str`` is a step that got one delivery queued."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Run the same invocation again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class CatchWith:
    """The failure went to the ``@catch_error`` step ``handler`` (its queue grew)."""

    handler: str


@dataclass(frozen=True, slots=True)
class FailRun:
    """End the run: step ``step`` failed for good with ``error``."""

    step: str
    error: BaseException
    attempts: int
    elapsed: float


Failure: TypeAlias = "Retry | CatchWith | FailRun"
"""What a failed attempt leads to."""


class Staffing(enum.Enum):
    """What a step whose queue grew needs from its workers."""

    WAKE = "wake"
    """Resolve the future of one parked worker."""
    SPAWN = "spawn"
    """Start one more worker (fewer than ``num_workers`` exist, none parked)."""
    FULL = "full"
    """Every worker is busy: the event waits in the queue."""


class Idle(enum.Enum):
    """What a worker with nothing to run does."""

    PARK = "park"
    """Wait on a future until its step's queue grows."""
    RETIRE = "retire"
    """Exit: only outside input can move the run on, so hold no task meanwhile."""


# Plain names for the members: reading ``Enum.MEMBER`` costs a descriptor call on
# Python 3.11, and these are compared once per event.
WAKE: Final = Staffing.WAKE
SPAWN: Final = Staffing.SPAWN
FULL: Final = Staffing.FULL
PARK: Final = Idle.PARK
RETIRE: Final = Idle.RETIRE


# -- routing ---------------------------------------------------------------------------
def route(
    state: RunState,
    graph: WorkflowGraph,
    event: Event,
    step: str | None,
    lineage: int,
    scope: tuple[str, ...],
    outside: bool,
) -> tuple[Command, ...]:
    """Route ``event``: to the step ``step`` if given, else to the oldest open waiter it
    answers, else to every step that accepts it (declaration order), its collectors
    and join buffers. Queues and buffers are filled here; see :data:`Command`.

    ``scope`` is the collection streams the event was produced in, ``outside`` is True
    for an event from the caller.

    Raises:
        WorkflowStepDoesNotExistError: ``step`` names no step (nothing was changed).
        WorkflowRuntimeError: ``step`` does not take ``event`` (nothing was changed).
    """
    if step is None and isinstance(event, StopEvent):
        return (Finish(event),)
    if step is not None:
        spec = check_target(graph, step, event)
        routed: tuple[Command, ...] = (step,)
        if spec.join is None:
            state.enqueue(step, QueuedEvent(event, lineage, scope))
        elif not _join(state, graph, step, event, lineage, scope):
            routed = ()
    elif state.open_waiters and (waiter := state.resolve_waiter(event)) is not None:
        routed = (Answer(waiter, event),)
    else:
        if outside and state.pending_prompts and isinstance(event, HumanResponseEvent):
            state.pending_prompts -= 1
        targets = graph.routes(type(event))
        if graph.gathering:
            routed = _route_gathering(state, graph, event, targets, lineage, scope)
        elif targets:
            for target in targets:
                state.enqueue(target, QueuedEvent(event, lineage, scope))
            routed = targets
        elif isinstance(event, InputRequiredEvent):
            # For the caller: no step taking it is the normal case.
            state.pending_prompts += 1
            return (Write(event),)
        else:
            routed = (Unhandled(event, state.is_quiescent),)
    if isinstance(event, InputRequiredEvent):
        state.pending_prompts += 1
        return (Write(event), *routed)
    return routed


def check_target(graph: WorkflowGraph, step: str, event: Event) -> StepSpec:
    """The spec of ``step`` if ``event`` may be sent to it (``send_event(ev, step=)``).

    Reads only the static graph, so a sync step's thread may call it too.

    Raises:
        WorkflowStepDoesNotExistError: no such step.
        WorkflowRuntimeError: the step does not take ``event``.
    """
    spec = graph.specs.get(step)
    if spec is None:
        raise WorkflowStepDoesNotExistError(step, list(graph.specs))
    if not spec.accepts(event):
        raise WorkflowRuntimeError(f"step {step!r} does not accept {type(event).__name__}")
    if spec.collect is not None:
        raise WorkflowRuntimeError(
            f"{type(event).__name__} was sent to step {step!r}, which takes a "
            "list[...]: such a step only gathers events produced inside a "
            "fan-out stream, it cannot be sent one"
        )
    return spec


def _unhandled(state: RunState, event: Event) -> tuple[Command, ...]:
    # An InputRequiredEvent is for the caller: no step taking it is the normal case.
    if isinstance(event, InputRequiredEvent):
        return ()
    return (Unhandled(event, state.is_quiescent),)


def _route_gathering(
    state: RunState,
    graph: WorkflowGraph,
    event: Event,
    targets: tuple[str, ...],
    lineage: int,
    scope: tuple[str, ...],
) -> tuple[Command, ...]:
    """:func:`route` in a workflow with collectors (``list[E]``) or joins."""
    cls = type(event)
    collectors = graph.collectors(cls) if graph.collecting else ()
    joins = graph.joins(cls) if graph.joining else ()
    commands: list[Command] = []
    if collectors:
        commands.extend(_gather(state, event, collectors, scope))
    elif not (targets or joins):
        return _unhandled(state, event)
    for target in targets:
        state.enqueue(target, QueuedEvent(event, lineage, scope))
    commands.extend(targets)
    commands.extend(name for name in joins if _join(state, graph, name, event, lineage, scope))
    return tuple(commands)


def _join(
    state: RunState,
    graph: WorkflowGraph,
    step: str,
    event: Event,
    lineage: int,
    scope: tuple[str, ...],
) -> bool:
    """Buffer ``event`` for a join step; True if that filled a batch, now queued.

    The call is queued with the lineage and scope of ``event``, the last to arrive; a
    buffered event is finished as far as its stream is concerned.
    """
    batch = state.join(step, event, graph.specs[step])
    if batch is None:
        return False
    state.enqueue(step, QueuedEvent(event, lineage, scope, batch))
    return True


def _gather(
    state: RunState, event: Event, collectors: tuple[str, ...], scope: tuple[str, ...]
) -> list[Command]:
    """Give a member to the collectors of its innermost stream."""
    streams = state.streams
    stream = streams.get(scope[-1]) if scope and streams else None
    commands: list[Command] = []
    for name in collectors:
        binding = stream.binding_to(name) if stream is not None else None
        if stream is None or binding is None:
            commands.append(NotGathered(event, name, None if stream is None else stream.source))
            continue
        batch = stream.add_member(binding, event)
        if batch is not None:
            commands.append(_release(state, stream, binding, batch))
    return commands


def _release(
    state: RunState, stream: CollectionStream, binding: Binding, batch: list[Event]
) -> Release:
    release = CollectionReleaseEvent(events=batch, stream_id=stream.id, binding_id=binding.id)
    state.enqueue(binding.target, QueuedEvent(release, 0, stream.scope))
    return Release(binding.target)


def settle(state: RunState, stream_id: str, delta: int) -> tuple[Release, ...]:
    """Count ``delta`` work items in a stream; if that closed it, queue the batches it
    still owes its collectors and return them."""
    closed = state.settle(stream_id, delta)
    if closed is None:
        return ()
    return tuple(_release(state, closed, binding, batch) for binding, batch in closed.close())


# -- workers ---------------------------------------------------------------------------
def staff(parked: int, running: int, limit: int) -> Staffing:
    """What a step needs once its queue grew: ``parked`` of its ``running`` workers wait
    for work, and it may have ``limit`` (``num_workers``)."""
    if parked:
        return WAKE
    if running < limit:
        return SPAWN
    return FULL


def next_work(
    state: RunState, step: str, resume: deque[Invocation] | None, clock: Callable[[], float]
) -> Invocation | Idle:
    """What a worker of ``step`` runs next: a restored invocation first, then the oldest
    queued event (begun at ``clock()``, read only then); with neither, whether it parks
    or retires."""
    if resume:
        return resume.popleft()
    queues = state.queues
    queue = queues.get(step)
    if queue:
        item = queue.popleft()
        if not queue:
            del queues[step]  # an empty deque costs ~600 bytes per step per run
        return state.begin(step, item, clock())
    return RETIRE if state.awaits_outside_input else PARK


def plan_resume(state: RunState, graph: WorkflowGraph) -> dict[str, deque[Invocation]]:
    """Prepare a restored state to run again: the invocations to re-run, per step.

    Queues the batches a restored join buffer already holds (a translated snapshot's
    pending events can complete one; this library's own buffers never hold one).
    Worker counts follow with :func:`workers_to_start`.

    Raises:
        WorkflowStepDoesNotExistError: the state names a step the workflow lacks.
    """
    joins = state.joins or {}
    for step, buffer in list(joins.items()):
        spec = graph.specs[step]
        while (ready := buffer.take_ready(spec)) is not None:
            trigger, batch = ready
            state.enqueue(step, QueuedEvent(trigger, 0, (), batch))
        if not buffer.size:
            del joins[step]
    resume: dict[str, deque[Invocation]] = {}
    for inv in sorted(state.in_flight.values(), key=lambda i: i.id):
        inv.blocked = False
        inv.wait_calls = 0
        resume.setdefault(inv.step, deque()).append(inv)
    for step in set(resume) | set(state.queues):
        if step not in graph.specs:
            raise WorkflowStepDoesNotExistError(step, list(graph.specs))
    return resume


def workers_to_start(
    state: RunState, graph: WorkflowGraph, resume: dict[str, deque[Invocation]]
) -> Iterable[tuple[str, int]]:
    """How many workers each step with restored work starts with, by step name."""
    for step in sorted(set(resume) | {s for s, q in state.queues.items() if q}):
        wanted = len(resume.get(step, ())) + len(state.queues.get(step, ()))
        yield step, min(wanted, graph.specs[step].num_workers)


# -- failures --------------------------------------------------------------------------
def on_step_failure(
    state: RunState,
    graph: WorkflowGraph,
    spec: StepSpec,
    inv: Invocation,
    exc: Exception,
    now: float,
) -> Failure:
    """Record a failed attempt of ``inv`` and decide what follows: a retry after the
    delay the step's policy gives, else the ``@catch_error`` step covering it (scoped
    first, then the wildcard, while ``lineage < max_recoveries``) gets a
    :class:`StepFailedEvent`, else the run fails. A policy that raises stops the retries
    and its error (caused by ``exc``) is the step's failure, as in the reference."""
    try:
        delay = retry_delay(state.run_id, spec, inv, exc, now)
    except Exception as policy_error:
        policy_error.__cause__ = exc
        delay, exc = None, policy_error
    inv.attempts += 1
    inv.last_error = f"{type(exc).__name__}: {exc}"
    inv.last_failed_at = now
    inv.emits_done = 0
    inv.writes_done = 0
    state.drop_waiters(inv.id)
    if delay is not None:
        inv.last_exception = exc
        return Retry(delay)
    state.finish(inv)
    elapsed = now - (inv.first_started_at or now)
    handler = graph.error_handler_for(spec.name)
    if handler is None or spec.catch_for_steps is not None or inv.lineage >= handler.max_recoveries:
        return FailRun(spec.name, exc, inv.attempts, elapsed)
    failed = StepFailedEvent(
        step_name=spec.name,
        input_event=inv.event,
        exception=exc,
        attempts=inv.attempts,
        elapsed_seconds=elapsed,
        failed_at=datetime.fromtimestamp(now, timezone.utc),
    )
    state.enqueue(handler.name, QueuedEvent(failed, inv.lineage + 1, inv.scope))
    return CatchWith(handler.name)


def retry_delay(
    run_id: str, spec: StepSpec, inv: Invocation, exc: Exception, now: float
) -> float | None:
    """Ask the step's retry policy how long to wait (``None``: no more retries).

    A policy whose ``next`` takes ``seed`` gets the reference's: the low 32 bits of
    ``sha256("<run id>:<step>:<failures>")``, so a failure draws the same jitter
    wherever the run is replayed.
    """
    policy = spec.retry_policy
    if policy is None:
        return None
    elapsed = now - (inv.first_started_at or now)
    failures = inv.attempts + 1
    if "seed" in inspect.signature(policy.next).parameters:
        digest = hashlib.sha256(f"{run_id}:{spec.name}:{failures}".encode())
        seed = int.from_bytes(digest.digest()[-4:], "big")
        delay = policy.next(elapsed, failures, exc, seed=seed)
    else:
        delay = policy.next(elapsed, failures, exc)
    return None if delay is None else max(0.0, float(delay))


# -- the timeout clock -----------------------------------------------------------------
def clock_should_pause(state: RunState) -> bool:
    """True if the run only waits for outside input, so its timeout stops running down."""
    return not state.queued_count and state.awaits_outside_input


class TimeoutBudget:
    """The seconds a run may still use (``Workflow(timeout=...)``; ``None``: no limit).

    Time counts only while the budget runs: :meth:`pause` (when
    :func:`clock_should_pause` holds) subtracts the time used so far, :meth:`resume` starts
    counting again. Each call that starts counting returns the seconds left, after which
    the run times out.
    """

    __slots__ = ("left", "running", "since")

    def __init__(self, seconds: float | None) -> None:
        self.left = seconds
        """Seconds left as of ``since`` (as of now while paused)."""
        self.since = 0.0
        self.running = False

    def start(self, now: float) -> float | None:
        """Start counting at ``now``; the seconds left (``None``: no limit)."""
        if self.left is None:
            return None
        self.since = now
        self.running = True
        return self.left

    def pause(self, now: float) -> None:
        """Stop counting at ``now``, keeping what is left."""
        if self.running and self.left is not None:
            self.left -= now - self.since
            self.running = False

    def resume(self, now: float) -> float | None:
        """Count again from ``now``; the seconds left (``None``: no limit)."""
        if self.left is None:
            return None
        if not self.running:
            self.since = now
            self.running = True
        return max(self.left - (now - self.since), 0.0)


# -- waits -----------------------------------------------------------------------------
def register_wait(
    state: RunState,
    inv: Invocation,
    event_type: type[Event],
    waiter_event: Event | None,
    waiter_id: str | None,
    requirements: dict[str, Any] | None,
    timeout: float | None,
    now: float,
) -> tuple[Waiter, Event | None]:
    """Record the next ``ctx.wait_for_event`` call of ``inv``; return its waiter and the
    event to write to the stream for it (``None``: nothing to write).

    The waiter is keyed by invocation, attempt and call index, so a replayed step finds
    its earlier waits (answered ones included) again. ``waiter_event`` is written once
    per waiter, and once per ``waiter_id`` across retries: a retried wait asks again only
    in the inbox.
    """
    key = waiter_key(inv.id, inv.attempts, inv.wait_calls)
    inv.wait_calls += 1
    waiter = state.waiters.get(key)
    if waiter is None:
        waiter = Waiter(
            key=key,
            invocation_id=inv.id,
            event_type=event_type,
            requirements=dict(requirements or {}),
            waiter_id=waiter_id,
            waiter_event=waiter_event,
            deadline=now + timeout if timeout is not None else None,
        )
        state.add_waiter(waiter)
    if waiter.resolved is not None or waiter.emitted:
        return waiter, None
    waiter.emitted = True
    if waiter_event is None or waiter_id in inv.prompted:
        return waiter, None
    if waiter_id is not None:
        inv.prompted.append(waiter_id)
    return waiter, waiter_event


def wait_timed_out(state: RunState, key: str) -> None:
    """Forget the waiter ``key``, whose own timeout passed unanswered."""
    state.waiters.pop(key, None)
    state.open_waiters.pop(key, None)


# -- the end ---------------------------------------------------------------------------
def stuck_streams(state: RunState) -> FailRun | None:
    """The failure of a run whose collection streams can never close (nothing queued or
    running is left to close them; only a damaged or foreign snapshot gets there)."""
    streams = state.streams
    if not streams or state.queued_count or state.in_flight:
        return None
    details = "; ".join(
        f"stream {s.id!r} of step {s.source!r} with {s.open} open work item(s)"
        for s in streams.values()
    )
    error = WorkflowRuntimeError(
        "the run has no work left but collection streams are still open, so it can "
        f"never finish: {details} (a snapshot from another version of the workflow?)"
    )
    return FailRun(next(iter(streams.values())).source, error, 0, 0.0)


def timed_out(state: RunState, timeout: float | None) -> WorkflowTimedOutEvent:
    """The stop event of a run whose timeout ran out, naming the steps still running."""
    active = sorted({inv.step for inv in state.in_flight.values()})
    return WorkflowTimedOutEvent(timeout=timeout, active_steps=active)
