"""Workflows paused under LlamaIndex Workflows 2.26.1 and resumed here.

Shared by ``data/reference_snapshots/generate.py`` and ``test_reference_snapshots.py``:
the generator executes this file inside its own ``__main__`` under the reference
library, so the snapshots name these classes ``__main__.X`` (as a user's script would);
the tests import it as a module, and snapshot decoding matches ``__main__.X`` to the
workflow's class ``X``. Only API that both libraries share is used here.

Each :class:`Scenario` says how to start its workflow, which answers to send once it is
resumed, and how to read its state as plain data (:attr:`Scenario.observe`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, Field

from workflows import Context, Workflow, step
from workflows.collect import Collect, Take
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StopEvent,
)


# -- 1. a step paused in wait_for_event -------------------------------------------------
class Interview(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        visits = await ctx.store.get("visits", default=0)
        await ctx.store.set("visits", visits + 1)  # runs again when the step is re-run
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Your name? ")
        )
        await ctx.store.set("name", answer.response)
        return StopEvent(result=f"Hello, {answer.response}!")


async def observe_interview(ctx: Context) -> Any:
    return {
        "visits": await ctx.store.get("visits", default=None),
        "name": await ctx.store.get("name", default=None),
    }


# -- 2. a run paused after a step returned InputRequiredEvent ---------------------------
class Approval(Workflow):
    @step
    async def request(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("amount", ev.amount)
        return InputRequiredEvent(prefix=f"Approve {ev.amount}? ", amount=ev.amount)

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        amount = await ctx.store.get("amount")
        await ctx.store.set("decision", ev.response)
        return StopEvent(result={"amount": amount, "approved": ev.response == "yes"})


async def observe_approval(ctx: Context) -> Any:
    return {
        "amount": await ctx.store.get("amount", default=None),
        "decision": await ctx.store.get("decision", default=None),
    }


# -- 3a. the default DictState: nested data and a pydantic model value ------------------
class Item(BaseModel):
    name: str
    qty: int
    tags: list[str] = Field(default_factory=list)


class Stocked(Event):
    count: int


class Inventory(Workflow):
    @step
    async def stock(self, ctx: Context, ev: StartEvent) -> Stocked:
        await ctx.store.set("item", Item(name="bolt", qty=3, tags=["m4", "steel"]))
        await ctx.store.set("shelf", [Item(name="nut", qty=10), {"loose": True}])
        await ctx.store.set("nested", {"a": {"b": [1, 2.5, {"c": None}]}, "$ref": "kept"})
        await ctx.store.set("label", "caf\u00e9 \u2615")
        return Stocked(count=3)

    @step
    async def restock(self, ctx: Context, ev: Stocked) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="How many more? ")
        )
        item = await ctx.store.get("item")
        more = int(answer.response)
        await ctx.store.set("item", Item(name=item.name, qty=item.qty + more, tags=item.tags))
        await ctx.store.set("nested.a.added", more)
        return StopEvent(result=f"{item.name}: {ev.count} + {more}")


async def observe_inventory(ctx: Context) -> Any:
    item = await ctx.store.get("item", default=None)
    shelf = await ctx.store.get("shelf", default=[])
    return {
        "item": item.model_dump() if item is not None else None,
        "shelf": [v.model_dump() if isinstance(v, BaseModel) else v for v in shelf],
        "nested": await ctx.store.get("nested", default=None),
        "label": await ctx.store.get("label", default=None),
    }


# -- 3b. a typed Context[Profile] state, and a wait named with waiter_id ----------------
class Address(BaseModel):
    city: str = ""
    country: str = ""


class Profile(BaseModel):
    name: str = ""
    visits: int = 0
    tags: list[str] = Field(default_factory=list)
    address: Address = Field(default_factory=Address)
    scores: dict[str, float] = Field(default_factory=dict)


class Prepared(Event):
    stage: int


class Onboarding(Workflow):
    @step
    async def setup(self, ctx: Context[Profile], ev: StartEvent) -> Prepared:
        async with ctx.store.edit_state() as state:
            state.name = ev.name
            state.tags.append("new")
            state.address.country = "FR"
            state.scores["intro"] = 1.5
        return Prepared(stage=1)

    @step
    async def confirm(self, ctx: Context[Profile], ev: Prepared) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_id="city",
            waiter_event=InputRequiredEvent(prefix="Which city? "),
        )
        async with ctx.store.edit_state() as state:
            state.address.city = answer.response
            state.visits += 1
        state = await ctx.store.get_state()
        return StopEvent(result=f"{state.name} lives in {state.address.city} ({ev.stage})")


async def observe_onboarding(ctx: Context) -> Any:
    state = await ctx.store.get_state()
    return state.model_dump()


# -- 4. events queued behind a busy step, a half-filled collect_events buffer -----------
class Job(Event):
    n: int


class PartA(Event):
    a: str


class PartB(Event):
    b: str


class Fanout(Workflow):
    gate: asyncio.Event | None = None
    """Set by the generator to hold the first job while the snapshot is taken."""
    buffer_id: str | None = "parts"

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> PartA | Job | None:
        ctx.send_event(PartA(a="left"))
        for n in range(3):
            ctx.send_event(Job(n=n))
        return None

    @step(num_workers=1)
    async def work(self, ctx: Context, ev: Job) -> PartB | None:
        if self.gate is not None:
            await self.gate.wait()
        done = await ctx.store.get("done", default=[])
        await ctx.store.set("done", [*done, ev.n])
        return PartB(b=f"right{ev.n}") if ev.n == 2 else None

    @step
    async def gather(self, ctx: Context, ev: PartA | PartB) -> StopEvent | None:
        got = ctx.collect_events(ev, [PartA, PartB], buffer_id=self.buffer_id)
        if got is None:
            return None
        return StopEvent(result=f"{got[0].a}+{got[1].b}")


class FanoutDefaultBuffer(Fanout):
    """The same run, collecting into the default buffer (no ``buffer_id``)."""

    buffer_id = None


async def observe_fanout(ctx: Context) -> Any:
    return {"done": await ctx.store.get("done", default=[])}


# -- 5. typed event subclasses; waits routed by requirements ----------------------------
class Meta(BaseModel):
    source: str
    tags: list[str] = Field(default_factory=list)


class Draft(Event):
    topic: str
    priority: int = 0
    meta: Meta


class Question(InputRequiredEvent):
    topic: str
    choices: list[str]


class Answer(HumanResponseEvent):
    topic: str
    choice: int
    comment: str | None = None


class Reviewed(Event):
    topic: str
    verdict: str


_CHOICES = {"colour": ["red", "blue"], "size": ["S", "M", "L"]}


class Review(Workflow):
    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Draft | None:
        for priority, topic in enumerate(_CHOICES, start=1):
            meta = Meta(source="start", tags=[topic])
            ctx.send_event(Draft(topic=topic, priority=priority, meta=meta, note=f"#{topic}"))
        return None

    @step(num_workers=2)
    async def review(self, ctx: Context, ev: Draft) -> Reviewed:
        choices = _CHOICES[ev.topic]
        answer = await ctx.wait_for_event(
            Answer,
            waiter_event=Question(topic=ev.topic, choices=choices),
            requirements={"topic": ev.topic},
        )
        comment = f" ({answer.comment})" if answer.comment else ""
        verdict = f"{choices[answer.choice]}{comment} p{ev.priority} {ev.meta.source} {ev.note}"
        return Reviewed(topic=ev.topic, verdict=verdict)

    @step
    async def summarize(self, ctx: Context, ev: Reviewed) -> StopEvent | None:
        got = ctx.collect_events(ev, [Reviewed, Reviewed], buffer_id="reviews")
        if got is None:
            return None
        return StopEvent(result={r.topic: r.verdict for r in got})


async def observe_nothing(ctx: Context) -> Any:
    return None


# -- 6. one step asking two questions in turn (the first one answered at the pause) -----
class Survey(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> StopEvent:
        name = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_id="name",
            waiter_event=InputRequiredEvent(prefix="Name?", field="name"),
            requirements={"field": "name"},
        )
        age = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_id="age",
            waiter_event=InputRequiredEvent(prefix="Age?", field="age"),
            requirements={"field": "age"},
        )
        return StopEvent(result=f"{name.response} is {age.response}")


# -- 7. classes nested in a class: the reference names them ``module.Name`` --------------
class Shop:
    """A namespace: the reference writes ``Shop.Ask`` as ``__main__.Ask``."""

    class Basket(BaseModel):
        items: dict[str, int] = Field(default_factory=dict)

    class Ask(InputRequiredEvent):
        item: str

    class Reply(HumanResponseEvent):
        qty: int


class Checkout(Workflow):
    @step
    async def ask(self, ctx: Context[Shop.Basket], ev: StartEvent) -> StopEvent:
        async with ctx.store.edit_state() as basket:
            basket.items["tea"] = 0
        reply = await ctx.wait_for_event(
            Shop.Reply, waiter_event=Shop.Ask(prefix="How much tea? ", item="tea")
        )
        async with ctx.store.edit_state() as basket:
            basket.items["tea"] += reply.qty
        basket = await ctx.store.get_state()
        return StopEvent(result=f"tea x{basket.items['tea']}")


async def observe_checkout(ctx: Context) -> Any:
    basket = await ctx.store.get_state()
    return basket.model_dump()


# -- 8. a fan-out paused in one branch: a Take(1) collector fired, an All() one waits -------
class Task(Event):
    n: int


class TaskDone(Event):
    n: int


class Batch(Workflow):
    @step
    async def split(self, ev: StartEvent) -> list[Task]:
        return [Task(n=n) for n in range(3)]

    @step
    async def work(self, ctx: Context, ev: Task) -> TaskDone:
        if ev.n == 1:
            answer = await ctx.wait_for_event(
                HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Task 1? ")
            )
            return TaskDone(n=100 + len(answer.response))
        return TaskDone(n=ev.n)

    @step
    async def first(self, ctx: Context, done: Annotated[list[TaskDone], Collect(Take(1))]) -> None:
        await ctx.store.set("first", len(done))

    @step
    async def total(self, ctx: Context, done: list[TaskDone]) -> StopEvent:
        return StopEvent(result=sorted(d.n for d in done))


async def observe_batch(ctx: Context) -> Any:
    return {"first": await ctx.store.get("first", default=None)}


# -- 9. nested fan-outs paused in a branch of an inner stream ---------------------------
class Chapter(Event):
    c: int


class Page(Event):
    c: int
    p: int


class PageRead(Event):
    c: int
    p: int


class ChapterRead(Event):
    c: int
    pages: list[int]


class Book(Workflow):
    @step
    async def chapters(self, ev: StartEvent) -> list[Chapter]:
        return [Chapter(c=c) for c in range(2)]

    @step
    async def pages(self, ev: Chapter) -> list[Page]:
        return [Page(c=ev.c, p=p) for p in range(ev.c + 2)]

    @step
    async def read(self, ctx: Context, ev: Page) -> PageRead:
        if (ev.c, ev.p) == (1, 2):
            await ctx.wait_for_event(
                HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Turn the page? ")
            )
        return PageRead(c=ev.c, p=ev.p)

    @step
    async def chapter(self, pages: list[PageRead]) -> ChapterRead:
        return ChapterRead(c=pages[0].c, pages=sorted(p.p for p in pages))

    @step
    async def book(self, chapters: list[ChapterRead]) -> StopEvent:
        return StopEvent(result=sorted((c.c, c.pages) for c in chapters))


# -- 10. a join holding an event while another step waits for a person --------------------
class Left(Event):
    v: str


class Right(Event):
    v: str


class Hold(Event):
    pass


class Meet(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Left | Hold | None:
        ctx.send_event(Left(v="a"))
        ctx.send_event(Left(v="b"))
        ctx.send_event(Hold())
        return None

    @step
    async def ask(self, ctx: Context, ev: Hold) -> Right:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Right? ")
        )
        return Right(v=answer.response)

    @step
    async def join(self, left: Left, right: Right) -> StopEvent:
        return StopEvent(result=f"{left.v}+{right.v}")


# -- 11. a join call paused in wait_for_event, holding its batch --------------------------
class PairUp(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Left | Right | None:
        ctx.send_event(Right(v="r"))
        ctx.send_event(Left(v="l"))
        ctx.send_event(Left(v="spare"))
        return None

    @step
    async def join(self, ctx: Context, left: Left, right: Right) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Pair? ")
        )
        return StopEvent(result=f"{left.v}+{right.v}:{answer.response}")


# -- 12. a list[E] collector paused in wait_for_event, holding its batch -----------------
class Approve(Workflow):
    @step
    async def split(self, ev: StartEvent) -> list[Task]:
        return [Task(n=n) for n in range(3)]

    @step
    async def work(self, ev: Task) -> TaskDone:
        return TaskDone(n=ev.n * 10)

    @step
    async def approve(self, ctx: Context, done: list[TaskDone]) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="Approve the batch? ")
        )
        return StopEvent(result=[answer.response, *sorted(d.n for d in done)])


# -- the scenarios ------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """How a snapshot is made under the reference and how its run is finished."""

    workflow: type[Workflow]
    observe: Callable[[Context], Awaitable[Any]]
    answers: Callable[[], list[Event]]
    start: dict[str, Any] = field(default_factory=dict)
    prompts: int = 1
    """InputRequiredEvents the generator sees on the stream before snapshotting."""
    answered: Callable[[], list[Event]] = list
    """Answers the generator sends before snapshotting: the i-th one on the i-th prompt."""
    extra_types: tuple[type[BaseModel], ...] = ()
    """Classes the snapshot holds that no step signature names (for JsonSerializer)."""
    reference_allowed_types: tuple[type[BaseModel], ...] = ()
    """Classes the generator lists in the reference's ``JsonSerializer(allowed_types=)``
    to restore the snapshot: without it the reference imports a class by the name it
    wrote, ``module.Name``, which a nested class does not have."""


SCENARIOS: dict[str, Scenario] = {
    "wait_for_event": Scenario(
        Interview, observe_interview, lambda: [HumanResponseEvent(response="Ada")]
    ),
    "input_required": Scenario(
        Approval,
        observe_approval,
        lambda: [HumanResponseEvent(response="yes")],
        start={"amount": 120},
    ),
    "dict_state": Scenario(
        Inventory,
        observe_inventory,
        lambda: [HumanResponseEvent(response="4")],
        extra_types=(Item,),
    ),
    "typed_state": Scenario(
        Onboarding,
        observe_onboarding,
        lambda: [HumanResponseEvent(response="Lyon")],
        start={"name": "Camille"},
    ),
    "queued_and_collect": Scenario(Fanout, observe_fanout, lambda: [], prompts=0),
    "queued_and_collect_default_buffer": Scenario(
        FanoutDefaultBuffer, observe_fanout, lambda: [], prompts=0
    ),
    "custom_events": Scenario(
        Review,
        observe_nothing,
        lambda: [
            Answer(topic="size", choice=2),
            Answer(topic="colour", choice=1, comment="dark"),
        ],
        prompts=2,
        extra_types=(Answer,),
    ),
    "nested_classes": Scenario(
        Checkout,
        observe_checkout,
        lambda: [Shop.Reply(response="", qty=3)],
        extra_types=(Shop.Ask, Shop.Reply),
        reference_allowed_types=(Shop.Basket, Shop.Ask, Shop.Reply),
    ),
    "two_questions": Scenario(
        Survey,
        observe_nothing,
        lambda: [HumanResponseEvent(field="age", response="42")],
        prompts=2,
        answered=lambda: [HumanResponseEvent(field="name", response="Grace")],
    ),
    "stream_waiting": Scenario(Batch, observe_batch, lambda: [HumanResponseEvent(response="done")]),
    "stream_nested": Scenario(Book, observe_nothing, lambda: [HumanResponseEvent(response="yes")]),
    "collector_waiting": Scenario(
        Approve, observe_nothing, lambda: [HumanResponseEvent(response="yes")]
    ),
    "join_buffered": Scenario(Meet, observe_nothing, lambda: [HumanResponseEvent(response="z")]),
    "join_waiting": Scenario(PairUp, observe_nothing, lambda: [HumanResponseEvent(response="ok")]),
}
