"""Snapshots: ``ctx.to_dict()`` / ``Context.from_dict(wf, data)`` and resuming a run.

Rules of this engine checked here (see docs/human-in-the-loop.md):

- a snapshot is a JSON-safe dict with a ``format_version``; it can be taken of
  ``Context(wf)`` before any run, of a finished run, of a running or paused run;
- ``wf.run(ctx=restored)`` continues the run: no new StartEvent, finished steps are
  not run again, in-flight steps re-run from their start with their input event;
- a step suspended in ``wait_for_event`` is re-run on restore: the code before the
  wait runs once more (two times in total), its waiter_event is not written again,
  and an answer that had arrived before the snapshot is returned at once;
- state values that are pydantic models come back as their type when the type is the
  ``Context[Model]`` state, a workflow event type or registered with
  ``JsonSerializer(extra_types=[...])``; anything else that cannot be encoded safely
  makes ``to_dict`` raise ``ContextSerdeError``. ``PickleSerializer`` is opt-in.

Every test synchronises on stream events; none sleeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from _flows import RETRY_FIVE_TIMES, THREE_ANSWERS, Progress, Question, ThreeAsks, answer_for
from _runs import (
    cancelled,
    events_and_result,
    json_round_trip,
    prompts_in,
    snapshot_at_prompt,
)
from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.context import JsonSerializer, PickleSerializer
from workflows.errors import ContextSerdeError
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


class Profile(BaseModel):
    name: str = "nobody"
    visits: int = 0
    tags: list[str] = []


class Note(BaseModel):
    """A model that is neither the state type nor an event: it must be registered."""

    text: str
    stars: int


@dataclasses.dataclass
class Box:
    """A plain class only PickleSerializer can carry."""

    content: str


async def snapshot_after_answer(
    handler: Any, answer: Event, prompts: int, progress: str
) -> dict[str, Any]:
    """Stream the run; at its ``prompts``-th prompt send ``answer``; once it writes
    ``Progress(progress)``, snapshot it (through JSON text) and cancel it."""

    async def at_progress() -> dict[str, Any]:
        seen = 0
        async for ev in handler.stream_events():
            if isinstance(ev, InputRequiredEvent):
                seen += 1
                if seen == prompts:
                    await handler.send_event(answer)
            elif isinstance(ev, Progress) and ev.label == progress:
                return json_round_trip(handler.ctx.to_dict())
        raise AssertionError(f"the run ended without writing Progress({progress!r})")

    data = await asyncio.wait_for(at_progress(), TIMEOUT)
    await cancelled(handler)
    return data


# ------------------------------------------------------------- before / after a run


class Greeter(Workflow):
    @step
    async def greet(self, ctx: Context, ev: StartEvent) -> StopEvent:
        greeting = await ctx.store.get("greeting", default="hello")
        runs = await ctx.store.get("runs", default=0) + 1
        await ctx.store.set("runs", runs)
        return StopEvent(result=f"{greeting} {ev.name} #{runs}")


async def test_snapshot_of_a_context_before_any_run_round_trips() -> None:
    ctx = Context(Greeter())
    await ctx.store.set("greeting", "bonjour")
    data = json_round_trip(ctx.to_dict())
    assert "format_version" in data

    wf = Greeter(timeout=TIMEOUT)
    restored = Context.from_dict(wf, data)
    assert await restored.store.get("greeting") == "bonjour"
    result = await asyncio.wait_for(wf.run(ctx=restored, name="Ada"), timeout=TIMEOUT)
    assert result == "bonjour Ada #1"


async def test_snapshot_of_an_empty_context_round_trips() -> None:
    data = json_round_trip(Context(Greeter()).to_dict())
    wf = Greeter(timeout=TIMEOUT)
    result = await asyncio.wait_for(
        wf.run(ctx=Context.from_dict(wf, data), name="Bo"), timeout=TIMEOUT
    )
    assert result == "hello Bo #1"


async def test_snapshot_after_a_finished_run_carries_state_into_the_next_run() -> None:
    first = Greeter(timeout=TIMEOUT)
    handler = first.run(name="Ada")
    events, result = await events_and_result(handler)
    assert result == "hello Ada #1"
    data = json_round_trip(handler.ctx.to_dict())

    second = Greeter(timeout=TIMEOUT)
    restored = Context.from_dict(second, data)
    assert await restored.store.get("runs") == 1
    result = await asyncio.wait_for(second.run(ctx=restored, name="Bo"), timeout=TIMEOUT)
    assert result == "hello Bo #2"


async def test_a_restored_context_can_be_snapshotted_again() -> None:
    ctx = Context(Greeter())
    await ctx.store.set("greeting", "hej")
    once = json_round_trip(ctx.to_dict())
    twice = json_round_trip(Context.from_dict(Greeter(), once).to_dict())
    wf = Greeter(timeout=TIMEOUT)
    result = await asyncio.wait_for(
        wf.run(ctx=Context.from_dict(wf, twice), name="Cy"), timeout=TIMEOUT
    )
    assert result == "hej Cy #1"


# ---------------------------------------------------------------------- state values


class ProfileFlow(Workflow):
    @step
    async def visit(self, ctx: Context[Profile], ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as state:
            state.visits += 1
            state.tags.append(ev.tag)
        state = await ctx.store.get_state()
        return StopEvent(result=(state.name, state.visits, list(state.tags)))


async def test_typed_state_round_trips_as_its_model() -> None:
    wf = ProfileFlow(timeout=TIMEOUT)
    handler = wf.run(tag="first")
    _, result = await events_and_result(handler)
    assert result == ("nobody", 1, ["first"])
    await handler.ctx.store.set("name", "Ada")

    data = json_round_trip(handler.ctx.to_dict())
    wf2 = ProfileFlow(timeout=TIMEOUT)
    restored = Context.from_dict(wf2, data)
    state = await restored.store.get_state()
    assert isinstance(state, Profile)
    assert state == Profile(name="Ada", visits=1, tags=["first"])
    result = await asyncio.wait_for(wf2.run(ctx=restored, tag="second"), timeout=TIMEOUT)
    assert result == ("Ada", 2, ["first", "second"])


class EventUser(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> Question | None:
        return None

    @step
    async def answer(self, ctx: Context, ev: Question) -> StopEvent:
        return StopEvent(result=ev.request_id)


async def test_workflow_event_types_and_plain_values_in_state_round_trip() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("last", Question(request_id="q-7", extra_field="kept"))
    await ctx.store.set("nested", {"a": [1, 2.5, None, True, "x"], "b": {"c": "d"}})
    await ctx.store.set("human", HumanResponseEvent(response="yes"))

    restored = Context.from_dict(EventUser(), json_round_trip(ctx.to_dict()))
    last = await restored.store.get("last")
    assert type(last) is Question
    assert last.request_id == "q-7"
    assert last.get("extra_field") == "kept"
    assert await restored.store.get("nested") == {"a": [1, 2.5, None, True, "x"], "b": {"c": "d"}}
    assert await restored.store.get("nested.b.c") == "d"
    human = await restored.store.get("human")
    assert type(human) is HumanResponseEvent and human.response == "yes"


async def test_registered_model_round_trips_with_extra_types() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("note", Note(text="remember", stars=5))
    serializer = JsonSerializer(extra_types=[Note])
    data = json_round_trip(ctx.to_dict(serializer=serializer))

    restored = Context.from_dict(EventUser(), data, serializer=JsonSerializer(extra_types=[Note]))
    note = await restored.store.get("note")
    assert type(note) is Note
    assert note == Note(text="remember", stars=5)


async def test_unregistered_model_in_state_is_refused_by_to_dict_naming_it() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("note", Note(text="remember", stars=5))
    with pytest.raises(ContextSerdeError) as info:
        ctx.to_dict()
    message = str(info.value)
    assert "note" in message.lower()


async def test_registered_model_is_refused_on_decode_without_the_registration() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("note", Note(text="remember", stars=5))
    data = json_round_trip(ctx.to_dict(serializer=JsonSerializer(extra_types=[Note])))
    with pytest.raises(ContextSerdeError) as info:
        Context.from_dict(EventUser(), data)
    assert "Note" in str(info.value)


async def test_value_json_cannot_carry_is_refused_by_to_dict_naming_it() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("opaque_thing", object())
    with pytest.raises(ContextSerdeError) as info:
        ctx.to_dict()
    assert "opaque_thing" in str(info.value)


async def test_pickle_serializer_is_opt_in_and_carries_plain_objects() -> None:
    ctx = Context(EventUser())
    await ctx.store.set("box", Box(content="pickled"))
    with pytest.raises(ContextSerdeError):
        ctx.to_dict()

    data = json_round_trip(ctx.to_dict(serializer=PickleSerializer()))
    restored = Context.from_dict(EventUser(), data, serializer=PickleSerializer())
    assert await restored.store.get("box") == Box(content="pickled")


# ------------------------------------------------- paused on an InputRequiredEvent


class Approval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("ask_runs", await ctx.store.get("ask_runs", default=0) + 1)
        return InputRequiredEvent(prefix="Approve? ")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"decision: {ev.response}")


async def test_paused_run_resumes_in_a_fresh_workflow_and_the_snapshot_stays_valid() -> None:
    data, _ = await snapshot_at_prompt(Approval(timeout=TIMEOUT).run())

    # The same snapshot resumes twice, independently, each with its own answer.
    for answer in ("yes", "no"):
        wf = Approval(timeout=TIMEOUT)
        resumed = wf.run(ctx=Context.from_dict(wf, data))
        await resumed.send_event(HumanResponseEvent(response=answer))
        events, result = await events_and_result(resumed)
        assert result == f"decision: {answer}"
        assert prompts_in(events) == [], "the resumed run asked again"
        assert not any(isinstance(ev, StartEvent) for ev in events)
        assert type(events[-1]) is StopEvent
        assert await resumed.ctx.store.get("ask_runs") == 1


# ------------------------------------------------------- paused in wait_for_event


async def test_pending_waiters_resume_in_a_fresh_workflow_without_new_prompts() -> None:
    first = ThreeAsks(timeout=TIMEOUT)
    data, prompts = await snapshot_at_prompt(first.run(), prompts=3)
    assert sorted(p.request_id for p in prompts) == ["a", "b", "c"]

    second = ThreeAsks(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    # Answer at once, before the re-run steps reach their waits, out of order:
    # the answers are routed as if the run had never stopped.
    for rid in ("b", "c", "a"):
        await resumed.send_event(answer_for(rid))
    events, result = await events_and_result(resumed)

    assert result == THREE_ANSWERS
    assert prompts_in(events) == [], "waiter events must not be written again after a restore"
    # Code before the wait: once before the snapshot, once more on the re-run.
    assert first.before_wait + second.before_wait == {"a": 2, "b": 2, "c": 2}


async def test_answers_sent_after_the_resumed_steps_wait_again_are_routed() -> None:
    first = ThreeAsks(timeout=TIMEOUT)
    data, _ = await snapshot_at_prompt(first.run(), prompts=3)

    second = ThreeAsks(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    events: list[Event] = []

    async def consume() -> Any:
        async for ev in resumed.stream_events():
            events.append(ev)
        return await resumed

    consumer = asyncio.ensure_future(consume())
    try:
        # Every re-run invocation has reached its wait again (a handshake set by the
        # steps themselves): only now are the answers sent.
        await asyncio.wait_for(second.all_waiting.wait(), timeout=TIMEOUT)
        for rid in ("c", "b", "a"):
            await resumed.send_event(answer_for(rid))
        result = await asyncio.wait_for(consumer, timeout=TIMEOUT)
    finally:
        if not consumer.done():
            consumer.cancel()
    assert result == THREE_ANSWERS
    assert prompts_in(events) == []
    assert first.before_wait + second.before_wait == {"a": 2, "b": 2, "c": 2}


async def test_an_answered_and_collected_waiter_is_not_run_again_after_restore() -> None:
    first = ThreeAsks(timeout=TIMEOUT)
    # Snapshot once ask(a) has returned and gather has buffered its answer.
    data = await snapshot_after_answer(first.run(), answer_for("a"), 3, "collected a")

    second = ThreeAsks(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    await resumed.send_event(answer_for("c"))
    await resumed.send_event(answer_for("b"))
    events, result = await events_and_result(resumed)

    assert result == THREE_ANSWERS
    assert prompts_in(events) == []
    assert first.before_wait + second.before_wait == {"a": 1, "b": 2, "c": 2}


class GatedAsk(Workflow):
    """Holds the step after its wait until the test opens the gate."""

    def __init__(self, gate: asyncio.Event | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.before_wait = 0

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.before_wait += 1
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="code? "),
            waiter_id="code",
        )
        ctx.write_event_to_stream(Progress(label="got answer"))
        if self.gate is not None:
            await self.gate.wait()
        return StopEvent(result=f"code {reply.response}")


async def test_an_answer_that_arrived_before_the_snapshot_is_returned_at_once() -> None:
    gate = asyncio.Event()  # never opened: the first run is stuck after its wait
    first = GatedAsk(gate=gate, timeout=TIMEOUT)
    answer = HumanResponseEvent(response="1234")
    data = await snapshot_after_answer(first.run(), answer, 1, "got answer")

    second = GatedAsk(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    events, result = await events_and_result(resumed)  # nothing is sent to the resumed run
    assert result == "code 1234"
    assert prompts_in(events) == []
    assert first.before_wait + second.before_wait == 2


class CustomStop(StopEvent):
    summary: str


class CustomStopFlow(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("topic", ev.topic)
        return InputRequiredEvent(prefix=f"{ev.topic}? ")

    @step
    async def done(self, ctx: Context, ev: HumanResponseEvent) -> CustomStop:
        topic = await ctx.store.get("topic")
        return CustomStop(summary=f"{topic}: {ev.response}")


async def test_resumed_run_returns_a_stop_event_subclass_itself() -> None:
    data, [prompt] = await snapshot_at_prompt(CustomStopFlow(timeout=TIMEOUT).run(topic="lunch"))
    assert prompt.prefix == "lunch? "

    wf = CustomStopFlow(timeout=TIMEOUT)
    resumed = wf.run(ctx=Context.from_dict(wf, data))
    await resumed.send_event(HumanResponseEvent(response="soup"))
    events, result = await events_and_result(resumed)
    assert isinstance(result, CustomStop)
    assert result.summary == "lunch: soup"
    assert events[-1] == result or isinstance(events[-1], CustomStop)


class FlakyThenAsk(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_numbers: list[int] = []

    @step(retry_policy=RETRY_FIVE_TIMES)
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        attempt = ctx.retry_info().retry_number
        self.retry_numbers.append(attempt)
        if attempt < 2:
            raise RuntimeError(f"flaky attempt {attempt}")
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="ok? "), waiter_id="ok"
        )
        return StopEvent(result=(reply.response, ctx.retry_info().retry_number))


async def test_retry_attempts_of_an_in_flight_step_survive_the_snapshot() -> None:
    first = FlakyThenAsk(timeout=TIMEOUT)
    data, _ = await snapshot_at_prompt(first.run())
    assert first.retry_numbers == [0, 1, 2]

    second = FlakyThenAsk(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    await resumed.send_event(HumanResponseEvent(response="fine"))
    events, result = await events_and_result(resumed)
    # The re-run continues the third attempt; it does not start counting again.
    assert second.retry_numbers == [2]
    assert result == ("fine", 2)
    assert prompts_in(events) == []


class Verdict(HumanResponseEvent):
    approved: bool


class TypedWait(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            Verdict, waiter_event=InputRequiredEvent(prefix="verdict? "), waiter_id="v"
        )
        return StopEvent(result=(type(reply).__name__, reply.approved, reply.response))


async def test_a_waiter_for_a_registered_custom_type_resumes_and_routes_by_type() -> None:
    serializer = JsonSerializer(extra_types=[Verdict])
    data, _ = await snapshot_at_prompt(TypedWait(timeout=TIMEOUT).run(), serializer=serializer)

    wf = TypedWait(timeout=TIMEOUT)
    restored = Context.from_dict(wf, data, serializer=JsonSerializer(extra_types=[Verdict]))
    resumed = wf.run(ctx=restored)
    # A base-class answer does not satisfy the restored waiter for the subclass.
    await resumed.send_event(HumanResponseEvent(response="base"))
    await resumed.send_event(Verdict(response="typed", approved=True))
    _, result = await events_and_result(resumed)
    assert result == ("Verdict", True, "typed")
