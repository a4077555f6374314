"""The asyncio shell of a run: it executes what :mod:`._run_decisions` decides.

The decisions (where an event goes, whether a step needs a worker, what a worker runs
next, what a failed attempt leads to, when the timeout pauses) are functions of the
run's data in :class:`~workflows._run_state.RunState`; this module owns what they cannot:
worker tasks, the futures that park them, timers, the stream and the listener.

Each step gets long-lived worker tasks (started on its first event, at most
``num_workers``), fed from the step's queue; an idle worker sleeps on a future that the
next enqueue resolves. No task is created per event. Every task a run starts is owned by
the run and cancelled and awaited when it ends.

Split by concern: the timeout timer is :mod:`._run_clock`, ``wait_for_event`` is
:mod:`._run_waits`, collection streams are :mod:`._run_streams`, calling one step is
:mod:`._step_call`; join buffers are plain data in :mod:`._join`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from . import _run_streams, _run_waits
from ._run_clock import RunClock
from ._run_decisions import (
    PARK,
    SPAWN,
    WAKE,
    Answer,
    CatchWith,
    Command,
    Finish,
    NotGathered,
    Release,
    Retry,
    Unhandled,
    Write,
    check_target,
    next_work,
    on_step_failure,
    plan_resume,
    route,
    staff,
    timed_out,
    workers_to_start,
)
from ._run_state import Invocation, RunState, current_invocation
from ._step_call import call_step, check_result
from ._step_spec import StepSpec
from ._stream import EventStream
from ._tracing import step_span
from .errors import (
    WorkflowCancelledByUser,
    WorkflowTimeoutError,
)
from .events import (
    Event,
    StartEvent,
    StepState,
    StepStateChanged,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
)

if TYPE_CHECKING:
    from .context.context import Context
    from .handler import WorkflowHandler
    from .workflow import Workflow

logger = logging.getLogger("workflows")


class RunListener(Protocol):
    """Observes a run's step boundaries (the durable engine commits at each one)."""

    def boundary(self, run: Run) -> None:
        """Called synchronously whenever the run's state reached a consistent point."""


