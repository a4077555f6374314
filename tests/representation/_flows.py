"""Workflows whose graphs were checked against llama-index-workflows 2.26.1.

The expected node and edge lists in the tests were produced by running these same
classes under the reference implementation and reading its ``model_dump()``.
"""

from __future__ import annotations

from typing import Annotated

from _flows import HumanLoop
from workflows import Context, Workflow, catch_error, step
from workflows.events import (
    Event,
    HumanResponseEvent,
    InputRequiredEvent,
    StartEvent,
    StepFailedEvent,
    StopEvent,
)
from workflows.resource import Resource


class FirstEvent(Event):
    """First hop."""

    text: str


class SecondEvent(Event):
    count: int = 0


class LinearFlow(Workflow):
    """Three steps in a row."""

    @step
    async def begin(self, ev: StartEvent) -> FirstEvent:
        """Start it."""
        return FirstEvent(text="x")

    @step
    async def middle(self, ev: FirstEvent) -> SecondEvent:
        return SecondEvent()

    @step
    async def finish(self, ev: SecondEvent) -> StopEvent:
        return StopEvent(result=1)


class LeftEvent(Event):
    pass


class RightEvent(Event):
    pass


class JoinEvent(Event):
    pass


class BranchFlow(Workflow):
    @step
    async def split(self, ev: StartEvent) -> LeftEvent | RightEvent:
        return LeftEvent()

    @step
    async def left(self, ev: LeftEvent) -> JoinEvent | None:
        return JoinEvent()

    @step
    async def right(self, ev: RightEvent) -> JoinEvent | StopEvent:
        return JoinEvent()

    @step
    async def both(self, ev: LeftEvent | RightEvent) -> None:
        return None

    @step
    async def join(self, ev: JoinEvent) -> StopEvent:
        return StopEvent()


class AskEvent(InputRequiredEvent):
    question: str = ""


class AnswerEvent(HumanResponseEvent):
    answer: str = ""


class HitlFlow(HumanLoop):
    """The suite's human loop (``tests/_flows.py``) under a name of its own."""


class HitlSubclassFlow(Workflow):
    @step
    async def ask(self, ev: StartEvent) -> AskEvent:
        return AskEvent()

    @step
    async def got(self, ev: AnswerEvent, ctx: Context) -> StopEvent:
        return StopEvent()


class Client:
    pass


class Db:
    pass


def get_client() -> Client:
    """Build the client."""
    return Client()


async def get_db() -> Db:
    return Db()


class ResourceFlow(Workflow):
    @step
    async def one(
        self, ev: StartEvent, client: Annotated[Client, Resource(get_client)]
    ) -> FirstEvent:
        return FirstEvent(text="")

    @step
    async def two(
        self,
        ev: FirstEvent,
        api: Annotated[Client, Resource(get_client)],
        db: Annotated[Db, Resource(get_db, cache=False)],
    ) -> StopEvent:
        return StopEvent()


class MyStart(StartEvent):
    topic: str


class MyStop(StopEvent):
    summary: str = ""


class CustomFlow(Workflow):
    @step
    async def go(self, ev: MyStart) -> FirstEvent:
        return FirstEvent(text=ev.topic)

    @step
    async def end(self, ev: FirstEvent) -> MyStop:
        return MyStop(summary="s")


class Base(Event):
    pass


class Child(Base):
    pass


class ErrFlow(Workflow):
    @step
    async def work(self, ev: StartEvent) -> StopEvent:
        return StopEvent()

    @catch_error
    async def recover(self, ev: StepFailedEvent) -> StopEvent:
        return StopEvent()


class FreeFlow(Workflow):
    @step
    async def zed(self, ev: StartEvent) -> Child:
        return Child()


@step(workflow=FreeFlow)
async def free(ev: Child) -> StopEvent:
    return StopEvent()
