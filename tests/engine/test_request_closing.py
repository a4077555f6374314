"""One answer closes its input request, whatever path it took.

A prompt (an ``InputRequiredEvent`` a step returns) answered by sending a response
event to the run, instead of through the inbox, must leave the inbox too, and must not
take a second answer afterwards.
"""

from __future__ import annotations

import asyncio

import pytest

from _wait import until
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import InputRequestAlreadyAnsweredError
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Rounds(Workflow):
    """Asks ``rounds`` times with returned prompts; each answer is a response event."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("left", ev.rounds)
        return InputRequiredEvent(prefix="round?")

    @step
    async def take(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        left = await ctx.store.get("left") - 1
        await ctx.store.set("left", left)
        if left == 0:
            return StopEvent(result=ev.response)
        return InputRequiredEvent(prefix="round?")


async def _pending(engine: Engine, run_id: str) -> list[str]:
    return [r.request_id for r in await engine.inbox(run_id=run_id)]


async def test_an_answer_sent_as_an_event_closes_the_prompt(store_url: str) -> None:
    async with Engine(store_url, {"rounds": Rounds()}, idle_release_after=None) as engine:
        handle = await engine.start("rounds", rounds=3)
        answered: list[str] = []
        for i in range(3):

            async def asked_again() -> list[str]:
                pending = await _pending(engine, handle.run_id)
                return pending if pending and pending[0] not in answered else []

            pending = await until(asked_again, f"prompt {i + 1}")
            assert len(pending) == 1, pending  # the earlier prompts left the inbox
            answered.append(pending[0])
            await engine.send_event(handle.run_id, HumanResponseEvent(response=f"r{i}"))
        assert await asyncio.wait_for(handle.result(), 30) == "r2"
        await engine.writer.flush()
        assert await _pending(engine, handle.run_id) == []
        for request_id in answered:
            request = await engine.store.get_request(request_id)
            assert request.status == "answered"
            with pytest.raises(InputRequestAlreadyAnsweredError):
                await engine.respond(request_id, "too late")
