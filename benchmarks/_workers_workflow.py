"""Workflows that ``bench_workers.py`` has ``workflows worker`` processes execute.

Loaded by path (``benchmarks/_workers_workflow.py:WORKFLOWS``) by every worker process
and imported by the benchmark process, which only starts runs and answers them.
"""

from __future__ import annotations

import asyncio
import os

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Hop(Event):
    base: int
    n: int


class Chain(Workflow):
    """Ten steps in a row (``begin`` + nine ``hop``): ten committed step boundaries.

    The result names the worker process that committed the last step, so the
    benchmark can check the result and see how the runs spread over the workers.
    """

    @step
    async def begin(self, ev: StartEvent) -> Hop:
        return Hop(base=ev.base, n=1)

    @step
    async def hop(self, ev: Hop) -> Hop | StopEvent:
        if ev.n >= 9:
            return StopEvent(result=f"{ev.base + ev.n + 1}@{os.getpid()}")
        return Hop(base=ev.base, n=ev.n + 1)


class Held(Workflow):
    """One step that sleeps ``$BENCH_HOLD_SECONDS`` (0 if unset) before it finishes.

    The victim worker of the takeover measurement is started with a huge value, so
    the runs it claims stay in flight until it is killed; the survivors, started
    without it, re-execute the step at once when they take the runs over.
    """

    @step
    async def work(self, ev: StartEvent) -> StopEvent:
        await asyncio.sleep(float(os.environ.get("BENCH_HOLD_SECONDS", "0")))
        return StopEvent(result=f"{ev.i}@{os.getpid()}")


class PingPong(Workflow):
    """One step asking ``rounds`` questions in a row with ``ctx.wait_for_event``.

    Each answer resumes the suspended step, which asks the next question: the next
    commit (a new input request and its ``InputRequiredEvent`` stream entry) is what
    the answer-to-resume measurement waits for.
    """

    @step
    async def talk(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answers = []
        for i in range(ev.rounds):
            reply = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix=f"q{i}"),
                waiter_id=f"q{i}",
                timeout=None,
            )
            answers.append(reply.response)
        return StopEvent(result=",".join(answers))


WORKFLOWS = {
    "chain": Chain(timeout=None),
    "held": Held(timeout=None),
    "pingpong": PingPong(timeout=None),
}
