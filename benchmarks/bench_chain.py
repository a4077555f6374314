"""Linear chain: a 10-step workflow run sequentially; cost of one step hop.

Each run goes StartEvent -> Hop1 -> ... -> Hop9 -> StopEvent through ten steps, each
step adding one to a counter carried in the event; the result must be 10. Runs are
awaited one after another, so the figure is latency per hop, not throughput.

Also measured, as a floor: the same ten hand-offs between plain asyncio tasks joined
by ``asyncio.Queue`` (no workflow engine at all).

Metrics: ``us_per_hop`` (engine), ``asyncio_floor_us_per_hop`` (plain asyncio).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from _harness import Report, check, main

from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent

STEPS = 10


class Hop1(Event):
    hops: int


class Hop2(Event):
    hops: int


class Hop3(Event):
    hops: int


class Hop4(Event):
    hops: int


class Hop5(Event):
    hops: int


class Hop6(Event):
    hops: int


class Hop7(Event):
    hops: int


class Hop8(Event):
    hops: int


class Hop9(Event):
    hops: int


class Chain(Workflow):
    """Ten steps in a row, each adding one hop to the event it forwards."""

    @step
    async def s0(self, ev: StartEvent) -> Hop1:
        return Hop1(hops=1)

    @step
    async def s1(self, ev: Hop1) -> Hop2:
        return Hop2(hops=ev.hops + 1)

    @step
    async def s2(self, ev: Hop2) -> Hop3:
        return Hop3(hops=ev.hops + 1)

    @step
    async def s3(self, ev: Hop3) -> Hop4:
        return Hop4(hops=ev.hops + 1)

    @step
    async def s4(self, ev: Hop4) -> Hop5:
        return Hop5(hops=ev.hops + 1)

    @step
    async def s5(self, ev: Hop5) -> Hop6:
        return Hop6(hops=ev.hops + 1)

    @step
    async def s6(self, ev: Hop6) -> Hop7:
        return Hop7(hops=ev.hops + 1)

    @step
    async def s7(self, ev: Hop7) -> Hop8:
        return Hop8(hops=ev.hops + 1)

    @step
    async def s8(self, ev: Hop8) -> Hop9:
        return Hop9(hops=ev.hops + 1)

    @step
    async def s9(self, ev: Hop9) -> StopEvent:
        return StopEvent(result=ev.hops + 1)


@dataclass(frozen=True)
class Params:
    runs: int
    warmup_runs: int


SIZES = {
    "tiny": Params(runs=50, warmup_runs=5),
    "small": Params(runs=300, warmup_runs=20),
    "full": Params(runs=1_000, warmup_runs=50),
}


async def run_chain(wf: Chain, runs: int) -> float:
    """Await ``runs`` runs one after another; return the elapsed seconds."""
    start = time.perf_counter()
    for _ in range(runs):
        result = await wf.run()
        check(result == STEPS, f"chain returned {result!r}, expected {STEPS}")
    return time.perf_counter() - start


async def asyncio_floor(runs: int) -> float:
    """Seconds for ``runs`` items to pass through ten queue-linked asyncio tasks."""
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(STEPS + 1)]

    async def relay(inbox: asyncio.Queue[int], outbox: asyncio.Queue[int]) -> None:
        while True:
            outbox.put_nowait(await inbox.get() + 1)

    relays = [asyncio.ensure_future(relay(queues[i], queues[i + 1])) for i in range(STEPS)]
    try:
        start = time.perf_counter()
        for _ in range(runs):
            queues[0].put_nowait(0)
            hops = await queues[-1].get()
            check(hops == STEPS, f"asyncio relay counted {hops} hops")
        return time.perf_counter() - start
    finally:
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)


async def bench(params: Params, report: Report) -> None:
    wf = Chain(timeout=None)
    await run_chain(wf, params.warmup_runs)
    elapsed = await run_chain(wf, params.runs)
    report.metrics["us_per_hop"] = elapsed / (params.runs * STEPS) * 1e6
    await asyncio_floor(params.warmup_runs)
    floor = await asyncio_floor(params.runs)
    report.metrics["asyncio_floor_us_per_hop"] = floor / (params.runs * STEPS) * 1e6


if __name__ == "__main__":
    main("chain", SIZES, bench)
