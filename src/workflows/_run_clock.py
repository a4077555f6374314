"""The timeout clock of a run: a budget that does not run down while the run only waits.

``Workflow(timeout=...)`` is a budget armed with ``loop.call_later`` when the run starts.
It pauses when :attr:`RunState.awaits_outside_input` holds (nothing queued, every running
step blocked in ``wait_for_event``, a prompt or waiter outstanding): the timer is
cancelled and the time used is subtracted. Any enqueue, answered waiter or ended wait
restarts it with what is left. When the budget runs out, ``expire`` is called once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._run_state import RunState


class RunClock:
    """The budget of one run (``None``: no timeout)."""

    __slots__ = ("_expire", "_since", "_state", "_timer", "budget", "loop", "paused", "stopped")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        budget: float | None,
        state: RunState,
        expire: Callable[[], None],
    ) -> None:
        self.loop = loop
        self.budget = budget
        """Seconds left (updated when the clock pauses)."""
        self.paused = False
        self.stopped = False
        self._state = state
        self._expire = expire
        self._since = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Arm the timer with the whole budget."""
        if self.budget is not None and not self.stopped:
            self._since = self.loop.time()
            self._timer = self.loop.call_later(self.budget, self._fire)

    def maybe_pause(self) -> None:
        """Pause if the run now only waits for outside input."""
        timer = self._timer
        state = self._state
        if timer is None or state.queued_count or not state.awaits_outside_input:
            return
        timer.cancel()
        self._timer = None
        assert self.budget is not None
        self.budget -= self.loop.time() - self._since
        self.paused = True

    def resume(self) -> None:
        """Restart a paused clock with the budget left."""
        if not self.paused or self.stopped:
            return
        self.paused = False
        assert self.budget is not None
        self._since = self.loop.time()
        self._timer = self.loop.call_later(max(self.budget, 0.0), self._fire)

    def stop(self) -> None:
        """Disarm for good (the run ended or left memory)."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        self._expire()
