"""The workflows the server and client tests serve on a live server.

:func:`server_workflows` answers with plain responses (the HTTP tests post JSON);
:func:`client_workflows` uses typed events where the client tests need them (a typed
answer, a typed start event) and adds one that fails.
"""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Approval(Workflow):
    """Asks a person to approve an amount; reports the verdict (the response text)."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.get("amount", 0))
        return InputRequiredEvent(prefix=f"Approve {ev.get('amount', 0)}?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        amount = await ctx.store.get("amount")
        return StopEvent(result={"amount": amount, "verdict": str(ev.response)})


class Review(HumanResponseEvent):
    """A typed answer."""

    approved: bool
    note: str = ""


class ReviewedApproval(Approval):
    """The approval answered with a typed :class:`Review`."""

    @step
    async def decide(self, ctx: Context, ev: Review) -> StopEvent:
        amount = await ctx.store.get("amount")
        return StopEvent(result={"amount": amount, "approved": ev.approved, "note": ev.note})


class Progress(Event):
    """Written to the stream by Chatty."""

    n: int


class Chatty(Workflow):
    """Writes ``count`` Progress events (3 unless the start event says), asks, then
    finishes with ``"done"``."""

    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent | Progress:
        count = int(ev.get("count", 3))
        await ctx.store.set("count", count)
        for n in range(count):
            ctx.write_event_to_stream(Progress(n=n))
        return InputRequiredEvent(prefix="go on?")

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result="done")

    @step
    async def sink(self, ev: Progress) -> None:
        """Names Progress in a signature, so the engine may store it (never called)."""


class ChattyBothWays(Chatty):
    """Chatty that writes ``count`` more Progress events after the answer and finishes
    with ``"done after <2 * count>"``."""

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        count = await ctx.store.get("count")
        for n in range(count, 2 * count):
            ctx.write_event_to_stream(Progress(n=n))
        return StopEvent(result=f"done after {2 * count}")


class Double(Workflow):
    """Finishes at once with twice its input ``x``."""

    @step
    async def double(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.get("x", 0) * 2)


class Order(StartEvent):
    """A typed start event."""

    qty: int


class OrderDouble(Workflow):
    """Finishes at once with twice the ``qty`` of its typed start event."""

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


def server_workflows() -> dict[str, Workflow]:
    """Fresh instances of the server tests' workflows by name."""
    return {
        "approval": Approval(timeout=None),
        "double": Double(timeout=None),
        "nudged": Nudged(timeout=None),
        "chatty": Chatty(timeout=None),
    }


def client_workflows() -> dict[str, Workflow]:
    """Fresh instances of the client tests' workflows by name."""
    return {
        "approval": ReviewedApproval(timeout=None),
        "chatty": ChattyBothWays(timeout=None),
        "double": OrderDouble(timeout=None),
        "nudged": Nudged(timeout=None),
        "broken": Broken(timeout=None),
    }
