"""``ctx.wait_for_event``: prompts, routing of answers, timeouts (in one process).

Rules of this engine checked here (see docs/human-in-the-loop.md):

- no replay: the code before ``await ctx.wait_for_event(...)`` runs once when the
  answer arrives in the same process;
- the ``waiter_event`` is written to the stream once per waiter; a ``waiter_id`` is
  scoped to one step invocation, and a wait without an id is its own waiter;
- an event sent into a run goes first to the oldest pending waiter whose type and
  ``requirements`` match; a waiter takes it alone. Otherwise it goes to the steps
  that accept it, and with none it is dropped (``UnhandledEvent``);
- a timeout raises ``asyncio.TimeoutError`` inside the step, subject to the step's
  retry policy.

Every test synchronises on stream events; none sleeps.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from _flows import RETRY_FIVE_TIMES, THREE_ANSWERS, Question, ThreeAsks
from _runs import prompts_in
from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowFailedEvent,
)


class Routed(Event):
    source: str
    answer: str


class Poke(Event):
    response: str


class Approval(HumanResponseEvent):
    approved: bool


Responder = Callable[[InputRequiredEvent, list[InputRequiredEvent]], Iterable[Event]]


async def drive(
    handler: Any,
    respond: Responder,
    *,
    expose_internal: bool = False,
    via: str = "handler",
) -> tuple[list[Event], Any]:
    """Stream the run to its end; for every prompt send what ``respond`` returns."""
    seen: list[Event] = []
    prompts: list[InputRequiredEvent] = []

    async def consume() -> Any:
        async for ev in handler.stream_events(expose_internal=expose_internal):
            seen.append(ev)
            if isinstance(ev, InputRequiredEvent):
                prompts.append(ev)
                for answer in respond(ev, prompts):
                    if via == "handler":
                        await handler.send_event(answer)
                    else:
                        handler.ctx.send_event(answer)
        return await handler

    result = await asyncio.wait_for(consume(), timeout=TIMEOUT)
    return seen, result


# --------------------------------------------------------------------------- one wait


class SingleWait(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before_wait = 0
        self.after_wait = 0

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.before_wait += 1
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="Your name? ", request_id="q1"),
            waiter_id="q1",
            requirements={"request_id": "q1"},
        )
        self.after_wait += 1
        return StopEvent(result=f"hello {reply.response}")


@pytest.mark.parametrize("via", ["handler", "ctx"])
async def test_wait_returns_the_answer_and_does_not_replay(via: str) -> None:
    wf = SingleWait(timeout=TIMEOUT)

    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [HumanResponseEvent(response="Ada", request_id=prompt.request_id)]

    events, result = await drive(wf.run(), respond, via=via)

    assert result == "hello Ada"
    prompts = prompts_in(events)
    assert [p.prefix for p in prompts] == ["Your name? "]
    assert prompts[0].request_id == "q1"
    assert isinstance(events[-1], StopEvent)
    # No replay: the code before the wait ran once, the code after it once.
    assert (wf.before_wait, wf.after_wait) == (1, 1)


class WaitWithoutPrompt(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        try:
            await ctx.wait_for_event(HumanResponseEvent, timeout=0.05)
        except asyncio.TimeoutError as exc:
            return StopEvent(result=("timed out", type(exc)))
        return StopEvent(result="answered")


async def test_wait_without_waiter_event_writes_nothing_and_times_out_in_the_step() -> None:
    events, result = await drive(WaitWithoutPrompt(timeout=TIMEOUT).run(), lambda p, ps: [])
    label, exc_type = result
    assert label == "timed out"
    assert issubclass(exc_type, asyncio.TimeoutError)
    assert prompts_in(events) == []
    assert len(events) == 1 and isinstance(events[0], StopEvent)


class UncaughtTimeout(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="anyone? "),
            timeout=0.05,
        )
        return StopEvent(result=reply.response)


async def test_uncaught_wait_timeout_fails_the_run_with_timeout_error() -> None:
    handler = UncaughtTimeout(timeout=TIMEOUT).run()
    seen = []

    async def consume() -> None:
        async for ev in handler.stream_events():
            seen.append(ev)

    await asyncio.wait_for(consume(), timeout=TIMEOUT)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(handler, timeout=TIMEOUT)
    assert [p.prefix for p in prompts_in(seen)] == ["anyone? "]
    assert isinstance(seen[-1], WorkflowFailedEvent)


class RetriedTimeout(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attempts = 0

    @step(retry_policy=RETRY_FIVE_TIMES)
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.attempts += 1
        if self.attempts < 3:
            # Nobody answers: the timeout raises inside the step, the policy retries it.
            await ctx.wait_for_event(HumanResponseEvent, timeout=0.05)
            return StopEvent(result="unexpected answer")
        return StopEvent(result=f"done after {self.attempts} attempts")


async def test_wait_timeout_is_retried_by_the_step_retry_policy() -> None:
    wf = RetriedTimeout(timeout=TIMEOUT)
    result = await asyncio.wait_for(wf.run(), timeout=TIMEOUT)
    assert result == "done after 3 attempts"
    assert wf.attempts == 3


class TypedApproval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            Approval, waiter_event=InputRequiredEvent(prefix="approve? "), timeout=TIMEOUT
        )
        return StopEvent(result=(type(reply).__name__, reply.approved, reply.response))


async def test_wait_for_a_subclass_ignores_base_events_and_returns_the_typed_event() -> None:
    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        # The base-class event does not satisfy a waiter for the subclass: it is dropped.
        return [
            HumanResponseEvent(response="base"),
            Approval(response="typed", approved=True),
        ]

    events, result = await drive(TypedApproval(timeout=TIMEOUT).run(), respond)
    assert result == ("Approval", True, "typed")
    assert len(prompts_in(events)) == 1


class BaseTypeWait(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="? "), timeout=TIMEOUT
        )
        return StopEvent(result=(type(reply).__name__, reply.approved))


async def test_a_subclass_answer_satisfies_a_waiter_for_the_base_type() -> None:
    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [Approval(response="yes", approved=False)]

    _, result = await drive(BaseTypeWait(timeout=TIMEOUT).run(), respond)
    assert result == ("Approval", False)


# ------------------------------------------------------------------ several waiters


class SameWaiterId(ThreeAsks):
    """Every invocation waits under the same ``waiter_id``."""

    def wait_options(self, request_id: str) -> dict[str, Any]:
        return {**super().wait_options(request_id), "waiter_id": "same-id-in-every-invocation"}


async def test_parallel_waiters_are_routed_by_requirements_answered_out_of_order() -> None:
    wf = SameWaiterId(timeout=TIMEOUT)

    def respond(prompt: InputRequiredEvent, prompts: list[InputRequiredEvent]) -> list[Event]:
        if len(prompts) < 3:
            return []
        return [
            HumanResponseEvent(response=f"answer-{rid}", request_id=rid) for rid in ("c", "a", "b")
        ]

    events, result = await drive(wf.run(), respond)
    assert result == THREE_ANSWERS
    # The waiter_id is scoped to one invocation: the same id in three invocations
    # still gives three prompts, one each.
    per_request = Counter(p.request_id for p in prompts_in(events))
    assert per_request == {"a": 1, "b": 1, "c": 1}
    assert wf.before_wait == {"a": 1, "b": 1, "c": 1}


class ThreeAsksNoIds(ThreeAsks):
    """The three waits have neither a ``waiter_id`` nor requirements."""

    ids = ("x", "y", "z")

    def wait_options(self, request_id: str) -> dict[str, Any]:
        return {}


async def test_parallel_waits_without_ids_each_prompt_and_take_one_answer_oldest_first() -> None:
    def respond(prompt: InputRequiredEvent, prompts: list[InputRequiredEvent]) -> list[Event]:
        if len(prompts) < 3:
            return []
        return [HumanResponseEvent(response=f"r{i}") for i in range(3)]

    events, result = await drive(ThreeAsksNoIds(timeout=TIMEOUT).run(), respond)
    prompts = prompts_in(events)
    # N parallel waits without ids do not collapse into one prompt.
    assert sorted(p.prefix for p in prompts) == ["x? ", "y? ", "z? "]
    # Each waiter got exactly one answer, and the oldest waiter the first one.
    expected = {p.prefix[0]: f"r{i}" for i, p in enumerate(prompts)}
    assert result == expected


class TwoWaitsInOneStep(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs = 0

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.runs += 1
        first = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="first? ")
        )
        second = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="second? ")
        )
        return StopEvent(result=[first.response, second.response])


async def test_two_waits_in_one_invocation_are_two_waiters() -> None:
    wf = TwoWaitsInOneStep(timeout=TIMEOUT)

    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [HumanResponseEvent(response=prompt.prefix.split("?")[0])]

    events, result = await drive(wf.run(), respond)
    assert result == ["first", "second"]
    assert [p.prefix for p in prompts_in(events)] == ["first? ", "second? "]
    assert wf.runs == 1


class AllRequirements(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="? "),
            requirements={"request_id": "r1", "kind": "final"},
        )
        return StopEvent(result=reply.response)


async def test_every_requirement_must_match() -> None:
    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [
            HumanResponseEvent(response="wrong kind", request_id="r1", kind="draft"),
            HumanResponseEvent(response="wrong id", request_id="r2", kind="final"),
            HumanResponseEvent(response="no fields"),
            HumanResponseEvent(response="right", request_id="r1", kind="final"),
        ]

    _, result = await drive(AllRequirements(timeout=TIMEOUT).run(), respond)
    assert result == "right"


# --------------------------------------------------------------- routing to steps


class GatherTwoRouted(Workflow):
    """Ends with the ``(source, answer)`` of two Routed events, sorted."""

    @step
    async def gather(self, ctx: Context, ev: Routed) -> StopEvent | None:
        done = ctx.collect_events(ev, [Routed, Routed])
        if done is None:
            return None
        return StopEvent(result=sorted((e.source, e.answer) for e in done))


class WaiterAndStep(GatherTwoRouted):
    """A waiter and a step both accept HumanResponseEvent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_got: list[str] = []

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Question | None:
        ctx.send_event(Question(request_id="w"))
        return None

    @step
    async def waiter(self, ctx: Context, ev: Question) -> Routed:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="w? ", request_id="w"),
            waiter_id="w",
            requirements={"request_id": "w"},
        )
        return Routed(source="waiter", answer=reply.response)

    @step
    async def on_human(self, ctx: Context, ev: HumanResponseEvent) -> Routed:
        self.step_got.append(ev.response)
        return Routed(source="step", answer=ev.response)


