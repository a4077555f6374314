"""The asyncio shell of a run: worker tasks, the timeout clock, waits and the end.

Each step gets long-lived worker tasks (started on its first event, at most
``num_workers``), fed from the step's queue in :class:`~workflows._run_state.RunState`;
an idle worker sleeps on a future that the next enqueue resolves. No task is created per
event. Every task a run starts is owned by the run and cancelled and awaited when it ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ._collection import Binding, CollectionStream
from ._run_state import (
    Invocation,
    QueuedEvent,
    RunState,
    Waiter,
    current_invocation,
    waiter_key,
)
from ._step_spec import StepSpec
from ._stream import EventStream
from ._tracing import step_span
from .errors import (
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
    WorkflowStepDoesNotExistError,
    WorkflowTimeoutError,
)
from .events import (
    CollectionReleaseEvent,
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StepState,
    StepStateChanged,
    StopEvent,
    UnhandledEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowIdleEvent,
    WorkflowTimedOutEvent,
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
        self._waiter_futures: dict[str, asyncio.Future[Event]] = {}
        self._shutdown_task: asyncio.Task[None] | None = None
        self._timeout = workflow.timeout
        self._budget = workflow.timeout
        self._clock_since = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._clock_paused = False
        self.listener: RunListener | None = None
        self._callables = workflow._step_callables()
        self.unpublished: list[Event] = []
        """Stream events held back until the listener has committed them (durable mode)."""

    # -- start -------------------------------------------------------------------------
    def start(self, start_event: StartEvent | None) -> None:
        """Begin the run: deliver ``start_event``, or resume a restored state."""
        self._start_clock()
        if start_event is None:
            self._resume_restored()
            if self.state.streams:
                self._check_streams()
        else:
            self.state.started = True
            self.emit(start_event, None, 0)
        if not self.done:
            self._maybe_pause_clock()
        self._boundary()

    def _boundary(self) -> None:
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
        state = self.state
        for inv in sorted(state.in_flight.values(), key=lambda i: i.id):
            inv.blocked = False
            inv.wait_calls = 0
            self._resume.setdefault(inv.step, deque()).append(inv)
        steps = set(self._resume) | {s for s, q in state.queues.items() if q}
        for step_name in sorted(steps):
            if step_name not in self.graph.specs:
                raise WorkflowStepDoesNotExistError(step_name, list(self.graph.specs))
            wanted = len(self._resume.get(step_name, ())) + len(state.queues.get(step_name, ()))
            for _ in range(min(wanted, self.graph.specs[step_name].num_workers)):
                self._spawn(step_name)

    # -- routing -----------------------------------------------------------------------
    def send_from_outside(self, event: Event, step: str | None = None) -> None:
        """Deliver an event from the caller (a boundary in durable mode)."""
        self.emit(event, step, 0, outside=True)
        if not self.done:
            self._boundary()

    def deliver_to_waiter(self, key: str, event: Event) -> bool:
        """Resolve the waiter ``key`` with ``event``; False if it no longer waits."""
        waiter = self.state.open_waiters.pop(key, None)
        if waiter is None or self.done:
            return False
        waiter.resolved = event
        future = self._waiter_futures.pop(key, None)
        if future is not None and not future.done():
            future.set_result(event)
        self._resume_clock()
        self._boundary()
        return True

    def release(self) -> list[asyncio.Task[None]]:
        """Drop the run from memory without ending it (its state stays as committed).

        Returns the cancelled worker tasks, for the caller to await.
        """
        self.done = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        live = [task for task in self._workers if not task.done()]
        for task in live:
            task.cancel()
        return live

    def emit(
        self,
        event: Event,
        step: str | None,
        lineage: int,
        outside: bool = False,
        scope: tuple[str, ...] = (),
    ) -> int:
        """Route ``event`` to a waiter, a targeted step, or every accepting step.

        ``scope`` is the collection streams the event was produced in. Returns how many
        step deliveries were queued (each is a work item of the innermost stream).
        """
        if self.done:
            return 0
        state = self.state
        if isinstance(event, StopEvent) and step is None:
            self.finish(event)
            return 0
        if isinstance(event, InputRequiredEvent):
            state.pending_prompts += 1
            self.write(event)
        if step is not None:
            spec = self.graph.specs.get(step)
            if spec is None:
                raise WorkflowStepDoesNotExistError(step, list(self.graph.specs))
            if not spec.accepts(event):
                raise WorkflowRuntimeError(f"step {step!r} does not accept {type(event).__name__}")
            if spec.collect is not None:
                raise WorkflowRuntimeError(
                    f"{type(event).__name__} was sent to step {step!r}, which takes a "
                    "list[...]: such a step only gathers events produced inside a "
                    "fan-out stream, it cannot be sent one"
                )
            self._enqueue(step, QueuedEvent(event, lineage, scope))
            return 1
        if state.open_waiters:
            waiter = state.resolve_waiter(event)
            if waiter is not None:
                future = self._waiter_futures.pop(waiter.key, None)
                if future is not None and not future.done():
                    future.set_result(event)
                self._resume_clock()
                return 0
        if outside and state.pending_prompts and isinstance(event, HumanResponseEvent):
            state.pending_prompts -= 1
        targets = self.graph.routes(type(event))
        if self.graph.collecting and (collectors := self.graph.collectors(type(event))):
            self._gather(event, collectors, scope)
        elif not targets:
            if not isinstance(event, InputRequiredEvent):
                self._unhandled(event)
            return 0
        for target in targets:
            self._enqueue(target, QueuedEvent(event, lineage, scope))
        return len(targets)

    # -- collection streams ------------------------------------------------------------
    def _fan_out(self, spec: StepSpec, items: list[Event], inv: Invocation) -> None:
        """Open a stream for the list ``inv`` returned and emit each member into it."""
        state = self.state
        bindings = self.graph.bindings.get(spec.name, ())
        stream = CollectionStream(f"stream-{inv.id}", spec.name, inv.scope, bindings)
        state.open_stream(stream)
        inner = (*inv.scope, stream.id)
        for item in items:
            stream.open += self.emit(item, None, inv.lineage, scope=inner)
            if self.done:
                return
        # The invocation's own work item becomes the releases its stream owes above.
        if inv.scope:
            self._settle(inv.scope[-1], len(bindings) - 1)
        self._settle(stream.id, -1)

    def _gather(self, event: Event, collectors: tuple[str, ...], scope: tuple[str, ...]) -> None:
        """Give a member to the collectors of its innermost stream."""
        streams = self.state.streams
        stream = streams.get(scope[-1]) if scope and streams else None
        for name in collectors:
            binding = stream.binding_to(name) if stream is not None else None
            if stream is None or binding is None:
                logger.warning(
                    "workflow %r run %s: %s reaches step %r, which takes a list[...], but "
                    "it was produced %s; it is not gathered",
                    self.workflow.workflow_name,
                    self.state.run_id,
                    type(event).__name__,
                    name,
                    "outside any fan-out stream (for example with ctx.send_event)"
                    if stream is None
                    else f"in a stream of step {stream.source!r}, which {name!r} does not gather",
                )
                continue
            batch = stream.add_member(binding, event)
            if batch is not None:
                self._release(stream, binding, batch)

    def _release(self, stream: CollectionStream, binding: Binding, batch: list[Event]) -> None:
        release = CollectionReleaseEvent(events=batch, stream_id=stream.id, binding_id=binding.id)
        self._enqueue(binding.target, QueuedEvent(release, 0, stream.scope))

    def _settle(self, stream_id: str, delta: int) -> None:
        """Count ``delta`` work items in a stream; deliver its releases if it closed."""
        if self.done:
            return
        closed = self.state.settle(stream_id, delta)
        if closed is not None:
            for binding, batch in closed.close():
                self._release(closed, binding, batch)

    def _check_streams(self) -> None:
        """Fail a run whose streams can never close: nothing queued or running is left."""
        state = self.state
        streams = state.streams
        if not streams or state.queued_count or state.in_flight or self.done:
            return
        details = "; ".join(
            f"stream {s.id!r} of step {s.source!r} with {s.open} open work item(s)"
            for s in streams.values()
        )
        error = WorkflowRuntimeError(
            "the run has no work left but collection streams are still open, so it can "
            f"never finish: {details} (a snapshot from another version of the workflow?)"
        )
        first = next(iter(streams.values()))
        self.fail(first.source, error, attempts=0, elapsed=0.0)

    def _unhandled(self, event: Event) -> None:
        logger.warning(
            "workflow %r run %s: no step accepts %s; event dropped",
            self.workflow.workflow_name,
            self.state.run_id,
            type(event).__name__,
        )
        cls = type(event)
        idle = self.state.is_quiescent
        self.write(
            UnhandledEvent(
                event_type=cls.__name__,
                qualified_name=f"{cls.__module__}.{cls.__name__}",
                idle=idle,
            )
        )
        if idle and self.stream.internal_wanted:
            self._internal(WorkflowIdleEvent())

    def _enqueue(self, step: str, item: QueuedEvent) -> None:
        self.state.enqueue(step, item)
        idle = self._idle.get(step)
        while idle:
            waiter, _ = idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                break
        else:
            if self._worker_count.get(step, 0) < self.graph.specs[step].num_workers:
                self._spawn(step)
            elif self.stream.internal_wanted:
                self._step_state(step, StepState.PREPARING, "<enqueued>", type(item.event).__name__)
        if self._clock_paused:
            self._resume_clock()

    def write(self, event: Event) -> None:
        """Write ``event`` to the caller's stream."""
        self.state.stream_seq += 1
        if self.listener is not None:
            self.unpublished.append(event)
        else:
            self.stream.put(event)

    def _internal(self, event: Event) -> None:
        # Observers only: not part of the run's state, its stream position or its log.
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
        self._internal(
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
        queues = state.queues
        idle = self._idle.setdefault(step, [])
        resume = self._resume.get(step)
        loop = self.loop
        me = asyncio.current_task()
        while not self.done:
            if resume:
                inv = resume.popleft()
            elif queue := queues.get(step):
                item = queue.popleft()
                if not queue:
                    del queues[step]  # an empty deque costs ~600 bytes per step per run
                inv = state.begin(step, item, time.time())
            elif state.awaits_outside_input:
                # Only outside input can move the run on: hold no task while it waits.
                self._worker_count[step] -= 1
                return
            else:
                waiter = loop.create_future()
                idle.append((waiter, me))
                await waiter
                continue
            await self._invoke(spec, inv, slot)

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
                    with step_span(self.workflow.workflow_name, self.state.run_id, spec.name):
                        result = await self._call(spec, inv)
                        if spec.fan_out or not (result is None or isinstance(result, Event)):
                            _check_result(spec, result)
                except Exception as exc:
                    if self.done:
                        return
                    if self.stream.internal_wanted:
                        self._step_state(
                            spec.name, StepState.NOT_RUNNING, slot, str(type(inv.event))
                        )
                    try:
                        delay = self._retry_delay(spec, inv, exc)
                    except Exception as policy_error:
                        # A policy that cannot decide stops the retries, and its error is
                        # the step's failure (as in the reference).
                        policy_error.__cause__ = exc
                        delay, exc = None, policy_error
                    inv.attempts += 1
                    inv.last_error = f"{type(exc).__name__}: {exc}"
                    inv.last_failed_at = time.time()
                    inv.emits_done = 0
                    inv.writes_done = 0
                    self.state.drop_waiters(inv.id)
                    if delay is None:
                        self.state.finish(inv)
                        self._step_failed(spec, inv, exc)
                        return
                    inv.last_exception = exc
                    if delay > 0:
                        await asyncio.sleep(delay)
                    continue
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
                self._maybe_pause_clock()
                if self.state.awaits_outside_input:
                    self._dismiss_idle_workers()
                if self.stream.internal_wanted and self.state.is_quiescent:
                    self._internal(WorkflowIdleEvent())
                if self.state.streams:
                    self._check_streams()
                self._boundary()

    async def _call(self, spec: StepSpec, inv: Invocation) -> Any:
        kwargs: dict[str, Any] = {spec.event_param: inv.event}
        if spec.collect is not None:
            kwargs[spec.event_param] = list(getattr(inv.event, "events", ()))
        if spec.context_param is not None:
            kwargs[spec.context_param] = self.ctx
        if spec.resources:
            manager = self.workflow._resource_manager
            # One scope per call: an uncached factory named twice builds one object.
            with manager.resolution_scope():
                for name, resource in spec.resources.items():
                    kwargs[name] = await manager.get(resource)
        func = self._callables[spec.name]
        if spec.is_async:
            return await func(**kwargs)
        call = functools.partial(contextvars.copy_context().run, func, **kwargs)
        return await self.loop.run_in_executor(None, call)

    def _retry_delay(self, spec: StepSpec, inv: Invocation, exc: Exception) -> float | None:
        """Ask the step's retry policy how long to wait (``None``: no more retries).

        A policy whose ``next`` takes ``seed`` gets the reference's: the low 32 bits of
        ``sha256("<run id>:<step>:<failures>")``, so a failure draws the same jitter
        wherever the run is replayed.
        """
        policy = spec.retry_policy
        if policy is None:
            return None
        elapsed = time.time() - (inv.first_started_at or time.time())
        failures = inv.attempts + 1
        if "seed" in inspect.signature(policy.next).parameters:
            digest = hashlib.sha256(f"{self.state.run_id}:{spec.name}:{failures}".encode())
            seed = int.from_bytes(digest.digest()[-4:], "big")
            delay = policy.next(elapsed, failures, exc, seed=seed)
        else:
            delay = policy.next(elapsed, failures, exc)
        return None if delay is None else max(0.0, float(delay))

    def _handle_result(self, spec: StepSpec, result: Any, inv: Invocation) -> None:
        scope = inv.scope
        if result is None:
            if scope:
                self._settle(scope[-1], -1)
            return
        if spec.fan_out and isinstance(result, list):
            self._fan_out(spec, result, inv)
            return
        if scope:
            delivered = self.emit(result, None, inv.lineage, scope=scope)
            self._settle(scope[-1], delivered - 1)
        else:
            self.emit(result, None, inv.lineage)

    def _step_failed(self, spec: StepSpec, inv: Invocation, exc: Exception) -> None:
        elapsed = time.time() - (inv.first_started_at or time.time())
        handler = self.graph.error_handler_for(spec.name)
        if (
            handler is not None
            and spec.catch_for_steps is None
            and inv.lineage < handler.max_recoveries
        ):
            failed = StepFailedEvent(
                step_name=spec.name,
                input_event=inv.event,
                exception=exc,
                attempts=inv.attempts,
                elapsed_seconds=elapsed,
                failed_at=datetime.now(timezone.utc),
            )
            self._enqueue(handler.name, QueuedEvent(failed, inv.lineage + 1, inv.scope))
            return
        self.fail(spec.name, exc, attempts=inv.attempts, elapsed=elapsed)

    # -- waiting for events ------------------------------------------------------------
    async def wait_for_event(
        self,
        event_type: type[Event],
        waiter_event: Event | None,
        waiter_id: str | None,
        requirements: dict[str, Any] | None,
        timeout: float | None,
    ) -> Event:
        """Pause the calling step until a matching event arrives (see Context.wait_for_event)."""
        inv = current_invocation.get()
        if inv is None or self.state.in_flight.get(inv.id) is not inv:
            raise WorkflowRuntimeError("wait_for_event can only be called from inside a step")
        key = waiter_key(inv.id, inv.attempts, inv.wait_calls)
        inv.wait_calls += 1
        state = self.state
        waiter = state.waiters.get(key)
        if waiter is None:
            waiter = Waiter(
                key=key,
                invocation_id=inv.id,
                event_type=event_type,
                requirements=dict(requirements or {}),
                waiter_id=waiter_id,
                waiter_event=waiter_event,
                deadline=time.time() + timeout if timeout is not None else None,
            )
            state.add_waiter(waiter)
        if waiter.resolved is not None:
            return waiter.resolved
        if not waiter.emitted:
            waiter.emitted = True
            # Written once per waiter_id: a retried wait asks again only in the inbox.
            if waiter_event is not None and waiter_id not in inv.prompted:
                self.write(waiter_event)
                if waiter_id is not None:
                    inv.prompted.append(waiter_id)
        future: asyncio.Future[Event] = self.loop.create_future()
        self._waiter_futures[key] = future
        inv.blocked = True
        self._maybe_pause_clock()
        if self.stream.internal_wanted and state.is_quiescent:
            self._internal(WorkflowIdleEvent())
        self._boundary()
        try:
            if waiter.deadline is None:
                return await future
            remaining = waiter.deadline - time.time()
            if remaining <= 0:
                raise asyncio.TimeoutError
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            state.waiters.pop(key, None)
            state.open_waiters.pop(key, None)
            raise
        finally:
            inv.blocked = False
            self._waiter_futures.pop(key, None)
            self._resume_clock()

    # -- timeout clock -----------------------------------------------------------------
    # Time during which the run only waits for outside input does not count: the clock
    # pauses when the run becomes quiescent with a prompt or waiter outstanding.
    def _start_clock(self) -> None:
        if self._budget is not None:
            self._clock_since = self.loop.time()
            self._timer = self.loop.call_later(self._budget, self._on_timeout)

    def _maybe_pause_clock(self) -> None:
        if self._timer is None or self.state.queued_count or not self.state.awaits_outside_input:
            return
        self._timer.cancel()
        self._timer = None
        assert self._budget is not None
        self._budget -= self.loop.time() - self._clock_since
        self._clock_paused = True

    def _resume_clock(self) -> None:
        if not self._clock_paused or self.done:
            return
        self._clock_paused = False
        assert self._budget is not None
        self._clock_since = self.loop.time()
        self._timer = self.loop.call_later(max(self._budget, 0.0), self._on_timeout)

    def _on_timeout(self) -> None:
        self._timer = None
        active = sorted({inv.step for inv in self.state.in_flight.values()})
        event = WorkflowTimedOutEvent(timeout=self._timeout, active_steps=active)
        self.finish(
            event,
            WorkflowTimeoutError(f"Operation timed out after {self._timeout} seconds"),
        )

    # -- the end -----------------------------------------------------------------------
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state.stop_event = stop_event
        self.write(stop_event)
        if self.listener is None:
            self.stream.close()
        else:
            self._boundary()
        for future in self._waiter_futures.values():
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


def _check_result(spec: StepSpec, result: Any) -> None:
    """Raise (as the step's own failure) if ``result`` is not what a step may return."""
    if result is None:
        return
    if isinstance(result, list) and spec.fan_out:
        for item in result:
            if not isinstance(item, Event):
                raise WorkflowRuntimeError(
                    f"step {spec.name!r} returned a list holding a {type(item).__name__}; "
                    "a fan-out step must return a list of Events"
                )
        return
    if not isinstance(result, Event):
        raise WorkflowRuntimeError(
            f"step {spec.name!r} returned {type(result).__name__}; a step must return "
            "an Event or None" + (", or a list of Events" if spec.fan_out else "")
        )
    if spec.fan_out and not isinstance(result, spec.bare_emits):
        raise WorkflowRuntimeError(
            f"step {spec.name!r} returned a bare {type(result).__name__}, which its return "
            "annotation names only inside list[...]: return a one-element list to fan "
            "out, or add the type to the annotation (-> list[A] | B) to send it alone"
        )
