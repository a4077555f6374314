"""The handle a caller gets from ``Workflow.run()``.

::

    handler = wf.run(topic="cats")
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(HumanResponseEvent(response="yes"))
    result = await handler
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ._run_state import run_result as _run_result
from .errors import WorkflowRuntimeError
from .events import Event, StopEvent

if TYPE_CHECKING:
    from ._runtime import Run
    from .context.context import Context

__all__ = ["WorkflowHandler"]


class WorkflowHandler(asyncio.Future):
    """A running (or finished) run: awaitable for its result, with its event stream.

    ``await handler`` returns the result (``StopEvent.result`` for a plain StopEvent, the
    event itself for a subclass) or raises what ended the run: the failing step's own
    exception, :class:`~workflows.errors.WorkflowTimeoutError` or
    :class:`~workflows.errors.WorkflowCancelledByUser`.
    """

    def __init__(self, ctx: Context[Any], run: Run | None = None) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._ctx = ctx
        self._run = run
        self._stop_event: StopEvent | None = None

    def _attach(self, run: Run) -> None:
        self._run = run

    @property
    def ctx(self) -> Context[Any]:
        """The run's context (its state store; ``ctx.to_dict()`` snapshots the run)."""
        return self._ctx

    @property
    def run_id(self) -> str:
        """The id of this run (kept across snapshot and restore)."""
        return self.ctx._state.run_id

    def is_done(self) -> bool:
        """True once the run has ended (its result or error is available)."""
        return self.done()

    def get_stop_event(self) -> StopEvent | None:
        """The event that ended the run, or ``None`` while it runs."""
        return self._stop_event

    def stream_events(self, expose_internal: bool = False) -> AsyncIterator[Event]:
        """Iterate over the events the run writes for its caller, ending with the StopEvent.

        Args:
            expose_internal: also yield the runtime's internal events (e.g.
                :class:`~workflows.events.UnhandledEvent`).

        Raises:
            WorkflowRuntimeError: the stream was already fully consumed.
        """
        if self._run is None:
            raise WorkflowRuntimeError("this handler has no run to stream")
        return self._run.stream.events(expose_internal=expose_internal)

    async def send_event(self, event: Event, step: str | None = None) -> None:
        """Send ``event`` into the run, as ``ctx.send_event`` does from outside a step.

        Raises:
            WorkflowRuntimeError: the run has ended.
            WorkflowStepDoesNotExistError: ``step`` names no step.
        """
        if self._run is None or self._run.done:
            raise WorkflowRuntimeError("cannot send an event: the run has ended")
        self._run.send_from_outside(event, step)

    async def stop_event_result(self) -> StopEvent:
        """Wait for the run to end and return the event that ended it (for a plain
        ``StopEvent`` run, ``await handler`` gives its ``result`` instead).

        Raises:
            Whatever ``await handler`` raises when the run failed.
        """
        await asyncio.shield(self)
        assert self._stop_event is not None
        return self._stop_event

    async def cancel_run(self, *, timeout: float = 5.0) -> None:
        """Stop the run: its stream ends with WorkflowCancelledEvent; awaiting it raises
        WorkflowCancelledByUser. A snapshot taken before stays valid.

        Args:
            timeout: seconds to wait for the run's steps to wind down.
        """
        run = self._run
        if run is None or run.done:
            return
        run.cancel()
        task = run._shutdown_task
        if task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
        if self.done() and not self.cancelled():
            self.exception()  # the caller asked for this end: nothing left to report

    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the run (like :meth:`cancel_run`, without waiting for it to wind down)."""
        run = self._run
        if run is not None and not run.done:
            run.cancel()
            return True
        return super().cancel(msg)

    def _settle(self, stop_event: StopEvent, error: BaseException | None) -> None:
        self._stop_event = stop_event
        if self.done():
            return
        if error is not None:
            self.set_exception(error)
        else:
            self.set_result(_run_result(stop_event))

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<WorkflowHandler run_id={self.run_id} {state}>"
