"""The workflows of the time-travel tests: a text reviewed by a person, and a
conversation whose state grows every round. Used by the engine, server, client and CLI
tests, and through ``engine/_fork_worker.py`` in worker processes killed while they
fork."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Drafted(Event):
    pass


class Reviewed(Event):
    verdict: str


class Review(Workflow):
    """draft (state: text, log) -> review (asks a person) -> publish: ``text:verdict``."""

    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Drafted:
        await ctx.store.set("text", ev.text)
        await ctx.store.set("log", ["drafted"])
        return Drafted()

    @step
    async def review(self, ctx: Context, ev: Drafted) -> Reviewed:
        text = await ctx.store.get("text")
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix=f"publish {text}?")
        )
        return Reviewed(verdict=reply.response)

    @step
    async def publish(self, ctx: Context, ev: Reviewed) -> StopEvent:
        async with ctx.store.edit_state() as state:
            state["log"] = [*state["log"], ev.verdict]
        return StopEvent(result=f"{await ctx.store.get('text')}:{ev.verdict}")


class TaskReview(Review):
    """Review whose prompt is a task: assigned, for a group, with a priority and a due."""

    @step
    async def review(self, ctx: Context, ev: Drafted) -> Reviewed:
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(
                prefix="publish?",
                assignee="ada",
                candidate_groups=["fin"],
                priority=2,
                due=timedelta(hours=1),
            ),
        )
        return Reviewed(verdict=reply.response)


class ShoutingReview(Review):
    """Review with new code in its last step (for replays)."""

    @step
    async def publish(self, ctx: Context, ev: Reviewed) -> StopEvent:
        return StopEvent(result=f"{await ctx.store.get('text')}:{ev.verdict}".upper())


class Draft(BaseModel):
    """A typed state."""

    text: str = ""
    words: int = 0


class TypedReview(Workflow):
    """Review over a ``Context[Draft]`` state."""

    @step
    async def draft(self, ctx: Context[Draft], ev: StartEvent) -> Drafted:
        async with ctx.store.edit_state() as state:
            state.text = ev.text
            state.words = len(ev.text.split())
        return Drafted()

    @step
    async def review(self, ctx: Context[Draft], ev: Drafted) -> Reviewed:
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix="publish?")
        )
        return Reviewed(verdict=reply.response)

    @step
    async def publish(self, ctx: Context[Draft], ev: Reviewed) -> StopEvent:
        state = await ctx.store.get_state()
        return StopEvent(result=f"{state.text}/{state.words}:{ev.verdict}")


class Said(Event):
    turn: int
    text: str


class Conversation(Workflow):
    """Asks ``rounds`` questions; every answer is appended to ``state["messages"]``."""

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Said:
        await ctx.store.set("messages", [])
        await ctx.store.set("rounds", ev.rounds)
        return Said(turn=0, text="")

    @step
    async def talk(self, ctx: Context, ev: Said) -> Said | StopEvent:
        if ev.turn:
            async with ctx.store.edit_state() as state:
                state["messages"] = [*state["messages"], {"turn": ev.turn, "text": ev.text}]
        if ev.turn == await ctx.store.get("rounds"):
            return StopEvent(result=len(await ctx.store.get("messages")))
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"turn {ev.turn + 1}?"),
        )
        return Said(turn=ev.turn + 1, text=reply.response)
