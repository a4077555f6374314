"""The workflow of the engine fault tests: a step, a question to a person, a step."""

from __future__ import annotations

import asyncio

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Prepared(Event):
    n: int


class Decided(Event):
    n: int
    answer: str


async def count(ctx: Context, step_name: str) -> None:
    """One committed increment per step: 0 is a lost commit, 2 an effect applied twice."""
    async with ctx.store.edit_state() as state:
        state[step_name] = state.get(step_name, 0) + 1


class Approval(Workflow):
    """prepare (takes a moment) -> ask a person (wait_for_event) -> finish."""

    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> Prepared:
        await count(ctx, "prepare")
        await asyncio.sleep(0.05)
        return Prepared(n=ev.n)

    @step
    async def ask(self, ctx: Context, ev: Prepared) -> Decided:
        await count(ctx, "ask")
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"approve #{ev.n}?"),
            timeout=None,
        )
        return Decided(n=ev.n, answer=reply.response)

    @step
    async def finish(self, ctx: Context, ev: Decided) -> StopEvent:
        await count(ctx, "finish")
        await asyncio.sleep(0.02)
        return StopEvent(result=f"{ev.n}:{ev.answer}")


def expected_answer(prompt: str) -> str:
    """The answer the tests give to ``approve #<n>?``: ``ok<n>``."""
    return "ok" + prompt.split("#")[1].rstrip("?")
