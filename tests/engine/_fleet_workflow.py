"""Workflows the multi-worker tests run in separate worker processes.

``workflows worker`` loads this file by its path, so the test folder holding the shared
approval flow is put on ``sys.path`` here.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from _approval_flow import Approval, SlowThenAsk, count  # noqa: E402
from workflows import Context, Workflow, step  # noqa: E402
from workflows.events import StartEvent, StopEvent  # noqa: E402


class SlowStep(Workflow):
    """One step that takes ``seconds``: long enough to freeze its worker mid-step."""

    @step
    async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await count(ctx, "work")
        await asyncio.sleep(ev.seconds)
        return StopEvent(result=f"slept {ev.seconds} in {os.getpid()}")


WORKFLOWS = {
    "fleet": Approval(timeout=None),
    "slow": SlowStep(timeout=None),
    "slow_ask": SlowThenAsk(timeout=None),
}
