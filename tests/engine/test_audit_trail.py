"""A run's audit trail in the engine: its start input and who answered each request.

Whatever path an answer takes (the inbox, a bulk answer, an event sent to the run that
answers a prompt or a ``wait_for_event``), the store records who gave it; the start
event is stored with the run as the engine encodes events.
"""

from __future__ import annotations

import asyncio

from _flows import HumanLoop
from _runs import requests_of
from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Expense(StartEvent):
    """A typed start event."""

    employee: str
    amount: float


class Verdict(HumanResponseEvent):
    """What ``wait_for_event`` waits for."""

    approved: bool


class Approve(Workflow):
    """One typed wait for a Verdict, then done."""

    @step
    async def review(self, ctx: Context, ev: Expense) -> StopEvent:
        verdict = await ctx.wait_for_event(
            Verdict, InputRequiredEvent(prefix=f"Approve {ev.amount}?"), timeout=None
        )
        return StopEvent(result=verdict.approved)


WORKFLOWS = {"approve": Approve(timeout=None), "ask": HumanLoop(timeout=None)}


async def _one_request(engine: Engine, run_id: str) -> str:
    [request] = await requests_of(engine, run_id=run_id)
    return request.request_id


async def test_the_start_input_is_stored_with_the_run(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        typed = await engine.start("approve", Expense(employee="ada", amount=12.5))
        keywords = await engine.start("approve", employee="bo", amount=3)
        plain = await engine.start("ask", topic="x")
        expense_key = f"{Expense.__module__}.Expense"
        assert (await typed.record()).input == {
            "$event": expense_key,
            "data": {"employee": "ada", "amount": 12.5},
        }
        assert (await keywords.record()).input == {
            "$event": expense_key,
            "data": {"employee": "bo", "amount": 3.0},
        }
        assert (await plain.record()).input == {
            "$event": "workflows.events.StartEvent",
            "data": {"topic": "x"},
        }
        for handle in (typed, keywords):
            await engine.respond(await _one_request(engine, handle.run_id), {"approved": True})
            assert await asyncio.wait_for(handle.result(), 30) is True
        assert (await typed.record()).input["data"]["employee"] == "ada"  # kept to the end


async def test_inbox_answers_record_who_answered(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        runs = [await engine.start("approve", employee=f"e{i}", amount=i) for i in range(3)]
        ids = [await _one_request(engine, run.run_id) for run in runs]
        assert await engine.respond(ids[0], {"approved": True}, answered_by="ada")
        outcomes = await engine.respond_many(
            [(ids[1], {"approved": False}, None, "grace"), (ids[2], {"approved": True})]
        )
        assert outcomes == [True, True]
        for run in runs:
            await asyncio.wait_for(run.result(), 30)
        who = [(await engine.store.get_request(i)).answered_by for i in ids]
        assert who == ["ada", "grace", None]


async def test_an_event_that_answers_records_who_sent_it(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        waiting = await engine.start("approve", employee="ada", amount=5)
        prompted = await engine.start("ask")
        anonymous = await engine.start("ask")
        waits = await _one_request(engine, waiting.run_id)
        prompt = await _one_request(engine, prompted.run_id)
        unnamed = await _one_request(engine, anonymous.run_id)
        await engine.send_event(waiting.run_id, Verdict(approved=True), sent_by="lin")
        await engine.send_event(prompted.run_id, HumanResponseEvent(response="x"), sent_by="kim")
        await engine.send_event(anonymous.run_id, HumanResponseEvent(response="y"))
        for run in (waiting, prompted, anonymous):
            await asyncio.wait_for(run.result(), 30)
        await engine.writer.flush()
        for request_id, who in ((waits, "lin"), (prompt, "kim"), (unnamed, None)):
            request = await engine.store.get_request(request_id)
            assert (request.status, request.answered_by) == ("answered", who), request_id
            assert request.answered_at is not None
