"""Snapshot and restore of a paused run holding many state keys.

The ``fill`` step sets ``keys`` entries in ``ctx.store`` and asks for input. While the
run waits, the caller times one ``handler.ctx.to_dict()`` call, cancels the run, and
then times ``Context.from_dict(wf, snapshot)`` + ``wf.run(ctx=...)`` + sending the
answer + awaiting the result. The snapshot goes through ``json`` in between, as it
would on its way to a database. The ``finish`` step reads the first and last keys;
afterwards the caller reads every key back from the restored run's store. The median
over ``rounds`` paused runs is reported.

Metrics: ``to_dict_ms``, ``restore_resume_ms``, ``snapshot_kib``.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

from _harness import Report, check, main

from workflows import Context, Workflow, step
from workflows.errors import WorkflowCancelledByUser
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.handler import WorkflowHandler


def key(i: int) -> str:
    """Name of state key ``i``."""
    return f"key_{i}"


class Filled(Workflow):
    """Fill the state with ``n_keys`` keys, wait for an answer, then stop."""

    @step
    async def fill(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("n_keys", ev.n_keys)
        for i in range(ev.n_keys):
            await ctx.store.set(key(i), i)
        return InputRequiredEvent(prefix="resume? ")

    @step
    async def finish(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        n_keys = await ctx.store.get("n_keys")
        first = await ctx.store.get(key(0))
        last = await ctx.store.get(key(n_keys - 1))
        return StopEvent(result=[first, last, ev.response])


@dataclass(frozen=True)
class Params:
    keys: int
    rounds: int


SIZES = {
    "tiny": Params(keys=100, rounds=3),
    "small": Params(keys=1_000, rounds=5),
    "full": Params(keys=1_000, rounds=9),
}


async def paused_run(wf: Filled, n_keys: int) -> WorkflowHandler:
    """Start a run and return its handler once it has asked for input."""
    handler = wf.run(n_keys=n_keys)
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            return handler
        check(not isinstance(ev, StopEvent), "run stopped before asking for input")
    raise AssertionError("stream ended without a StopEvent")


async def cancel(handler: WorkflowHandler) -> None:
    """Cancel a paused run and wait until it has ended."""
    await handler.cancel_run()
    try:
        await handler
    except WorkflowCancelledByUser:
        pass


async def snapshot_once(wf: Filled, params: Params) -> tuple[float, float, int]:
    """One paused run: (to_dict seconds, restore+resume seconds, JSON bytes)."""
    handler = await paused_run(wf, params.keys)
    start = time.perf_counter()
    snapshot = handler.ctx.to_dict()
    to_dict = time.perf_counter() - start
    encoded = json.dumps(snapshot)
    await cancel(handler)

    data = json.loads(encoded)
    start = time.perf_counter()
    restored = Context.from_dict(wf, data)
    handler = wf.run(ctx=restored)
    await handler.send_event(HumanResponseEvent(response="go"))
    result = await handler
    resume = time.perf_counter() - start

    check(result == [0, params.keys - 1, "go"], f"restored run returned {result!r}")
    for i in range(params.keys):
        value = await handler.ctx.store.get(key(i))
        check(value == i, f"state key {key(i)} is {value!r} after restore, expected {i}")
    return to_dict, resume, len(encoded)


async def bench(params: Params, report: Report) -> None:
    wf = Filled(timeout=None)
    await snapshot_once(wf, params)
    samples = [await snapshot_once(wf, params) for _ in range(params.rounds)]
    report.metrics["to_dict_ms"] = statistics.median(s[0] for s in samples) * 1e3
    report.metrics["restore_resume_ms"] = statistics.median(s[1] for s in samples) * 1e3
    report.metrics["snapshot_kib"] = samples[-1][2] / 1024


if __name__ == "__main__":
    main("snapshot", SIZES, bench)
