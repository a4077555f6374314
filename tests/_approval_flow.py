"""The approval flow of the engine tests: a step, a question to a person, a step.

Each step counts its committed effect in the run's state (``state[key] == 1`` once the
run finished: 0 is a lost commit, 2 an effect applied twice). Used in the test process
and, through ``engine/_fleet_workflow.py``, in worker processes.
"""

from __future__ import annotations

import asyncio

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Prepared(Event):
    n: int


class Decided(Event):
    n: int
    answer: str


async def count(ctx: Context, key: str) -> None:
    """One committed increment of ``state[key]``."""
    async with ctx.store.edit_state() as state:
        state[key] = state.get(key, 0) + 1


class Approval(Workflow):
    """prepare -> ask a person (wait_for_event: ``approve #<n>?``) -> finish.

    Subclasses set how long the steps take, after counting, to widen the windows a
    fault or a frozen worker can hit: ``prepare_pause`` and ``finish_pause`` (seconds,
    0 for none); ``first_key`` is the state key the first step counts under.
    """

    first_key = "prepare"
    prepare_pause = 0.0
    finish_pause = 0.0

    def first_pause(self, ev: StartEvent) -> float:
        """Seconds the first step takes after counting."""
        return self.prepare_pause

    @step
    async def prepare(self, ctx: Context, ev: StartEvent) -> Prepared:
        await count(ctx, self.first_key)
        pause = self.first_pause(ev)
        if pause:
            await asyncio.sleep(pause)
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
        if self.finish_pause:
            await asyncio.sleep(self.finish_pause)
        return StopEvent(result=f"{ev.n}:{ev.answer}")


class SlowApproval(Approval):
    """The approval flow with steps that take a moment (the fault tests)."""

    prepare_pause = 0.05
    finish_pause = 0.02


class SlowThenAsk(Approval):
    """work (takes ``seconds`` of the start event) -> ask -> finish: a worker can be
    frozen in any phase."""

    first_key = "work"

    def first_pause(self, ev: StartEvent) -> float:
        """The start event's ``seconds``."""
        return float(ev.seconds)


def expected_answer(prompt: str) -> str:
    """The answer the tests give to ``approve #<n>?``: ``ok<n>``."""
    return "ok" + prompt.split("#")[1].rstrip("?")
