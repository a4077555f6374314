"""Thousands of runs paused for input in one process.

``runs`` runs of ``Approval`` are started at once; each stores its index in its state
and asks for input. One caller task per run reads the run's stream until its prompt
arrives (and on to the end). The caller times how long it takes until every run has
asked, then answers every run and times until every result is back; each result must
pair the run's own index with the answer sent to that run.

The memory pass repeats the whole thing under ``tracemalloc`` and divides the live
traced memory once all runs are paused by the number of runs. That figure includes
the caller side (a handler and a stream-reading task per run). For scale, the same
pass measures a floor with no engine: one task per run iterating an async generator
that waits on a future.

Metrics: ``pause_all_s``, ``answer_all_s``, ``kib_per_paused_run``,
``asyncio_floor_kib_per_run``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from _harness import MemoryProbe, Report, check, main, result_of, traced_memory

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.handler import WorkflowHandler


class Approval(Workflow):
    """Ask for approval of item ``index``; stop with the index and the answer."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("index", ev.index)
        return InputRequiredEvent(prefix=f"approve item {ev.index}? ", index=ev.index)

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=[await ctx.store.get("index"), ev.response])


@dataclass(frozen=True)
class Params:
    runs: int


SIZES = {
    "tiny": Params(runs=200),
    "small": Params(runs=1_000),
    "full": Params(runs=5_000),
}


class Fleet:
    """``runs`` paused runs and the caller tasks that read their streams."""

    def __init__(self, wf: Approval, runs: int) -> None:
        self.runs = runs
        self.asked = 0
        self.all_asked = asyncio.Event()
        self.handlers: list[WorkflowHandler] = [wf.run(index=i) for i in range(runs)]
        self.readers = [
            asyncio.ensure_future(self._read(i, h)) for i, h in enumerate(self.handlers)
        ]

    async def _read(self, index: int, handler: WorkflowHandler) -> int:
        """Read one run's stream to the end; return how many prompts it carried."""
        prompts = 0
        last = None
        async for ev in handler.stream_events():
            last = ev
            if isinstance(ev, InputRequiredEvent):
                check(ev.index == index, f"run {index} streamed the prompt of run {ev.index}")
                prompts += 1
                self.asked += 1
                if self.asked == self.runs:
                    self.all_asked.set()
        check(isinstance(last, StopEvent), f"run {index}: stream ended with {last!r}")
        return prompts

    async def answer_all(self) -> None:
        """Answer every run, await every result and every stream, check them."""
        for i, handler in enumerate(self.handlers):
            await handler.send_event(HumanResponseEvent(response=answer(i)))
        results = await asyncio.gather(*(result_of(h) for h in self.handlers))
        wrong = [i for i, r in enumerate(results) if r != [i, answer(i)]]
        check(not wrong, f"{len(wrong)} of {self.runs} runs returned a wrong result")
        prompts = await asyncio.gather(*self.readers)
        check(all(p == 1 for p in prompts), "a run streamed its prompt other than once")


def answer(index: int) -> str:
    """The answer sent to run ``index``."""
    return f"yes-{index}"


async def pause_and_answer(
    wf: Approval, runs: int, when_paused: Callable[[], None] | None = None
) -> tuple[float, float]:
    """Seconds until all ``runs`` runs asked for input, and to answer and finish them."""
    start = time.perf_counter()
    fleet = Fleet(wf, runs)
    await fleet.all_asked.wait()
    paused = time.perf_counter()
    if when_paused is not None:
        when_paused()
    resumed = time.perf_counter()
    await fleet.answer_all()
    return paused - start, time.perf_counter() - resumed


async def asyncio_floor(runs: int, probe: MemoryProbe) -> float:
    """Traced KiB per run of ``runs`` tasks each waiting inside an async generator."""

    async def stream(answer: asyncio.Future[str]) -> AsyncIterator[str]:
        yield await answer

    async def read(answer: asyncio.Future[str]) -> None:
        async for _ in stream(answer):
            pass

    before = probe.current()
    loop = asyncio.get_running_loop()
    answers = [loop.create_future() for _ in range(runs)]
    readers = [asyncio.ensure_future(read(a)) for a in answers]
    await asyncio.sleep(0)
    kib = (probe.current() - before) / runs / 1024
    for answer in answers:
        answer.set_result("yes")
    await asyncio.gather(*readers)
    return kib


async def bench(params: Params, report: Report) -> None:
    wf = Approval(timeout=None)
    await pause_and_answer(wf, min(params.runs, 100))
    pause_s, answer_s = await pause_and_answer(wf, params.runs)
    report.metrics["pause_all_s"] = pause_s
    report.metrics["answer_all_s"] = answer_s
    with traced_memory() as probe:

        def measure() -> None:
            report.metrics["kib_per_paused_run"] = probe.current() / params.runs / 1024

        await pause_and_answer(wf, params.runs, when_paused=measure)
        report.metrics["asyncio_floor_kib_per_run"] = await asyncio_floor(params.runs, probe)


if __name__ == "__main__":
    main("paused", SIZES, bench)
