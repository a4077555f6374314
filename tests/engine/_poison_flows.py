"""The workflow of test_poison: imported by the test and served by ``workflows serve``."""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Nudge(Event):
    """Sent to a run from outside; only the ``nudged`` step accepts it."""

    n: int


class Approval(Workflow):
    """Asks a person about ``n``, then finishes with the answer (or with a Nudge)."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent | Nudge:
        """(Names Nudge among its results only so the graph knows where it comes from.)"""
        await ctx.store.set("n", ev.n)
        return InputRequiredEvent(prefix=f"approve {ev.n}?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"{await ctx.store.get('n')}:{ev.response}")

    @step
    async def nudged(self, ev: Nudge) -> StopEvent:
        return StopEvent(result=f"nudged {ev.n}")


WORKFLOWS = {"approval": Approval(timeout=None)}
