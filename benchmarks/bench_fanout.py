"""Fan-out / fan-in: N events through a ``num_workers=8`` step, counted two ways.

The start step records N in a typed state model and sends N ``Item`` events. The
``work`` step (``num_workers=8``) increments ``count`` under ``ctx.store.edit_state()``
and emits a ``Done``; the ``gather`` step collects all N ``Done`` events with
``ctx.collect_events`` and stops with the count and every item index. The caller
checks the count is N and that each index arrived exactly once.

Each size is run several times (median kept) when one run is short. Sizes grow until
a run exceeds the time budget; that size and all larger ones are reported as "did not
finish within X s" (the run is cancelled, not left hanging).

Metrics: ``ev_per_s@N=<n>`` per size, ``growth_exponent`` (least-squares slope of
log time over log N across the sizes that finished).
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from dataclasses import dataclass

from _harness import Report, check, growth_exponent, main, result_of
from pydantic import BaseModel

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class Item(Event):
    index: int


class Done(Event):
    index: int


class Tally(BaseModel):
    """Run state: how many items were sent and how many the workers have finished."""

    n: int = 0
    count: int = 0


@functools.lru_cache(maxsize=4)
def expected_done(n: int) -> list[type[Event]]:
    """``[Done] * n``, built once per size so that the caller's side of
    ``collect_events`` costs O(1) per event and the engine's own cost is measured."""
    return [Done] * n


class FanOut(Workflow):
    """Scatter N items to eight concurrent workers, gather every result."""

    @step
    async def scatter(self, ctx: Context[Tally], ev: StartEvent) -> Item | None:
        async with ctx.store.edit_state() as state:
            state.n = ev.n
        for index in range(ev.n):
            ctx.send_event(Item(index=index))
        return None

    @step(num_workers=8)
    async def work(self, ctx: Context[Tally], ev: Item) -> Done:
        async with ctx.store.edit_state() as state:
            state.count += 1
        return Done(index=ev.index)

    @step
    async def gather(self, ctx: Context[Tally], ev: Done) -> StopEvent | None:
        done = ctx.collect_events(ev, expected_done(await ctx.store.get("n")))
        if done is None:
            return None
        count = await ctx.store.get("count")
        return StopEvent(result={"count": count, "indices": [d.index for d in done]})


@dataclass(frozen=True)
class Params:
    sizes: tuple[int, ...]
    budget_s: float
    """Wall-clock limit for one run; past it the run is cancelled and reported DNF."""
    sample_s: float
    """A size is run again (up to 5 times; median kept) until its runs add up to this."""


SIZES = {
    "tiny": Params(sizes=(100, 200, 400), budget_s=10.0, sample_s=0.05),
    "small": Params(sizes=(250, 500, 1_000, 2_000, 4_000), budget_s=10.0, sample_s=0.2),
    "full": Params(
        sizes=(250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000),
        budget_s=30.0,
        sample_s=0.5,
    ),
}
MAX_SAMPLES = 5


async def fan_out(wf: FanOut, n: int, budget_s: float) -> float | None:
    """Seconds for one run with ``n`` items, or None if it exceeded ``budget_s``."""
    start = time.perf_counter()
    handler = wf.run(n=n)
    waiter = asyncio.ensure_future(result_of(handler))
    done, _ = await asyncio.wait({waiter}, timeout=budget_s)
    if not done:
        await asyncio.wait_for(handler.cancel_run(), timeout=budget_s)
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        return None
    elapsed = time.perf_counter() - start
    result = waiter.result()
    check(result["count"] == n, f"N={n}: store counted {result['count']} items")
    indices = result["indices"]
    check(len(indices) == n, f"N={n}: collect_events returned {len(indices)} events")
    check(sorted(indices) == list(range(n)), f"N={n}: item indices lost or duplicated")
    return elapsed


async def time_size(wf: FanOut, n: int, params: Params) -> float | None:
    """Median seconds for ``n`` items over enough runs, or None past the budget."""
    samples: list[float] = []
    while sum(samples) < params.sample_s and len(samples) < MAX_SAMPLES:
        elapsed = await fan_out(wf, n, params.budget_s)
        if elapsed is None:
            return None
        samples.append(elapsed)
    return statistics.median(samples)


async def bench(params: Params, report: Report) -> None:
    wf = FanOut(timeout=None)
    await fan_out(wf, params.sizes[0], params.budget_s)
    points: list[tuple[float, float]] = []
    for i, n in enumerate(params.sizes):
        elapsed = await time_size(wf, n, params)
        if elapsed is None:
            for skipped in params.sizes[i:]:
                report.dnf[f"ev_per_s@N={skipped}"] = f"did not finish within {params.budget_s:g} s"
            break
        points.append((n, elapsed))
        report.metrics[f"ev_per_s@N={n}"] = n / elapsed
    if len(points) >= 2:
        report.metrics["growth_exponent"] = growth_exponent(points)
        report.metrics["growth_fit_max_n"] = points[-1][0]


if __name__ == "__main__":
    main("fanout", SIZES, bench)
