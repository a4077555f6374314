"""Workflows the multi-worker tests run in separate worker processes."""

from __future__ import annotations

import asyncio
import os

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Prepared(Event):
    n: int


class Decided(Event):
    n: int
    answer: str


async def _count(ctx: Context, step_name: str) -> None:
    # One committed increment per step: a step whose effect was committed twice shows 2.
    async with ctx.store.edit_state() as state:
        state[step_name] = state.get(step_name, 0) + 1


class Fleet(Workflow):
    """prepare -> ask a person (wait_for_event) -> finish."""

    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> Prepared:
        await _count(ctx, "prepare")
        return Prepared(n=ev.n)

    @step
    async def ask(self, ctx: Context, ev: Prepared) -> Decided:
        await _count(ctx, "ask")
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"approve #{ev.n}?"),
            timeout=None,
        )
        return Decided(n=ev.n, answer=reply.response)

    @step
    async def finish(self, ctx: Context, ev: Decided) -> StopEvent:
        await _count(ctx, "finish")
        return StopEvent(result=f"{ev.n}:{ev.answer}")


class SlowStep(Workflow):
    """One step that takes ``seconds``: long enough to freeze its worker mid-step."""

    @step
    async def work(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await _count(ctx, "work")
        await asyncio.sleep(ev.seconds)
        return StopEvent(result=f"slept {ev.seconds} in {os.getpid()}")


class Worked(Event):
    n: int


class SlowThenAsk(Workflow):
    """work (takes ``seconds``) -> ask a person -> finish: freeze a worker in any phase."""

    @step
    async def work(self, ctx: Context, ev: StartEvent) -> Worked:
        await _count(ctx, "work")
        await asyncio.sleep(ev.seconds)
        return Worked(n=ev.n)

    @step
    async def ask(self, ctx: Context, ev: Worked) -> Decided:
        await _count(ctx, "ask")
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"approve #{ev.n}?"),
            timeout=None,
        )
        return Decided(n=ev.n, answer=reply.response)

    @step
    async def finish(self, ctx: Context, ev: Decided) -> StopEvent:
        await _count(ctx, "finish")
        return StopEvent(result=f"{ev.n}:{ev.answer}")


WORKFLOWS = {
    "fleet": Fleet(timeout=None),
    "slow": SlowStep(timeout=None),
    "slow_ask": SlowThenAsk(timeout=None),
}
