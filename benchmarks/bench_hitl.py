"""Human-in-the-loop round trip in memory: answer sent -> next prompt received.

One ``Conversation`` run (see ``_conversation.py``) is driven through ``turns``
questions over ``handler.stream_events()`` and ``await handler.send_event(...)``; the
latency of every round trip is recorded. A first, shorter conversation warms up.

The memory pass repeats the conversation under ``tracemalloc`` and reports the bytes
still live per round between a point early in the run and its last question: what the
engine retains per round (the caller keeps no events).

Metrics: ``p50_us``, ``p99_us``, ``retained_bytes_per_round``.
"""

from __future__ import annotations

from dataclasses import dataclass

from _conversation import Conversation, converse, expected_total
from _harness import Report, check, main, percentile, traced_memory

from workflows.handler import WorkflowHandler


@dataclass(frozen=True)
class Params:
    turns: int
    warmup_turns: int


SIZES = {
    "tiny": Params(turns=100, warmup_turns=20),
    "small": Params(turns=300, warmup_turns=50),
    "full": Params(turns=1_000, warmup_turns=100),
}


async def finish(handler: WorkflowHandler, turns: int) -> None:
    """Await the run's result and check it."""
    result = await handler
    check(result == expected_total(turns), f"result {result!r}, expected {expected_total(turns)}")


async def bench(params: Params, report: Report) -> None:
    wf = Conversation(timeout=None)
    handler = wf.run(turns=params.warmup_turns)
    await converse(handler, answers=params.warmup_turns)
    await finish(handler, params.warmup_turns)

    handler = wf.run(turns=params.turns)
    latencies = await converse(handler, answers=params.turns)
    await finish(handler, params.turns)
    report.metrics["p50_us"] = percentile(latencies, 50) * 1e6
    report.metrics["p99_us"] = percentile(latencies, 99) * 1e6

    first = params.turns // 10
    last = params.turns - 1
    live: dict[int, int] = {}
    with traced_memory() as probe:

        def sample(turn: int) -> None:
            if turn in (first, last):
                live[turn] = probe.current()

        handler = wf.run(turns=params.turns)
        await converse(handler, answers=params.turns, on_prompt=sample, timed=False)
        await finish(handler, params.turns)
    report.metrics["retained_bytes_per_round"] = (live[last] - live[first]) / (last - first)


if __name__ == "__main__":
    main("hitl", SIZES, bench)