class _RunStream(EventStream):
    """The run's stream; it notes whether a reader asked for internal events.

    Step-state and idle events are built only then: they cost nothing otherwise.
    """

    __slots__ = ("internal_wanted",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.internal_wanted = False

    def events(self, expose_internal: bool = False) -> AsyncIterator[Event]:
        """As :meth:`EventStream.events`; from now on internal events are written."""
        if expose_internal:
            self.internal_wanted = True
        return super().events(expose_internal)


class Run:
    """One execution of a workflow over a context's :class:`RunState`."""

    def __init__(self, workflow: Workflow, ctx: Context[Any], handler: WorkflowHandler) -> None:
        self.workflow = workflow
        self.ctx = ctx
        self.handler = handler
        self.state: RunState = ctx._state
        self.loop = asyncio.get_running_loop()
        self.graph = workflow._graph()
        self.stream = _RunStream(self.loop)
        self.done = False
        self._workers: list[asyncio.Task[None]] = []
        self._worker_count: dict[str, int] = {}
        self._idle: dict[str, list[tuple[asyncio.Future[None], Any]]] = {}
        self._resume: dict[str, deque[Invocation]] = {}
        self.waiter_futures: dict[str, asyncio.Future[Event]] = {}
        """Waiter key -> the future its step is parked on (see :mod:`._run_waits`)."""
        self._shutdown_task: asyncio.Task[None] | None = None
        self._timeout = workflow.timeout
        self.clock = RunClock(self.loop, workflow.timeout, self.state, self._on_timeout)
        self.listener: RunListener | None = None
        self.callables = workflow._step_callables()
        self.unpublished: list[Event] = []
        """Stream events held back until the listener has committed them (durable mode)."""
        self.cause: tuple[str, str] = ("start", "")
        """What the latest boundary marks, for the listener: ``("start", start event
        type)``, ``("resume", "")``, ``("step", step that ended)``, ``("wait", step that
        began to wait)``, ``("event", type of an event from outside)``, ``("answer", type
        of the event a waiter took)`` or ``("end", stop event type)``. Set just before
        the listener is told of the boundary (per step only when there is one)."""

    # -- start -------------------------------------------------------------------------
    def start(self, start_event: StartEvent | None) -> None:
        """Begin the run: deliver ``start_event``, or resume a restored state."""
        self.clock.start()
        if start_event is None:
            self.cause = ("resume", "")
            self._resume_restored()
            if self.state.streams:
                _run_streams.check_streams(self)
        else:
            self.cause = ("start", type(start_event).__name__)
            self.state.started = True
            self.emit(start_event, None, 0)
        if not self.done:
            self.clock.maybe_pause()
        self.boundary()

    def boundary(self) -> None:
        """Tell the listener the state is at a consistent point (a commit, when durable)."""
        if self.listener is not None:
            self.listener.boundary(self)

    def replayed(self, inv: Invocation | None) -> bool:
        """Count a send/stream write of ``inv``; True if a restored replay already made it."""
        if inv is None:
            return False
        inv.emit_calls += 1
        if inv.emit_calls <= inv.emits_done:
            return True
        inv.emits_done += 1
        return False

    def replayed_write(self, inv: Invocation) -> bool:
        """Count a state-store write of ``inv``; True if a restored replay already made it."""
        inv.write_calls += 1
        if inv.write_calls <= inv.writes_done:
            return True
        inv.writes_done += 1
        return False

    def _resume_restored(self) -> None:
        self._resume = plan_resume(self.state, self.graph)
        for step, count in workers_to_start(self.state, self.graph, self._resume):
            for _ in range(count):
                self._spawn(step)

    # -- events from outside -----------------------------------------------------------
    def send_from_outside(self, event: Event, step: str | None = None) -> None:
        """Deliver an event from the caller (a boundary in durable mode)."""
        self.emit(event, step, 0, outside=True)
        if not self.done and self.listener is not None:
            self.cause = ("event", type(event).__name__)
            self.listener.boundary(self)

    def deliver_to_waiter(self, key: str, event: Event) -> bool:
        """Resolve the waiter ``key`` with ``event``; False if it no longer waits."""
        return _run_waits.deliver_to_waiter(self, key, event)

    def wait_for_event(
        self,
        event_type: type[Event],
        waiter_event: Event | None,
        waiter_id: str | None,
        requirements: dict[str, Any] | None,
        timeout: float | None,
    ) -> Awaitable[Event]:
        """Pause the calling step until a matching event arrives (see Context.wait_for_event)."""
        return _run_waits.wait_for_event(
            self, event_type, waiter_event, waiter_id, requirements, timeout
        )

    def release(self) -> list[asyncio.Task[None]]:
        """Drop the run from memory without ending it (its state stays as committed).

        Returns the cancelled worker tasks, for the caller to await.
        """
        self.done = True
        self.clock.stop()
        live = [task for task in self._workers if not task.done()]
        for task in live:
            task.cancel()
        return live

    # -- routing -----------------------------------------------------------------------
    def emit(
        self,
        event: Event,
        step: str | None,
        lineage: int,
        outside: bool = False,
        scope: tuple[str, ...] = (),
    ) -> int:
        """Route ``event`` (see :func:`~._run_decisions.route`) and carry out the result.

        ``scope`` is the collection streams the event was produced in. Returns how many
        step deliveries were queued (each is a work item of the innermost stream).
        """
        if self.done:
            return 0
        delivered = 0
        for command in route(self.state, self.graph, event, step, lineage, scope, outside):
            if type(command) is str:
                delivered += 1
                self.ensure_worker(command)
            elif type(command) is Write:  # an InputRequiredEvent: once per human round
                self.write(command.event)
            else:
                self._execute(command)
        return delivered

    def _execute(self, command: Command) -> None:
        if isinstance(command, Write):
            self.write(command.event)
        elif isinstance(command, Answer):
            _run_waits.answer(self, command.waiter, command.event)
        elif isinstance(command, Release):
            self.ensure_worker(command.step)
        elif isinstance(command, Finish):
            self.finish(command.stop_event)
        elif isinstance(command, Unhandled):
            self._unhandled(command.event, command.idle)
        elif isinstance(command, NotGathered):
            self._not_gathered(command)

    def check_target(self, step: str, event: Event) -> StepSpec:
        """The spec of ``step`` if ``event`` may be sent to it (``send_event(ev, step=)``).

        Reads only the static graph, so a sync step's thread may call it too.

        Raises:
            WorkflowStepDoesNotExistError: no such step.
            WorkflowRuntimeError: the step does not take ``event``.
        """
        return check_target(self.graph, step, event)

    def _unhandled(self, event: Event, idle: bool) -> None:
        logger.warning(
            "workflow %r run %s: no step accepts %s; event dropped",
            self.workflow.workflow_name,
            self.state.run_id,
            type(event).__name__,
        )
        cls = type(event)
        self.write(
            UnhandledEvent(
                event_type=cls.__name__,
                qualified_name=f"{cls.__module__}.{cls.__name__}",
                idle=idle,
            )
        )
        if idle and self.stream.internal_wanted:
            self.internal(WorkflowIdleEvent())

    def _not_gathered(self, command: NotGathered) -> None:
        logger.warning(
            "workflow %r run %s: %s reaches step %r, which takes a list[...], but "
            "it was produced %s; it is not gathered",
            self.workflow.workflow_name,
            self.state.run_id,
            type(command.event).__name__,
            command.collector,
            "outside any fan-out stream (for example with ctx.send_event)"
            if command.source is None
            else f"in a stream of step {command.source!r}, which {command.collector!r} "
            "does not gather",
        )

    def ensure_worker(self, step: str) -> None:
        """See that ``step``, whose queue just grew, has a worker: wake or start one."""
        idle = self._idle.get(step)
        decision = staff(
            len(idle) if idle else 0,
            self._worker_count.get(step, 0),
            self.graph.specs[step].num_workers,
        )
        if decision is WAKE:
            assert idle
            waiter, _ = idle.pop()
            if not waiter.done():
                waiter.set_result(None)
        elif decision is SPAWN:
            self._spawn(step)
        elif self.stream.internal_wanted:
            queue = self.state.queues.get(step)
            name = type(queue[-1].event).__name__ if queue else "?"
            self._step_state(step, StepState.PREPARING, "<enqueued>", name)
        if self.clock.paused:
            self.clock.resume()

    def write(self, event: Event) -> None:
        """Write ``event`` to the caller's stream."""
        self.state.stream_seq += 1
        if self.listener is not None:
            self.unpublished.append(event)
        else:
            self.stream.put(event)

    def internal(self, event: Event) -> None:
        """Write an observer-only event (step states, idle) to the stream.

        Not part of the run's state, its stream position or its log.
        """
        if not self.done:
            self.stream.put(event)

    def _step_state(
        self,
        step: str,
        state: StepState,
        worker: str,
        input_name: str,
        output_name: str | None = None,
    ) -> None:
        self.internal(
            StepStateChanged(
                name=step,
                step_state=state,
                worker_id=worker,
                input_event_name=input_name,
                output_event_name=output_name,
            )
        )

    # -- workers -----------------------------------------------------------------------
    def _spawn(self, step: str) -> None:
        count = self._worker_count.get(step, 0) + 1
        self._worker_count[step] = count
        workers = self._workers
        if len(workers) >= 16:
            workers[:] = [task for task in workers if not task.done()]
        workers.append(self.loop.create_task(self._worker(step, str(count - 1))))

    async def _worker(self, step: str, slot: str) -> None:
        spec = self.graph.specs[step]
        state = self.state
        idle = self._idle.setdefault(step, [])
        resume = self._resume.get(step)
        loop = self.loop
        me = asyncio.current_task()
        clock = time.time
        while not self.done:
            work = next_work(state, step, resume, clock)
            if type(work) is Invocation:
                await self._invoke(spec, work, slot)
            elif work is PARK:
                waiter = loop.create_future()
                idle.append((waiter, me))
                await waiter
            else:
                self._worker_count[step] -= 1
                return

    def _dismiss_idle_workers(self) -> None:
        for idle in self._idle.values():
            while idle:
                waiter, _ = idle.pop()
                if not waiter.done():
                    waiter.set_result(None)

    async def _invoke(self, spec: StepSpec, inv: Invocation, slot: str = "0") -> None:
        token = current_invocation.set(inv)
        if self.workflow.verbose:
            logger.info(
                "run %s: step %r got %s", self.state.run_id, spec.name, type(inv.event).__name__
            )
        try:
            while True:
                inv.wait_calls = 0
                inv.emit_calls = 0
                inv.write_calls = 0
                if self.stream.internal_wanted:
                    self._step_state(spec.name, StepState.RUNNING, slot, type(inv.event).__name__)
                try:
                    span = step_span(self.workflow.workflow_name, self.state.run_id, spec.name)
                    if type(span) is nullcontext:  # no tracing: spare two calls per step
                        result = await call_step(self, spec, inv)
                        if spec.fan_out or not (result is None or isinstance(result, Event)):
                            check_result(spec, result)
                    else:
                        with span:
                            result = await call_step(self, spec, inv)
                            if spec.fan_out or not (result is None or isinstance(result, Event)):
                                check_result(spec, result)
                except Exception as exc:
                    if self.done:
                        return
                    if self.stream.internal_wanted:
                        self._step_state(
                            spec.name, StepState.NOT_RUNNING, slot, str(type(inv.event))
                        )
                    outcome = on_step_failure(self.state, self.graph, spec, inv, exc, time.time())
                    if isinstance(outcome, Retry):
                        if outcome.delay > 0:
                            await asyncio.sleep(outcome.delay)
                        continue
                    if isinstance(outcome, CatchWith):
                        self.ensure_worker(outcome.handler)
                    else:
                        self.fail(
                            outcome.step,
                            outcome.error,
                            attempts=outcome.attempts,
                            elapsed=outcome.elapsed,
                        )
                    return
                if self.done:
                    return
                self.state.finish(inv)
                if self.stream.internal_wanted:
                    self._step_state(
                        spec.name,
                        StepState.NOT_RUNNING,
                        slot,
                        str(type(inv.event)),
                        str(type(result)),
                    )
                self._handle_result(spec, result, inv)
                return
        finally:
            current_invocation.reset(token)
            if not self.done:
                if self._timeout is not None:
                    self.clock.maybe_pause()
                if self.state.awaits_outside_input:
                    self._dismiss_idle_workers()
                if self.stream.internal_wanted and self.state.is_quiescent:
                    self.internal(WorkflowIdleEvent())
                if self.state.streams:
                    _run_streams.check_streams(self)
                if self.listener is not None:  # self.boundary(), without a call per step
                    self.cause = ("step", spec.name)
                    self.listener.boundary(self)

    def _handle_result(self, spec: StepSpec, result: Any, inv: Invocation) -> None:
        scope = inv.scope
        if result is None:
            if scope:
                _run_streams.settle(self, scope[-1], -1)
            return
        if spec.fan_out and isinstance(result, list):
            _run_streams.fan_out(self, spec, result, inv)
            return
        if scope:
            delivered = self.emit(result, None, inv.lineage, scope=scope)
            _run_streams.settle(self, scope[-1], delivered - 1)
        else:
            self.emit(result, None, inv.lineage)

    # -- the end -----------------------------------------------------------------------
    def _on_timeout(self) -> None:
        self.finish(
            timed_out(self.state, self._timeout),
            WorkflowTimeoutError(f"Operation timed out after {self._timeout} seconds"),
        )

    def fail(self, step_name: str, error: BaseException, attempts: int, elapsed: float) -> None:
        """End the run because a step failed for good."""
        event = WorkflowFailedEvent(
            step_name=step_name, exception=error, attempts=attempts, elapsed_seconds=elapsed
        )
        self.finish(event, error)

    def cancel(self) -> None:
        """End the run at the caller's request."""
        self.finish(WorkflowCancelledEvent(), WorkflowCancelledByUser("the run was cancelled"))

    def finish(self, stop_event: StopEvent, error: BaseException | None = None) -> None:
        """End the run with ``stop_event`` (and ``error`` for the handler, if any)."""
        if self.done:
            return
        self.done = True
        self.clock.stop()
        self.state.stop_event = stop_event
        self.write(stop_event)
        if self.listener is None:
            self.stream.close()
        else:
            self.cause = ("end", type(stop_event).__name__)
            self.boundary()
        for future in self.waiter_futures.values():
            future.cancel()
        # Parked workers just need waking (they see `done` and return); busy ones are
        # cancelled and awaited before the handler settles.
        parked: set[asyncio.Task[Any]] = set()
        for idle in self._idle.values():
            while idle:
                waiter, task = idle.pop()
                if not waiter.done():
                    waiter.set_result(None)
                    parked.add(task)
        current = asyncio.current_task()
        busy = [t for t in self._workers if t is not current and t not in parked and not t.done()]
        if busy:
            self._shutdown_task = self.loop.create_task(self._shutdown(busy, stop_event, error))
        else:
            self.ctx._run_finished(self)
            self.handler._settle(stop_event, error)

    async def _shutdown(
        self, busy: list[asyncio.Task[None]], stop_event: StopEvent, error: BaseException | None
    ) -> None:
        for task in busy:
            task.cancel()
        await asyncio.gather(*busy, return_exceptions=True)
        self.ctx._run_finished(self)
        self.handler._settle(stop_event, error)