async def test_an_answer_taken_by_a_waiter_is_not_delivered_to_steps() -> None:
    wf = WaiterAndStep(timeout=TIMEOUT)

    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [
            HumanResponseEvent(response="for-step", request_id="other"),
            HumanResponseEvent(response="for-waiter", request_id="w"),
        ]

    _, result = await drive(wf.run(), respond)
    assert result == [("step", "for-step"), ("waiter", "for-waiter")]
    assert wf.step_got == ["for-step"]


class SelfAnswering(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Question | Poke | None:
        ctx.send_event(Question(request_id="inner"))
        return None

    @step
    async def waiter(self, ctx: Context, ev: Question) -> StopEvent:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="inner? "),
            requirements={"request_id": "inner"},
        )
        return StopEvent(result=reply.response)

    @step
    async def responder(self, ctx: Context, ev: Poke) -> None:
        ctx.send_event(HumanResponseEvent(response=ev.response, request_id="inner"))


async def test_ctx_send_event_from_a_step_answers_a_waiter() -> None:
    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [Poke(response="from a step")]

    events, result = await drive(SelfAnswering(timeout=TIMEOUT).run(), respond)
    assert result == "from a step"
    assert len(prompts_in(events)) == 1


async def test_an_answer_nobody_takes_is_dropped_as_unhandled_and_the_run_goes_on() -> None:
    wf = SingleWait(timeout=TIMEOUT)

    def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
        return [
            HumanResponseEvent(response="lost", request_id="nobody"),
            HumanResponseEvent(response="Grace", request_id="q1"),
        ]

    events, result = await drive(wf.run(), respond, expose_internal=True)
    assert result == "hello Grace"
    unhandled = [ev for ev in events if type(ev).__name__ == "UnhandledEvent"]
    assert len(unhandled) >= 1
    assert len(prompts_in(events)) == 1
    assert (wf.before_wait, wf.after_wait) == (1, 1)


