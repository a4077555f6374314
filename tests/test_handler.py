"""The run handler: result, stream, sending, cancel, timeout, failures (SPEC §3, Handler)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from workflows import Context, Workflow, step
from workflows.errors import (
    WorkflowCancelledByUser,
    WorkflowRuntimeError,
    WorkflowTimeoutError,
    WorkflowValidationError,
)
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
    WorkflowCancelledEvent,
    WorkflowFailedEvent,
    WorkflowTimedOutEvent,
)
from workflows.handler import WorkflowHandler


class Progress(Event):
    n: int


class Started(Event):
    pass


class Hop(Event):
    n: int


class Topic(Event):
    qid: int


class Verdict(StopEvent):
    verdict: str


class Question(InputRequiredEvent):
    qid: int


class Reply(HumanResponseEvent):
    qid: int


# --- result ---------------------------------------------------------------------------


class Plain(Workflow):
    @step
    async def go(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result={"echo": ev.get("x")})


class Subclassed(Workflow):
    @step
    async def go(self, ev: StartEvent) -> Verdict:
        return Verdict(verdict="fine", result=7)


async def test_await_handler_returns_result_of_a_plain_stop_event() -> None:
    handler = Plain().run(x=3)
    assert isinstance(handler, WorkflowHandler)
    assert await handler == {"echo": 3}


async def test_await_handler_returns_a_stop_event_subclass_itself() -> None:
    result = await Subclassed().run()
    assert isinstance(result, Verdict)
    assert result.verdict == "fine"
    assert result.result == 7


# --- stream ---------------------------------------------------------------------------


class Chatty(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Hop:
        for n in range(3):
            ctx.write_event_to_stream(Progress(n=n))
        return Hop(n=3)

    @step
    async def second(self, ctx: Context, ev: Hop) -> StopEvent:
        ctx.write_event_to_stream(Progress(n=ev.n))
        return StopEvent(result="done")


async def test_stream_yields_written_events_in_order_and_ends_with_stop_event() -> None:
    handler = Chatty().run()
    streamed = [ev async for ev in handler.stream_events()]
    assert await handler == "done"
    assert [type(ev) for ev in streamed] == [Progress] * 4 + [StopEvent]
    assert [ev.n for ev in streamed[:4]] == [0, 1, 2, 3]
    assert streamed[-1].result == "done"


async def test_stream_started_after_the_run_finished_replays_every_event() -> None:
    handler = Chatty().run()
    assert await handler == "done"
    streamed = [ev async for ev in handler.stream_events()]
    assert [type(ev) for ev in streamed] == [Progress] * 4 + [StopEvent]


async def test_stream_ends_with_the_stop_event_subclass() -> None:
    handler = Subclassed().run()
    streamed = [ev async for ev in handler.stream_events()]
    assert len(streamed) == 1
    assert isinstance(streamed[0], Verdict)
    assert (await handler).verdict == "fine"


async def test_second_full_consumption_of_the_stream_raises() -> None:
    handler = Chatty().run()
    first = [ev async for ev in handler.stream_events()]
    assert isinstance(first[-1], StopEvent)
    with pytest.raises(WorkflowRuntimeError):
        async for _ in handler.stream_events():
            pass
    assert await handler == "done"


# --- run_id, is_done, get_stop_event --------------------------------------------------


class Gated(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.gate = asyncio.Event()

    @step
    async def wait_gate(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Started())
        await self.gate.wait()
        return StopEvent(result="opened")


async def test_run_id_is_done_and_get_stop_event() -> None:
    wf = Gated()
    handler = wf.run()
    other = Plain().run()
    assert isinstance(handler.run_id, str) and handler.run_id
    assert handler.run_id != other.run_id
    assert isinstance(handler.ctx, Context)

    async for ev in handler.stream_events():
        if isinstance(ev, Started):
            assert not handler.is_done()
            assert handler.get_stop_event() is None
            wf.gate.set()
    assert await handler == "opened"
    assert handler.is_done()
    stop = handler.get_stop_event()
    assert isinstance(stop, StopEvent)
    assert stop.result == "opened"
    await other


# --- cancel ---------------------------------------------------------------------------


class Stuck(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.never = asyncio.Event()
        self.step_was_cancelled = False

    @step
    async def hang(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Started())
        try:
            await self.never.wait()
        except asyncio.CancelledError:
            self.step_was_cancelled = True
            raise
        return StopEvent(result="never")


async def test_cancel_run_ends_stream_with_cancelled_event_and_raises() -> None:
    wf = Stuck()
    handler = wf.run()
    streamed: list[Event] = []
    async for ev in handler.stream_events():
        streamed.append(ev)
        if isinstance(ev, Started):
            await handler.cancel_run()
    assert isinstance(streamed[-1], WorkflowCancelledEvent)
    with pytest.raises(WorkflowCancelledByUser):
        await handler
    assert handler.is_done()
    assert wf.step_was_cancelled


async def test_cancel_run_while_waiting_for_a_human() -> None:
    handler = AskOnce().run()
    streamed: list[Event] = []
    async for ev in handler.stream_events():
        streamed.append(ev)
        if isinstance(ev, InputRequiredEvent):
            await handler.cancel_run()
    assert [type(ev) for ev in streamed] == [InputRequiredEvent, WorkflowCancelledEvent]
    with pytest.raises(WorkflowCancelledByUser):
        await handler


# --- timeout --------------------------------------------------------------------------


async def test_timeout_ends_stream_with_timed_out_event_then_raises() -> None:
    handler = Stuck(timeout=0.2).run()
    streamed = [ev async for ev in handler.stream_events()]
    last = streamed[-1]
    assert isinstance(last, WorkflowTimedOutEvent)
    assert last.timeout == pytest.approx(0.2)
    assert "hang" in last.active_steps
    with pytest.raises(WorkflowTimeoutError):
        await handler


async def test_timeout_without_streaming_raises() -> None:
    with pytest.raises(WorkflowTimeoutError):
        await Stuck(timeout=0.2).run()


class AskOnce(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="Enter a number: ")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def test_waiting_for_a_human_does_not_count_toward_timeout() -> None:
    handler = AskOnce(timeout=0.2).run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            # The human takes longer than the whole run timeout to answer: this is
            # the thing under test, not synchronisation.
            await asyncio.sleep(0.6)
            await handler.send_event(HumanResponseEvent(response="late but fine"))
    assert await handler == "late but fine"


class PromptWhileStuck(Workflow):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.never = asyncio.Event()

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Hop | InputRequiredEvent:
        ctx.send_event(Hop(n=1))
        return InputRequiredEvent(prefix="?")

    @step
    async def stuck(self, ev: Hop) -> StopEvent:
        await self.never.wait()
        return StopEvent(result="never")

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def test_open_prompt_does_not_stop_the_clock_while_a_step_is_stuck() -> None:
    handler = PromptWhileStuck(timeout=0.2).run()
    streamed = [ev async for ev in handler.stream_events()]
    assert any(isinstance(ev, InputRequiredEvent) for ev in streamed)
    last = streamed[-1]
    assert isinstance(last, WorkflowTimedOutEvent)
    assert "stuck" in last.active_steps
    with pytest.raises(WorkflowTimeoutError):
        await handler


# --- failing step ---------------------------------------------------------------------


class Explodes(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Hop:
        return Hop(n=1)

    @step
    async def explode(self, ev: Hop) -> StopEvent:
        raise ValueError("boom in explode")


async def test_failing_step_ends_stream_with_failed_event_then_raises_its_exception() -> None:
    handler = Explodes().run()
    streamed = [ev async for ev in handler.stream_events()]
    last = streamed[-1]
    assert isinstance(last, WorkflowFailedEvent)
    assert last.step_name == "explode"
    assert isinstance(last.exception, ValueError)
    assert "boom in explode" in str(last.exception)
    assert last.attempts == 1
    assert last.elapsed_seconds is not None and last.elapsed_seconds >= 0
    with pytest.raises(ValueError, match="boom in explode"):
        await handler


async def test_failing_step_raises_its_own_exception_when_awaited() -> None:
    with pytest.raises(ValueError, match="boom in explode"):
        await Explodes().run()


class SyncExplodes(Workflow):
    @step
    def explode_sync(self, ev: StartEvent) -> StopEvent:
        raise KeyError("sync failure")


async def test_failing_sync_step_raises_its_own_exception() -> None:
    handler = SyncExplodes().run()
    streamed = [ev async for ev in handler.stream_events()]
    assert isinstance(streamed[-1], WorkflowFailedEvent)
    assert streamed[-1].step_name == "explode_sync"
    with pytest.raises(KeyError, match="sync failure"):
        await handler


# --- several runs at once -------------------------------------------------------------


class TwoHops(Workflow):
    @step
    async def first(self, ctx: Context, ev: StartEvent) -> Hop:
        await ctx.store.set("n", ev.n)
        return Hop(n=ev.n * 10)

    @step
    async def second(self, ctx: Context, ev: Hop) -> StopEvent:
        return StopEvent(result=(await ctx.store.get("n"), ev.n))


async def test_several_runs_of_one_workflow_at_once_keep_their_own_state() -> None:
    wf = TwoHops()
    handlers = [wf.run(n=n) for n in range(20)]
    results = await asyncio.gather(*handlers)
    assert results == [(n, n * 10) for n in range(20)]
    assert len({h.run_id for h in handlers}) == 20


async def test_several_paused_runs_answered_in_reverse_order() -> None:
    wf = AskOnce()
    handlers = [wf.run() for _ in range(5)]
    prompted: list[WorkflowHandler] = []

    async def wait_prompt(h: WorkflowHandler) -> None:
        async for ev in h.stream_events():
            if isinstance(ev, InputRequiredEvent):
                prompted.append(h)
                return

    await asyncio.gather(*(wait_prompt(h) for h in handlers))
    assert len(prompted) == 5
    for i, h in reversed(list(enumerate(handlers))):
        await h.send_event(HumanResponseEvent(response=f"answer {i}"))
    assert await asyncio.gather(*handlers) == [f"answer {i}" for i in range(5)]


# --- human in the loop by events ------------------------------------------------------


async def test_human_in_the_loop_via_handler_send_event() -> None:
    handler = AskOnce().run()
    streamed: list[Event] = []
    async for ev in handler.stream_events():
        streamed.append(ev)
        if isinstance(ev, InputRequiredEvent):
            assert ev.prefix == "Enter a number: "
            outcome = handler.send_event(HumanResponseEvent(response="42"))
            assert inspect.isawaitable(outcome)
            await outcome
    assert await handler == "42"
    assert [type(ev) for ev in streamed] == [InputRequiredEvent, StopEvent]


async def test_human_in_the_loop_via_handler_ctx_send_event() -> None:
    handler = AskOnce().run()
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            handler.ctx.send_event(HumanResponseEvent(response="via ctx"))
    assert await handler == "via ctx"


class PromptOnStream(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> None:
        ctx.write_event_to_stream(InputRequiredEvent(prefix="written: "))
        return None

    @step
    async def answer(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


async def test_input_required_written_to_the_stream_can_be_answered() -> None:
    handler = PromptOnStream().run()
    prefixes = []
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            prefixes.append(ev.prefix)
            await handler.send_event(HumanResponseEvent(response="answered"))
    assert prefixes == ["written: "]
    assert await handler == "answered"


class ManyQuestions(Workflow):
    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Topic | None:
        for qid in range(3):
            ctx.send_event(Topic(qid=qid))
        return None

    @step(num_workers=3)
    async def ask(self, ev: Topic) -> Question:
        return Question(qid=ev.qid, prefix=f"question {ev.qid}? ")

    @step
    async def collect(self, ctx: Context, ev: Reply) -> StopEvent | None:
        replies = ctx.collect_events(ev, [Reply] * 3)
        if replies is None:
            return None
        return StopEvent(result={r.qid: r.response for r in replies})


async def test_several_prompts_open_at_once_answered_out_of_order() -> None:
    handler = ManyQuestions().run()
    open_questions: list[Question] = []
    async for ev in handler.stream_events():
        if isinstance(ev, Question):
            open_questions.append(ev)
            if len(open_questions) == 3:
                for q in sorted(open_questions, key=lambda q: -q.qid):
                    await handler.send_event(Reply(qid=q.qid, response=f"a{q.qid}"))
    assert sorted(q.qid for q in open_questions) == [0, 1, 2]
    assert await handler == {0: "a0", 1: "a1", 2: "a2"}


class TwoRounds(Workflow):
    @step
    async def ask_name(self, ev: StartEvent) -> Question:
        return Question(qid=1, prefix="name? ")

    @step
    async def on_reply(self, ctx: Context, ev: Reply) -> Question | StopEvent:
        if ev.qid == 1:
            await ctx.store.set("name", ev.response)
            return Question(qid=2, prefix="age? ")
        return StopEvent(result=(await ctx.store.get("name"), ev.response))


async def test_multi_turn_conversation_with_typed_prompts() -> None:
    handler = TwoRounds().run()
    answers = {1: "ada", 2: "36"}
    prompts: list[str] = []
    async for ev in handler.stream_events():
        if isinstance(ev, Question):
            prompts.append(ev.prefix)
            await handler.send_event(Reply(qid=ev.qid, response=answers[ev.qid]))
    assert prompts == ["name? ", "age? "]
    assert await handler == ("ada", "36")


class _Gate(Workflow):
    """Each run records itself as active, then waits on a shared gate."""

    active = 0
    peak = 0

    @step
    async def hold(self, ctx: Context, ev: StartEvent) -> StopEvent:
        cls = type(self)
        cls.active += 1
        cls.peak = max(cls.peak, cls.active)
        await ev.gate.wait()
        cls.active -= 1
        return StopEvent(result=ev.n)


async def test_num_concurrent_runs_queues_runs_beyond_the_limit() -> None:
    _Gate.active = _Gate.peak = 0
    gate = asyncio.Event()
    wf = _Gate(timeout=None, num_concurrent_runs=2)
    handlers = [wf.run(n=i, gate=gate) for i in range(5)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert _Gate.active == 2  # the other three wait for a slot
    gate.set()
    assert await asyncio.gather(*handlers) == [0, 1, 2, 3, 4]
    assert _Gate.peak == 2


async def test_a_queued_run_cancelled_before_its_slot_never_starts() -> None:
    _Gate.active = _Gate.peak = 0
    gate = asyncio.Event()
    wf = _Gate(timeout=None, num_concurrent_runs=1)
    first = wf.run(n=1, gate=gate)
    queued = wf.run(n=2, gate=gate)
    queued.cancel()
    gate.set()
    assert await first == 1
    assert queued.done()  # ended while it waited for a slot
    with pytest.raises(WorkflowCancelledByUser):
        await queued
    third = wf.run(n=3, gate=gate)
    assert await third == 3
    assert _Gate.peak == 1


def test_num_concurrent_runs_must_be_a_positive_integer() -> None:
    with pytest.raises(WorkflowValidationError, match="num_concurrent_runs"):
        _Gate(num_concurrent_runs=0)
