"""CPU time per operation of the in-memory engine: chain hop, fan-out event, HITL round trip.

CPU time (``time.process_time``) counts less of what else the machine does than wall
time, so two trees can be compared on a shared machine. Compare a tree against another
by alternating runs (docs/performance.md, "After the LlamaIndex drop-in changes")::

    git worktree add /tmp/before be525aa
    for i in 1 2 3 4 5 6 7 8; do
        .venv/bin/python benchmarks/cpu_compare.py
        PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/cpu_compare.py
    done

Prints one JSON line of CPU microseconds per operation.
"""

from __future__ import annotations

import asyncio
import json
import time

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class H1(Event):
    n: int


class H2(Event):
    n: int


class H3(Event):
    n: int


class H4(Event):
    n: int


class H5(Event):
    n: int


class H6(Event):
    n: int


class H7(Event):
    n: int


class H8(Event):
    n: int


class H9(Event):
    n: int


class Chain(Workflow):
    @step
    async def s0(self, ev: StartEvent) -> H1:
        return H1(n=1)

    @step
    async def s1(self, ev: H1) -> H2:
        return H2(n=ev.n + 1)

    @step
    async def s2(self, ev: H2) -> H3:
        return H3(n=ev.n + 1)

    @step
    async def s3(self, ev: H3) -> H4:
        return H4(n=ev.n + 1)

    @step
    async def s4(self, ev: H4) -> H5:
        return H5(n=ev.n + 1)

    @step
    async def s5(self, ev: H5) -> H6:
        return H6(n=ev.n + 1)

    @step
    async def s6(self, ev: H6) -> H7:
        return H7(n=ev.n + 1)

    @step
    async def s7(self, ev: H7) -> H8:
        return H8(n=ev.n + 1)

    @step
    async def s8(self, ev: H8) -> H9:
        return H9(n=ev.n + 1)

    @step
    async def s9(self, ev: H9) -> StopEvent:
        return StopEvent(result=ev.n + 1)


class Item(Event):
    i: int


class Done(Event):
    i: int


class Fan(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Item | None:
        await ctx.store.set("n", ev.n)
        for i in range(ev.n):
            ctx.send_event(Item(i=i))
        return None

    @step(num_workers=4)
    async def work(self, ev: Item) -> Done:
        return Done(i=ev.i)

    @step
    async def gather(self, ctx: Context, ev: Done) -> StopEvent | None:
        n = await ctx.store.get("n")
        got = ctx.collect_events(ev, [Done] * n)
        if got is None:
            return None
        return StopEvent(result=len(got))


class Hitl(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="?")

    @step
    async def answer(self, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        if ev.response == "stop":
            return StopEvent(result="done")
        return InputRequiredEvent(prefix="?")


async def chain(runs):
    wf = Chain(timeout=None)
    for _ in range(50):
        await wf.run()
    t = time.process_time()
    for _ in range(runs):
        await wf.run()
    return (time.process_time() - t) / (runs * 10) * 1e6


async def fan(n):
    wf = Fan(timeout=None)
    await wf.run(n=100)
    t = time.process_time()
    assert await wf.run(n=n) == n
    return (time.process_time() - t) / n * 1e6


async def hitl(rounds):
    wf = Hitl(timeout=None)
    h = wf.run()
    count = 0
    t = None
    async for ev in h.stream_events():
        if isinstance(ev, InputRequiredEvent):
            if count == 50:
                t = time.process_time()
            count += 1
            h.ctx.send_event(HumanResponseEvent(response="stop" if count > rounds + 50 else "go"))
    await h
    return (time.process_time() - t) / rounds * 1e6


async def main():
    out = {
        "chain_us_per_hop": await chain(1000),
        "fanout_us_per_event": await fan(5000),
        "hitl_us_per_round": await hitl(2000),
    }
    print(json.dumps(out))


asyncio.run(main())