async def test_answers_stay_within_their_own_run() -> None:
    first, second = SingleWait(timeout=TIMEOUT), SingleWait(timeout=TIMEOUT)

    def respond_with(name: str) -> Responder:
        def respond(prompt: InputRequiredEvent, _: list[InputRequiredEvent]) -> list[Event]:
            return [HumanResponseEvent(response=name, request_id="q1")]

        return respond

    (_, result_a), (_, result_b) = await asyncio.gather(
        drive(first.run(), respond_with("Ann")),
        drive(second.run(), respond_with("Ben")),
    )
    assert (result_a, result_b) == ("hello Ann", "hello Ben")
    assert (first.before_wait, second.before_wait) == (1, 1)


class Vote(Event):
    wants: bool


class TwoVerdicts(GatherTwoRouted):
    @step
    async def fan_out(self, ctx: Context, ev: StartEvent) -> Vote | None:
        ctx.send_event(Vote(wants=True))
        ctx.send_event(Vote(wants=False))
        return None

    @step(num_workers=2)
    async def ask(self, ctx: Context, ev: Vote) -> Routed:
        reply = await ctx.wait_for_event(
            Approval,
            waiter_event=InputRequiredEvent(prefix=f"approved={ev.wants}? "),
            requirements={"approved": ev.wants},
        )
        return Routed(source=f"wants {ev.wants}", answer=reply.response)


