"""Events and workflows that several test modules run in one process.

- :class:`Fan` is the plain fan-out (``fan`` -> one ``work`` per item -> ``gather``);
  the collection-stream, join and snapshot-layout tests replace one of its steps.
- :class:`Review` and :class:`WaitingJoin` pause, waiting for an :class:`Answer`: one in
  a branch of an open stream, one in a join call holding its batch.
- :class:`ThreeAsks` runs three waits at once (the wait and snapshot tests).
- :class:`HumanLoop` asks once and ends with the answer; :class:`WhoAsks` also keeps
  who was asked in its state (the durable engine's batching tests).

:func:`answerable` builds one with the serializer its snapshots need.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import Counter
from typing import Any, TypeVar

from _wait import TIMEOUT
from workflows import Context, Workflow, step
from workflows.context.serializers import JsonSerializer
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.retry_policy import ConstantDelayRetryPolicy

_W = TypeVar("_W", bound=Workflow)


class HumanLoop(Workflow):
    """The smallest loop through a person: ``ask`` returns a prompt, ``got`` ends the
    run with the response."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="?")

    @step
    async def got(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


class WhoAsks(Workflow):
    """Asks ``ok?`` for the start event's ``who``; ends with ``{"who": who, "said":
    response}``; the response ``boom`` fails the step (``refused by <who>``)."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("who", ev.who)
        return InputRequiredEvent(prefix="ok?")

    @step
    async def done(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        if ev.response == "boom":
            raise ValueError(f"refused by {await ctx.store.get('who')}")
        return StopEvent(result={"who": await ctx.store.get("who"), "said": ev.response})


class Item(Event):
    n: int


class Result(Event):
    n: int


class A(Event):
    n: int = 0


class B(Event):
    n: int = 0


class Pair(Event):
    a: int
    b: int


class Ask(InputRequiredEvent):
    """A question about item ``n``."""

    n: int


class Answer(HumanResponseEvent):
    """The answer about item ``n``."""

    n: int
    text: str = ""


def answerable(flow: type[_W]) -> _W:
    """``flow`` with a run timeout and a serializer that carries :class:`Answer`."""
    return flow(timeout=TIMEOUT, serializer=JsonSerializer(extra_types=[Answer]))


class Fan(Workflow):
    """``fan`` makes ``count`` Items (3 unless the start event says), ``work`` makes a
    Result of each, ``gather`` returns the sorted results of the stream."""

    @step
    async def fan(self, ev: StartEvent) -> list[Item]:
        return [Item(n=i) for i in range(ev.get("count", 3))]

    @step
    async def work(self, ev: Item) -> Result:
        return Result(n=ev.n)

    @step
    async def gather(self, results: list[Result]) -> StopEvent:
        return StopEvent(result=sorted(r.n for r in results))


class Review(Fan):
    """Item 1 waits for a person in the middle of its branch (``Answer(n=1)``), holding
    the stream open; its Result is 100 plus the length of the answer's text."""

    @step
    async def work(self, ctx: Context, ev: Item) -> Result:
        if ev.n == 1:
            answer = await ctx.wait_for_event(
                Answer,
                waiter_event=Ask(n=ev.n),
                waiter_id=f"item-{ev.n}",
                requirements={"n": ev.n},
            )
            return Result(n=100 + len(answer.text))
        return Result(n=ev.n)


class WaitingJoin(Workflow):
    """The join call waits for a person, holding its batch (A 1, B 2); A 3 waits in the
    join's buffer. The result: ``(a, b, answer, how many times the join ran)``."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> A | B | None:
        ctx.send_event(A(n=1))
        ctx.send_event(B(n=2))
        ctx.send_event(A(n=3))
        return None

    @step
    async def join(self, ctx: Context, a: A, b: B) -> StopEvent:
        runs = await ctx.store.get("runs", default=0)
        await ctx.store.set("runs", runs + 1)
        answer = await ctx.wait_for_event(Answer, waiter_event=Ask(n=a.n), timeout=None)
        return StopEvent(result=(a.n, b.n, answer.n, runs + 1))


with warnings.catch_warnings():
    # The reference library deprecates the compatibility name; both must accept it.
    warnings.simplefilter("ignore", DeprecationWarning)
    RETRY_FIVE_TIMES = ConstantDelayRetryPolicy(maximum_attempts=5, delay=0.01)


class Question(Event):
    request_id: str


class Answered(Event):
    request_id: str
    answer: str


class Progress(Event):
    label: str


class ThreeAsks(Workflow):
    """Three concurrent invocations of ``ask`` (one per id of ``ids``), each waiting for
    the answer whose ``request_id`` is its own (see :meth:`wait_options`); ``gather``
    writes ``Progress("collected <id>")`` for the first answers and returns
    ``{request_id: response}``.

    ``before_wait`` counts, per id, the runs of the code before the wait;
    ``all_waiting`` is set once every id got that far.
    """

    ids = ("a", "b", "c")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.before_wait: Counter[str] = Counter()
        self.all_waiting = asyncio.Event()

    def wait_options(self, request_id: str) -> dict[str, Any]:
        """The ``wait_for_event`` options of the wait for ``request_id``: a waiter id of
        its own and its id as the requirement."""
        return {"waiter_id": f"ask-{request_id}", "requirements": {"request_id": request_id}}

    @step
    async def fan_out(self, ctx: Context, ev: StartEvent) -> Question | None:
        for rid in self.ids:
            ctx.send_event(Question(request_id=rid))
        return None

    @step(num_workers=3)
    async def ask(self, ctx: Context, ev: Question) -> Answered:
        self.before_wait[ev.request_id] += 1
        if len(self.before_wait) == len(self.ids):
            self.all_waiting.set()
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"{ev.request_id}? ", request_id=ev.request_id),
            **self.wait_options(ev.request_id),
        )
        return Answered(request_id=ev.request_id, answer=reply.response)

    @step
    async def gather(self, ctx: Context, ev: Answered) -> StopEvent | None:
        done = ctx.collect_events(ev, [Answered] * len(self.ids))
        if done is None:
            ctx.write_event_to_stream(Progress(label=f"collected {ev.request_id}"))
            return None
        return StopEvent(result={e.request_id: e.answer for e in done})


def answer_for(request_id: str) -> HumanResponseEvent:
    """The answer :class:`ThreeAsks` expects for ``request_id``."""
    return HumanResponseEvent(response=f"answer-{request_id}", request_id=request_id)


THREE_ANSWERS = {rid: f"answer-{rid}" for rid in ThreeAsks.ids}
"""The result of :class:`ThreeAsks` answered with :func:`answer_for` each id."""
