"""The timeout timer of a run: a budget that does not run down while the run only waits.

``Workflow(timeout=...)`` is a :class:`~._run_decisions.TimeoutBudget`, armed with
``loop.call_later`` when the run starts. When :func:`~._run_decisions.clock_should_pause`
holds (nothing queued, every running step blocked in ``wait_for_event``, a prompt or
waiter outstanding) the timer is cancelled and the budget paused. Any enqueue, answered
waiter or ended wait restarts it with what is left. When the budget runs out, ``expire``
is called once. The arithmetic and the choice are in the decisions; this is the timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._run_decisions import TimeoutBudget, clock_should_pause
from ._run_state import RunState


class RunClock:
    """The timer of one run's budget (no timer for a run without timeout)."""

    __slots__ = ("_expire", "_state", "_timer", "budget", "loop", "paused", "stopped")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        budget: float | None,
        state: RunState,
        expire: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.budget = TimeoutBudget(budget)
        self.paused = False
        self.stopped = False
        self._state = state
        self._expire = expire
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Arm the timer with the whole budget."""
        if not self.stopped and self.budget.left is not None:
            self._arm(self.budget.start(self.loop.time()))

    def maybe_pause(self) -> None:
        """Pause if the run now only waits for outside input."""
        timer = self._timer
        if timer is None or not clock_should_pause(self._state):
            return
        timer.cancel()
        self._timer = None
        self.budget.pause(self.loop.time())
        self.paused = True

    def resume(self) -> None:
        """Restart a paused clock with the budget left."""
        if not self.paused or self.stopped:
            return
        self.paused = False
        self._arm(self.budget.resume(self.loop.time()))

    def stop(self) -> None:
        """Disarm for good (the run ended or left memory)."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float | None) -> None:
        if delay is not None:
            self._timer = self.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._expire()
