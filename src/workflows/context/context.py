"""``Context``: what a step sees of its run, and what a caller keeps of it.

A context belongs to one workflow instance. Steps receive it by annotating a parameter
``Context`` (or ``Context[MyState]`` for a typed state). Created with ``Context(wf)`` and
passed to ``wf.run(ctx=ctx)`` it carries its state across runs; ``ctx.to_dict()`` and
``Context.from_dict(wf, data)`` snapshot and restore a run, even in another process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._run_state import RunState, current_invocation, run_result
from ..errors import WorkflowRuntimeError
from ..events import Event, InputRequiredEvent
from ..retry_policy import RetryInfo
from ..types import RunResultT
from .serializers import BaseSerializer
from .state_store import InMemoryStateStore

if TYPE_CHECKING:
    from .._runtime import Run
    from ..workflow import Workflow

__all__ = ["Context"]

StateT = TypeVar("StateT")

T = TypeVar("T", bound=Event)


def new_run_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex


class Context(Generic[StateT]):
    """The context of a workflow's runs: state store, event routing, waits, snapshots."""

    def __init__(
        self,
        workflow: Workflow,
        previous_context: dict[str, Any] | None = None,
        serializer: BaseSerializer | None = None,
    ) -> None:
        from ..workflow import Workflow

        if not isinstance(workflow, Workflow):
            raise TypeError(f"Context() needs a Workflow instance, got {workflow!r}")
        self._workflow = workflow
        self._state = RunState(run_id=new_run_id())
        state_type = workflow._graph().state_type
        self._store: InMemoryStateStore[StateT] = InMemoryStateStore(state_type())
        self._store._skip_write = self._replayed_write
        self._run: Run | None = None
        if previous_context is not None:  # the same as Context.from_dict(workflow, ...)
            restored = Context.from_dict(workflow, previous_context, serializer)
            self._state = restored._state
            self._store = restored._store
            self._store._skip_write = self._replayed_write

    # -- public properties -------------------------------------------------------------
    @property
    def store(self) -> InMemoryStateStore[StateT]:
        """The run's state store (``await ctx.store.get("a.b")``, ``edit_state()``...)."""
        return self._store

    @property
    def is_running(self) -> bool:
        """True while a run is using this context, or when it holds an unfinished run.

        A context restored with :meth:`from_dict` from a snapshot of a run that had not
        finished reports True: ``wf.run(ctx=ctx)`` continues that run rather than
        starting a new one.
        """
        if self._run is not None:
            return not self._run.done
        state = self._state
        return state.started and state.stop_event is None

    @property
    def _has_active_run(self) -> bool:
        return self._run is not None and not self._run.done

    @property
    def run_id(self) -> str:
        """The id of the current (or last) run."""
        return self._state.run_id

    @property
    def workflow(self) -> Workflow:
        """The workflow this context belongs to."""
        return self._workflow

    # -- events ------------------------------------------------------------------------
    def _active_run(self, what: str) -> Run:
        run = self._run
        if run is None or run.done:
            raise WorkflowRuntimeError(f"cannot {what}: no run is active on this context")
        return run

    def send_event(self, message: Event, step: str | None = None) -> None:
        """Send an event into the run; every accepting step (or only ``step``) gets it.

        Safe to call from a step, from the caller's code, or from a sync step's thread.

        Raises:
            WorkflowStepDoesNotExistError: ``step`` names no step.
            WorkflowRuntimeError: no run is active.
        """
        if not isinstance(message, Event):
            raise TypeError(f"send_event needs an Event, got {type(message).__name__}")
        run = self._active_run("send an event")
        inv = current_invocation.get()
        if run.replayed(inv):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called from a worker thread (a sync step)
            if step is not None:
                run.check_target(step, message)  # raised here, in the step, as promised
            if inv is None:
                run.loop.call_soon_threadsafe(run.send_from_outside, message, step)
            else:
                run.loop.call_soon_threadsafe(run.emit, message, step, inv.lineage)
            return
        if inv is None:
            run.send_from_outside(message, step)
        else:
            run.emit(message, step, inv.lineage)

    def write_event_to_stream(self, ev: Event | None) -> None:
        """Write ``ev`` to the caller's event stream (``handler.stream_events()``)."""
        if ev is None:
            return
        run = self._active_run("write to the stream")
        if run.replayed(current_invocation.get()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a sync step's thread: the run's state is the loop's
            run.loop.call_soon_threadsafe(_write_to_stream, run, ev)
            return
        _write_to_stream(run, ev)

    def collect_events(
        self, ev: Event, expected: list[type[Event]], buffer_id: str | None = None
    ) -> list[Event] | None:
        """Buffer ``ev`` until one event of each type in ``expected`` has arrived.

        Args:
            ev: the event the step received.
            expected: the event types to gather, in the order to return them
                (a type may repeat).
            buffer_id: the buffer to use; without it the step's buffer ``"default"``, as
                in llama-index-workflows. Buffers are kept per calling step.

        Returns:
            The events in the order of ``expected`` once all are there (an empty list
            for an empty ``expected``), else ``None``.
        """
        if not expected:
            return []
        inv = current_invocation.get()
        step = inv.step if inv is not None else ""
        collect = self._state.collect
        if buffer_id:
            key = f"{step}/{buffer_id}"
        else:
            key = f"{step}/default"
            if key not in collect:
                # Earlier versions of this package keyed it by the expected types: a
                # buffer half filled in a snapshot they wrote is taken over.
                legacy = f"{step}/{len(expected)}:{expected[0].__name__}:{expected[-1].__name__}"
                if legacy in collect:
                    collect[key] = collect.pop(legacy)
        return self._state.collect_events(key, ev, expected)

    async def wait_for_event(
        self,
        event_type: type[T],
        waiter_event: Event | None = None,
        waiter_id: str | None = None,
        requirements: dict[str, Any] | None = None,
        timeout: float | None = 2000,
    ) -> T:
        """Pause the calling step until an event of ``event_type`` matching ``requirements``
        arrives, and return it.

        ``waiter_event`` (typically an :class:`InputRequiredEvent`) is written to the
        stream once for this wait. The code before the call is not re-run when the answer
        arrives; it is re-run once if the run is restored from a snapshot taken while it
        waited. An event that answers a waiter goes to that waiter only.

        Args:
            event_type: the type to wait for (``isinstance`` matching).
            waiter_event: an event written to the stream to ask for the answer.
            waiter_id: a name for this wait (kept with the waiter; informational).
            requirements: ``{field: value}`` the event must match (``ev.get(k) == v``).
            timeout: seconds before :class:`asyncio.TimeoutError` is raised in the step;
                ``None`` waits forever.
        """
        run = self._active_run("wait for an event")
        event = await run.wait_for_event(event_type, waiter_event, waiter_id, requirements, timeout)
        return event  # type: ignore[return-value]

    def retry_info(self) -> RetryInfo:
        """The calling step's attempt number and last failure.

        Raises:
            WorkflowRuntimeError: called outside a step.
        """
        inv = current_invocation.get()
        if inv is None:
            raise WorkflowRuntimeError("retry_info() can only be called from inside a step")
        elapsed = time.time() - inv.first_started_at if inv.first_started_at else 0.0
        failed_at = (
            datetime.fromtimestamp(inv.last_failed_at, timezone.utc)
            if inv.last_failed_at is not None
            else None
        )
        return RetryInfo(
            retry_number=inv.attempts,
            elapsed_seconds=elapsed if inv.attempts else 0.0,
            last_exception=inv.last_exception,
            last_failed_at=failed_at,
        )

    async def running_steps(self) -> list[str]:
        """Names of the steps with at least one invocation in progress."""
        return sorted({inv.step for inv in self._state.in_flight.values()})

    def get_result(self) -> RunResultT:
        """The result of the finished run (prefer ``await handler``).

        Raises:
            WorkflowRuntimeError: no run on this context has finished.
        """
        run = self._run
        handler = run.handler if run is not None else None
        if handler is None or not handler.done():
            stop = self._state.stop_event
            if stop is None:
                raise WorkflowRuntimeError("the run on this context has not finished")
            return run_result(stop)
        return handler.result()

    def stream_events(self) -> AsyncIterator[Event]:
        """The events of the active run's stream (as ``handler.stream_events()``).

        Raises:
            WorkflowRuntimeError: no run is active.
        """
        return self._active_run("stream events").stream.events(expose_internal=False)

    # -- snapshots ---------------------------------------------------------------------
    def to_dict(
        self, serializer: BaseSerializer | None = None, *, include_state: bool = True
    ) -> dict[str, Any]:
        """A JSON-safe snapshot of the run: state, queues, in-flight steps, waiters...

        Args:
            serializer: how values are encoded (default: the workflow's, else JSON).
            include_state: False leaves the state store out (it restores as a fresh state).

        Raises:
            ContextSerdeError: a value cannot be encoded by ``serializer``.
        """
        from .._snapshot import snapshot_to_dict

        data = snapshot_to_dict(self, serializer)
        if not include_state:
            data["state"] = {}  # restores as a fresh state of the workflow's state type
        return data

    @classmethod
    def from_dict(
        cls,
        workflow: Workflow,
        data: dict[str, Any],
        serializer: BaseSerializer | None = None,
    ) -> Context[Any]:
        """Rebuild a context from :meth:`to_dict` output; ``workflow.run(ctx=...)`` resumes.

        Raises:
            ContextSerdeError: the payload is malformed, of another format version or
                workflow, or names a type outside the allowlist.
        """
        from .._snapshot import snapshot_from_dict

        return snapshot_from_dict(cls, workflow, data, serializer)

    # -- runtime hooks -----------------------------------------------------------------
    def _replayed_write(self) -> bool:
        run = self._run
        if run is None:
            return False
        inv = current_invocation.get()
        return inv is not None and run.replayed_write(inv)

    def _run_finished(self, run: Run) -> None:
        if self._run is run:
            self._run = None


def _write_to_stream(run: Any, ev: Event) -> None:
    """Write ``ev`` to ``run``'s stream, on the run's loop."""
    if isinstance(ev, InputRequiredEvent):
        run.state.pending_prompts += 1  # a prompt, however written, pauses the clock
    run.write(ev)