async def test_requirements_match_declared_fields_of_a_typed_answer() -> None:
    def respond(prompt: InputRequiredEvent, prompts: list[InputRequiredEvent]) -> list[Event]:
        if len(prompts) < 2:
            return []
        return [
            Approval(response="no from ann", approved=False),
            Approval(response="yes from ben", approved=True),
        ]

    events, result = await drive(TwoVerdicts(timeout=TIMEOUT).run(), respond)
    assert result == [("wants False", "no from ann"), ("wants True", "yes from ben")]
    assert len(prompts_in(events)) == 2


class RetriedPrompt(Workflow):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.attempts = 0
        self.second_attempt = asyncio.Event()

    @step(retry_policy=RETRY_FIVE_TIMES)
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        self.attempts += 1
        if self.attempts == 2:
            self.second_attempt.set()  # the wait below registers before anyone runs
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix="still there? "),
            waiter_id="presence",
            timeout=0.05 if self.attempts == 1 else TIMEOUT,
        )
        return StopEvent(result=(self.attempts, reply.response))


async def test_a_retried_wait_does_not_write_the_same_waiter_id_prompt_again() -> None:
    wf = RetriedPrompt(timeout=TIMEOUT)
    handler = wf.run()
    prompts: list[Event] = []
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            prompts.append(ev)
            # Answer only once the second attempt waits: the first one times out.
            await wf.second_attempt.wait()
            await handler.send_event(HumanResponseEvent(response="here"))
    assert await handler == (2, "here")
    assert len(prompts) == 1


class CountThenWait(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        await ctx.store.set("before", await ctx.store.get("before", default=0) + 1)
        async with ctx.store.edit_state() as state:
            state["edits"] = state.get("edits", 0) + 1
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="go? ")
        )
        await ctx.store.set("after", reply.response)
        return StopEvent(result="done")


async def test_state_writes_before_a_wait_are_not_applied_twice_after_a_restore() -> None:
    first = CountThenWait(timeout=TIMEOUT)
    handler = first.run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            data = handler.ctx.to_dict()
            await handler.cancel_run()
            break
    second = CountThenWait(timeout=TIMEOUT)
    resumed = second.run(ctx=Context.from_dict(second, data))
    await resumed.send_event(HumanResponseEvent(response="yes"))
    assert await resumed == "done"
    # The step ran its start twice (once per process) but its writes count once.
    state = await resumed.ctx.store.get_state()
    assert (state["before"], state["edits"], state["after"]) == (1, 1, "yes")
