"""Property: a run snapshotted at any stream event and resumed elsewhere ends the same.

Hypothesis draws random workflows made of stages, each a step class built at run
time:

- ``chain``: one step, value -> value * m + a;
- ``wait``: one step that asks with ``wait_for_event`` and adds the answer;
- ``fan``: a step sends n parts, a worker step (``num_workers`` w, optionally waiting
  for an answer per part) handles each, a join step collects the n results.

The last stage is always a wait, so the run cannot finish before the snapshot.
Each drawn workflow runs once uninterrupted (answers given as prompts appear), then
again with a snapshot taken at a random stream event: the run is cancelled, the
snapshot goes through JSON and is restored into a FRESH workflow instance, and the
resumed run must give the same result as the uninterrupted one (and as the value
computed from the plan).

The resumed driver sends at once an answer for every request the plan can make,
then answers every prompt the resumed run writes. An answer no waiter takes is
dropped by the routing rule, so this never delivers a second answer to a waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows import Context, Workflow, step
from workflows.errors import WorkflowCancelledByUser
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)

PHASE_TIMEOUT = 20  # seconds for one run of one example
MAX_STAGES = 5
MOD = 1_000_003


class Progress(Event):
    label: str


def _event_class(name: str, fields: dict[str, Any]) -> type[Event]:
    cls = type(name, (Event,), {"__annotations__": fields, "__module__": __name__})
    cls.__qualname__ = name
    globals()[name] = cls  # resolvable by its qualified name, like a class written out
    return cls


VALUE = [_event_class(f"PropValue{i}", {"value": int}) for i in range(MAX_STAGES + 2)]
PART = [_event_class(f"PropPart{i}", {"idx": int, "value": int}) for i in range(MAX_STAGES + 1)]
DONE = [_event_class(f"PropDone{i}", {"idx": int, "value": int}) for i in range(MAX_STAGES + 1)]


@dataclass(frozen=True)
class Chain:
    mult: int
    add: int


@dataclass(frozen=True)
class Wait:
    use_id: bool


@dataclass(frozen=True)
class Fan:
    parts: int
    workers: int
    wait: bool


Stage = Chain | Wait | Fan


@dataclass(frozen=True)
class Plan:
    seed: int
    stages: tuple[Stage, ...]


def answer_value(request_id: str) -> int:
    return sum(map(ord, request_id)) % 50 + 1


def answer_for(request_id: str) -> HumanResponseEvent:
    return HumanResponseEvent(response=str(answer_value(request_id)), request_id=request_id)


def stage_request_id(i: int, plan: Plan) -> str:
    return "final" if i == len(plan.stages) - 1 else f"s{i}"


def all_request_ids(plan: Plan) -> list[str]:
    ids: list[str] = []
    for i, stage in enumerate(plan.stages):
        if isinstance(stage, Wait):
            ids.append(stage_request_id(i, plan))
        elif isinstance(stage, Fan) and stage.wait:
            ids.extend(f"s{i}p{j}" for j in range(stage.parts))
    return ids


def expected_result(plan: Plan) -> dict[str, Any]:
    value = plan.seed
    store: dict[str, int] = {}
    for i, stage in enumerate(plan.stages):
        if isinstance(stage, Chain):
            value = (value * stage.mult + stage.add) % MOD
        elif isinstance(stage, Wait):
            value = (value + answer_value(stage_request_id(i, plan))) % MOD
        else:
            total = 0
            for j in range(stage.parts):
                extra = answer_value(f"s{i}p{j}") if stage.wait else 0
                total += (j + 1) * (((value + j) * 2 + extra) % MOD)
            value = total % MOD
        store[f"stage{i}"] = value
    return {"value": value, "store": store}


# ------------------------------------------------------- building the workflow class


def _named(fn: Any, name: str, annotations: dict[str, Any]) -> Any:
    fn.__name__ = name
    fn.__qualname__ = f"PropertyFlow.{name}"
    fn.__annotations__ = annotations
    return fn


def build_workflow(plan: Plan) -> type[Workflow]:
    namespace: dict[str, Any] = {"__module__": __name__}
    last = len(plan.stages)

    async def start(self: Any, ctx: Context, ev: StartEvent) -> Any:
        ctx.write_event_to_stream(Progress(label="start"))
        return VALUE[0](value=ev.seed)

    namespace["start"] = step(
        _named(start, "start", {"ctx": Context, "ev": StartEvent, "return": VALUE[0]})
    )

    for i, stage in enumerate(plan.stages):
        namespace.update(_stage_steps(i, stage, plan))

    async def finish(self: Any, ctx: Context, ev: Any) -> StopEvent:
        store = {f"stage{i}": await ctx.store.get(f"stage{i}") for i in range(last)}
        return StopEvent(result={"value": ev.value, "store": store})

    namespace["finish"] = step(
        _named(finish, "finish", {"ctx": Context, "ev": VALUE[last], "return": StopEvent})
    )
    return type("PropertyFlow", (Workflow,), namespace)


def _stage_steps(i: int, stage: Stage, plan: Plan) -> dict[str, Any]:
    source, target = VALUE[i], VALUE[i + 1]

    if isinstance(stage, Chain):

        async def chain(self: Any, ctx: Context, ev: Any) -> Any:
            ctx.write_event_to_stream(Progress(label=f"chain{i}"))
            value = (ev.value * stage.mult + stage.add) % MOD
            await ctx.store.set(f"stage{i}", value)
            return target(value=value)

        annotations = {"ctx": Context, "ev": source, "return": target}
        return {f"chain_{i}": step(_named(chain, f"chain_{i}", annotations))}

    if isinstance(stage, Wait):
        rid = stage_request_id(i, plan)

        async def wait(self: Any, ctx: Context, ev: Any) -> Any:
            ctx.write_event_to_stream(Progress(label=f"wait{i}"))
            reply = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix=f"{rid}? ", request_id=rid),
                waiter_id=rid if stage.use_id else None,
                requirements={"request_id": rid},
            )
            value = (ev.value + int(reply.response)) % MOD
            await ctx.store.set(f"stage{i}", value)
            return target(value=value)

        annotations = {"ctx": Context, "ev": source, "return": target}
        return {f"wait_{i}": step(_named(wait, f"wait_{i}", annotations))}

    part, done = PART[i], DONE[i]

    async def split(self: Any, ctx: Context, ev: Any) -> Any:
        ctx.write_event_to_stream(Progress(label=f"split{i}"))
        for j in range(stage.parts):
            ctx.send_event(part(idx=j, value=ev.value + j))
        return None

    async def work(self: Any, ctx: Context, ev: Any) -> Any:
        ctx.write_event_to_stream(Progress(label=f"work{i}.{ev.idx}"))
        extra = 0
        if stage.wait:
            rid = f"s{i}p{ev.idx}"
            reply = await ctx.wait_for_event(
                HumanResponseEvent,
                waiter_event=InputRequiredEvent(prefix=f"{rid}? ", request_id=rid),
                requirements={"request_id": rid},
            )
            extra = int(reply.response)
        return done(idx=ev.idx, value=(ev.value * 2 + extra) % MOD)

    async def join(self: Any, ctx: Context, ev: Any) -> Any:
        ctx.write_event_to_stream(Progress(label=f"join{i}.{ev.idx}"))
        got = ctx.collect_events(ev, [done] * stage.parts)
        if got is None:
            return None
        assert sorted(d.idx for d in got) == list(range(stage.parts)), got
        value = sum((d.idx + 1) * d.value for d in got) % MOD
        await ctx.store.set(f"stage{i}", value)
        return target(value=value)

    return {
        f"split_{i}": step(
            _named(split, f"split_{i}", {"ctx": Context, "ev": source, "return": part | None})
        ),
        f"work_{i}": step(num_workers=stage.workers)(
            _named(work, f"work_{i}", {"ctx": Context, "ev": part, "return": done})
        ),
        f"join_{i}": step(
            _named(join, f"join_{i}", {"ctx": Context, "ev": done, "return": target | None})
        ),
    }


# ------------------------------------------------------------------------ driving


async def uninterrupted(wf_cls: type[Workflow], plan: Plan) -> tuple[Any, int]:
    """Result, and the index of the final prompt on the stream."""
    handler = wf_cls(timeout=PHASE_TIMEOUT).run(seed=plan.seed)
    final_index = -1
    index = 0
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            if ev.request_id == "final":
                final_index = index
            await handler.send_event(answer_for(ev.request_id))
        index += 1
    return await handler, final_index


async def interrupted(wf_cls: type[Workflow], plan: Plan, snapshot_at: int) -> Any:
    first = wf_cls(timeout=PHASE_TIMEOUT)
    handler = first.run(seed=plan.seed)
    data = None
    index = 0
    prompted_before: set[str] = set()  # prompts written before the snapshot was taken
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            prompted_before.add(ev.request_id)
        if index == snapshot_at:
            data = handler.ctx.to_dict()
            break
        if isinstance(ev, InputRequiredEvent):
            await handler.send_event(answer_for(ev.request_id))
        index += 1
    assert data is not None, f"the stream ended before event {snapshot_at}"
    await handler.cancel_run()
    with contextlib.suppress(WorkflowCancelledByUser):
        await handler

    stored = json.loads(json.dumps(data))
    fresh = wf_cls(timeout=PHASE_TIMEOUT)
    resumed = fresh.run(ctx=Context.from_dict(fresh, stored))
    for rid in all_request_ids(plan):
        await resumed.send_event(answer_for(rid))
    async for ev in resumed.stream_events():
        assert not isinstance(ev, StartEvent)
        if isinstance(ev, InputRequiredEvent):
            assert ev.request_id not in prompted_before, (
                f"prompt {ev.request_id} was written again after the restore"
            )
            await resumed.send_event(answer_for(ev.request_id))
    return await resumed


# ------------------------------------------------------------------------ property

stages = st.one_of(
    st.builds(Chain, mult=st.integers(1, 9), add=st.integers(0, 99)),
    st.builds(Wait, use_id=st.booleans()),
    st.builds(Fan, parts=st.integers(1, 4), workers=st.integers(1, 3), wait=st.booleans()),
)
plans = st.builds(
    Plan,
    seed=st.integers(0, 1000),
    stages=st.lists(stages, max_size=MAX_STAGES - 1).map(lambda s: (*s, Wait(use_id=True))),
)


@pytest.mark.timeout(900)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=False,
)
@given(plan=plans, position=st.integers(min_value=0, max_value=10_000))
def test_resuming_from_any_stream_event_gives_the_uninterrupted_result(
    plan: Plan, position: int
) -> None:
    wf_cls = build_workflow(plan)
    expected = expected_result(plan)

    result, final_index = asyncio.run(
        asyncio.wait_for(uninterrupted(wf_cls, plan), timeout=PHASE_TIMEOUT)
    )
    assert result == expected
    assert final_index >= 0

    snapshot_at = position % (final_index + 1)
    resumed = asyncio.run(
        asyncio.wait_for(interrupted(wf_cls, plan, snapshot_at), timeout=PHASE_TIMEOUT)
    )
    assert resumed == result, f"snapshot at stream event {snapshot_at}"


def test_the_generated_workflows_run_at_all() -> None:
    """A fixed plan with every kind of stage: a readable failure before the property."""
    plan = Plan(
        seed=5,
        stages=(
            Chain(mult=3, add=1),
            Fan(parts=3, workers=2, wait=True),
            Fan(parts=2, workers=1, wait=False),
            Wait(use_id=False),
            Wait(use_id=True),
        ),
    )
    wf_cls = build_workflow(plan)
    result, final_index = asyncio.run(
        asyncio.wait_for(uninterrupted(wf_cls, plan), timeout=PHASE_TIMEOUT)
    )
    assert result == expected_result(plan)
    # start, chain, split, 3 x (work + prompt), 3 x join, split, 2 x work, 2 x join,
    # wait + prompt, then the final wait's progress event: the final prompt is next.
    assert final_index == 1 + 1 + 1 + 6 + 3 + 1 + 2 + 2 + 2 + 1
    for snapshot_at in (0, 4, final_index // 2, final_index):
        resumed = asyncio.run(
            asyncio.wait_for(interrupted(wf_cls, plan, snapshot_at), timeout=PHASE_TIMEOUT)
        )
        assert resumed == result, f"snapshot at stream event {snapshot_at}"
