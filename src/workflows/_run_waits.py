"""``ctx.wait_for_event`` in a run: parking the step on a future, waking it.

A wait is a :class:`~workflows._run_state.Waiter` in the run's state, recorded by
:func:`~workflows._run_decisions.register_wait` (keyed by invocation, attempt and call
index, so a replayed step finds its earlier waits again), plus a future the step awaits.
:meth:`Run.emit` answers the oldest open waiter an event matches; the engine answers one
by key (:func:`deliver_to_waiter`). Rules: docs/human-in-the-loop.md.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ._run_decisions import register_wait, wait_timed_out
from ._run_state import Waiter, current_invocation
from .errors import WorkflowRuntimeError
from .events import Event, WorkflowIdleEvent

if TYPE_CHECKING:
    from ._runtime import Run


async def wait_for_event(
    run: Run,
    event_type: type[Event],
    waiter_event: Event | None,
    waiter_id: str | None,
    requirements: dict[str, Any] | None,
    timeout: float | None,
) -> Event:
    """Pause the calling step until a matching event arrives (see Context.wait_for_event)."""
    inv = current_invocation.get()
    state = run.state
    if inv is None or state.in_flight.get(inv.id) is not inv:
        raise WorkflowRuntimeError("wait_for_event can only be called from inside a step")
    waiter, prompt = register_wait(
        state, inv, event_type, waiter_event, waiter_id, requirements, timeout, time.time()
    )
    if waiter.resolved is not None:
        return waiter.resolved
    if prompt is not None:
        run.write(prompt)
    key = waiter.key
    future: asyncio.Future[Event] = run.loop.create_future()
    run.waiter_futures[key] = future
    inv.blocked = True
    run.clock.maybe_pause()
    if run.stream.internal_wanted and state.is_quiescent:
        run.internal(WorkflowIdleEvent())
    run.cause = ("wait", inv.step)
    run.boundary()
    try:
        if waiter.deadline is None:
            return await future
        remaining = waiter.deadline - time.time()
        if remaining <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(future, remaining)
    except asyncio.TimeoutError:
        wait_timed_out(state, key)
        raise
    finally:
        inv.blocked = False
        run.waiter_futures.pop(key, None)
        run.clock.resume()


def answer(run: Run, waiter: Waiter, event: Event) -> None:
    """Wake the step parked on ``waiter`` (already marked resolved) with ``event``."""
    future = run.waiter_futures.pop(waiter.key, None)
    if future is not None and not future.done():
        future.set_result(event)
    run.clock.resume()


def deliver_to_waiter(run: Run, key: str, event: Event) -> bool:
    """Resolve the waiter ``key`` with ``event``; False if it no longer waits."""
    waiter = run.state.open_waiters.pop(key, None)
    if waiter is None or run.done:
        return False
    waiter.resolved = event
    answer(run, waiter, event)
    run.cause = ("answer", type(event).__name__)
    run.boundary()
    return True
