"""Many sequential ``ctx.wait_for_event`` calls inside one step.

One step loops ``waits`` times over ``ctx.wait_for_event(HumanResponseEvent,
waiter_event=InputRequiredEvent(turn=k), waiter_id=f"turn-{k}",
requirements={"turn": k})`` and sums the answers in a local variable. The code before
each wait is pure, so the step is correct both for an engine that resumes the
coroutine and for one that replays the step from its start (re-reading the answers
it already has). The caller answers each prompt as it is streamed and checks that
every prompt arrives once and in order and that the total is right.

The cost of a wait is the time from the answer being sent to the next prompt (or, for
the last wait, the StopEvent) being received. A design that replays the step pays for
every earlier wait again, so late waits cost more than early ones.

Metrics: ``first_us`` and ``last_us`` (median cost of the first and of the last
``window`` waits; the median keeps a stray GC pause from deciding the figure) and
``last_over_first`` (their ratio).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from _harness import Report, check, main

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Interview(Workflow):
    """One step that asks ``waits`` questions in a row with ``wait_for_event``."""

    @step
    async def interview(self, ctx: Context, ev: StartEvent) -> StopEvent:
        total = 0
        for turn in range(ev.waits):
            answer = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix=f"question {turn}: ", turn=turn),
                waiter_id=f"turn-{turn}",
                requirements={"turn": turn},
            )
            total += answer.response
        return StopEvent(result=total)


@dataclass(frozen=True)
class Params:
    waits: int
    window: int


SIZES = {
    "tiny": Params(waits=40, window=5),
    "small": Params(waits=100, window=10),
    "full": Params(waits=200, window=20),
}


async def interview(wf: Interview, waits: int) -> list[float]:
    """Run one interview to the end; return the cost of each wait in seconds."""
    handler = wf.run(waits=waits)
    costs: list[float] = []
    sent_at: float | None = None
    expected = 0
    async for ev in handler.stream_events():
        if not isinstance(ev, InputRequiredEvent | StopEvent):
            continue
        if sent_at is not None:
            costs.append(time.perf_counter() - sent_at)
            sent_at = None
        if isinstance(ev, StopEvent):
            break
        check(ev.turn == expected, f"prompt {ev.turn} streamed, expected prompt {expected}")
        expected += 1
        sent_at = time.perf_counter()
        await handler.send_event(HumanResponseEvent(turn=ev.turn, response=ev.turn + 1))
    result = await handler
    check(expected == waits, f"{expected} prompts streamed, expected {waits}")
    check(result == waits * (waits + 1) // 2, f"result {result!r} is wrong")
    check(len(costs) == waits, f"{len(costs)} waits timed, expected {waits}")
    return costs


async def bench(params: Params, report: Report) -> None:
    wf = Interview(timeout=None)
    await interview(wf, params.waits)
    costs = await interview(wf, params.waits)
    first = statistics.median(costs[: params.window])
    last = statistics.median(costs[-params.window :])
    report.metrics["first_us"] = first * 1e6
    report.metrics["last_us"] = last * 1e6
    report.metrics["last_over_first"] = last / first


if __name__ == "__main__":
    main("wait_many", SIZES, bench)
