"""The workflow used by test_kill9 (imported by the test and by _kill_worker.py)."""

from __future__ import annotations

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Counted(Event):
    n: int
    hop: int


STEPS = 4  # chain steps before the question


class Counting(Workflow):
    """A chain of steps, each recording its boundary in the context, then a question.

    ``ctx.store["log"]`` gets one entry per step that *returned*: a committed boundary.
    If a committed step effect were applied twice (a replayed event, a duplicated
    answer), an entry would appear twice.
    """

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Counted:
        await ctx.store.set("n", ev.n)
        await ctx.store.set("log", ["begin"])
        return Counted(n=ev.n, hop=0)

    @step
    async def hop(self, ctx: Context, ev: Counted) -> Counted | InputRequiredEvent:
        log = await ctx.store.get("log")
        await ctx.store.set("log", [*log, f"hop{ev.hop}"])
        if ev.hop + 1 < STEPS:
            return Counted(n=ev.n, hop=ev.hop + 1)
        return InputRequiredEvent(prefix=f"answer for {ev.n}")

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        log = await ctx.store.get("log")
        log = [*log, f"answer:{ev.response}"]
        n = await ctx.store.get("n")
        return StopEvent(result={"n": n, "answer": ev.response, "log": log})


def expected_log(answer: str) -> list[str]:
    return ["begin", *(f"hop{i}" for i in range(STEPS)), f"answer:{answer}"]


WORKFLOWS = {"counting": Counting(timeout=None)}
