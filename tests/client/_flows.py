"""Workflows the client tests run on a real server."""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class Review(HumanResponseEvent):
    """A typed answer."""

    approved: bool
    note: str = ""


class Approval(Workflow):
    """Asks to approve an amount; the answer is a typed Review."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.get("amount", 0))
        return InputRequiredEvent(prefix=f"Approve {ev.get('amount', 0)}?")

    @step
    async def decide(self, ctx: Context, ev: Review) -> StopEvent:
        amount = await ctx.store.get("amount")
        return StopEvent(result={"amount": amount, "approved": ev.approved, "note": ev.note})


class Progress(Event):
    """Written to the stream by Chatty."""

    n: int


class Chatty(Workflow):
    """Writes ``count`` Progress events, asks, writes ``count`` more, finishes."""

    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        count = int(ev.get("count", 3))
        await ctx.store.set("count", count)
        for n in range(count):
            ctx.write_event_to_stream(Progress(n=n))
        return InputRequiredEvent(prefix="go on?")

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        count = await ctx.store.get("count")
        for n in range(count, 2 * count):
            ctx.write_event_to_stream(Progress(n=n))
        return StopEvent(result=f"done after {2 * count}")

    @step
    async def observe(self, ev: Progress) -> None:
        """Never invoked (Progress is only written to the stream): naming Progress in a
        step signature is what lets the durable engine store it."""


class Order(StartEvent):
    """A typed start event."""

    qty: int


class Double(Workflow):
    """Finishes at once with twice ``qty``."""

    @step
    async def double(self, ev: Order) -> StopEvent:
        return StopEvent(result=ev.qty * 2)


class Nudge(HumanResponseEvent):
    """An event sent into a run from outside (a response type: no step must emit it)."""

    value: int


class Nudged(Workflow):
    """Waits for a Nudge sent to the run."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="nudge me")

    @step
    async def take(self, ev: Nudge) -> StopEvent:
        return StopEvent(result=ev.value + 1)


class Broken(Workflow):
    """Fails in its only step."""

    @step
    async def explode(self, ev: StartEvent) -> StopEvent:
        raise ValueError("kaboom")


def workflows() -> dict[str, Workflow]:
    """Fresh instances of the test workflows by name."""
    return {
        "approval": Approval(timeout=None),
        "chatty": Chatty(timeout=None, disable_validation=True),
        "double": Double(timeout=None),
        "nudged": Nudged(timeout=None),
        "broken": Broken(timeout=None),
    }
