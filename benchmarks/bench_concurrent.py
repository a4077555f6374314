"""Many concurrent runs: N three-step runs started at once on one workflow instance.

Each run computes ``(x + 1) * 2`` across three steps; every result is checked.
Throughput is measured first; the memory pass repeats the batch under ``tracemalloc``
(which slows allocation down, so nothing is timed there) and divides the peak traced
memory above the baseline by N.

Metrics: ``runs_per_s``, ``kib_per_run``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from _harness import Report, check, main, result_of, traced_memory

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Incremented(Event):
    x: int


class Doubled(Event):
    x: int


class ThreeSteps(Workflow):
    """StartEvent(x) -> Incremented(x + 1) -> Doubled(2 (x + 1)) -> StopEvent."""

    @step
    async def increment(self, ev: StartEvent) -> Incremented:
        return Incremented(x=ev.x + 1)

    @step
    async def double(self, ev: Incremented) -> Doubled:
        return Doubled(x=ev.x * 2)

    @step
    async def finish(self, ev: Doubled) -> StopEvent:
        return StopEvent(result=ev.x)


@dataclass(frozen=True)
class Params:
    runs: int


SIZES = {
    "tiny": Params(runs=100),
    "small": Params(runs=300),
    "full": Params(runs=1_000),
}


async def batch(wf: ThreeSteps, runs: int) -> None:
    """Start ``runs`` runs at once and check every result."""
    handlers = [wf.run(x=i) for i in range(runs)]
    results = await asyncio.gather(*(result_of(h) for h in handlers))
    wrong = [i for i, result in enumerate(results) if result != (i + 1) * 2]
    check(not wrong, f"{len(wrong)} of {runs} runs returned a wrong result")


async def bench(params: Params, report: Report) -> None:
    wf = ThreeSteps(timeout=None)
    await batch(wf, min(params.runs, 100))
    start = time.perf_counter()
    await batch(wf, params.runs)
    report.metrics["runs_per_s"] = params.runs / (time.perf_counter() - start)
    with traced_memory() as probe:
        await batch(wf, params.runs)
        report.metrics["kib_per_run"] = probe.peak() / params.runs / 1024


if __name__ == "__main__":
    main("concurrent", SIZES, bench)
