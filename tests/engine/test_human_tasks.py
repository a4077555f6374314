"""Task fields reach the request rows, and an overdue request reaches its run, durably.

The expense flow of ``examples/expense_tasks.py`` (the one ``docs/human-tasks.md``
explains) is routed by amount to a group and escalates to the manager when overdue.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from examples.expense_tasks import MANAGER, Decision, ExpenseSubmitted, TeamExpense
from tests._wait import until

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import WorkflowRuntimeError
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent
from workflows.stores import InputRequest

TIMER = 0.05  # seconds between the engine's deadline checks, for quick tests


class Review(Workflow):
    """A ``wait_for_event`` whose waiter event names the reviewer; nothing on overdue."""

    @step
    async def review(self, ctx: Context, ev: StartEvent) -> StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(
                prefix="Review the contract",
                assignee="lin",
                candidate_users=["max"],
                due=ev.get("due", None),
                follow_up=timedelta(hours=1),
            ),
            timeout=None,
        )
        return StopEvent(result=answer.response)


class BadField(Workflow):
    """A prompt whose priority is not an integer."""

    @step
    async def ask(self, ev: StartEvent) -> InputRequiredEvent:
        return InputRequiredEvent(prefix="?", priority="urgent")

    @step
    async def take(self, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=ev.response)


WORKFLOWS = {"expense": TeamExpense(timeout=None), "review": Review(timeout=None)}


async def _pending(engine: Engine, run_id: str, count: int = 1) -> list[InputRequest]:
    async def found() -> list[InputRequest]:
        requests = await engine.inbox(run_id=run_id)
        return requests if len(requests) >= count else []

    return await until(found, f"{count} pending request(s) of run {run_id}")


async def test_a_prompt_carries_its_group_priority_and_due(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        before = time.time()
        large = await engine.start("expense", ExpenseSubmitted(employee="ada", amount=1500))
        small = await engine.start("expense", ExpenseSubmitted(employee="bo", amount=80))
        (finance,) = await _pending(engine, large.run_id)
        (leads,) = await _pending(engine, small.run_id)
    assert (finance.candidate_groups, finance.priority) == (("finance",), 2)
    assert (leads.candidate_groups, leads.priority) == (("team-leads",), 1)
    assert finance.assignee is None and finance.candidate_users == ()
    assert finance.due is not None
    assert before + 86400 <= finance.due <= time.time() + 86400
    assert finance.overdue_at is None


async def test_a_waiter_event_carries_assignee_candidates_and_follow_up(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS) as engine:
        handle = await engine.start("review")
        (request,) = await _pending(engine, handle.run_id)
        assert (request.assignee, request.candidate_users) == ("lin", ("max",))
        assert request.due is None
        assert request.follow_up is not None and request.follow_up > time.time() + 3000
        await engine.respond(request.request_id, {"response": "signed"}, answered_by="lin")
        assert await asyncio.wait_for(handle.result(), 20) == "signed"


async def test_a_bad_task_field_fails_the_run_and_names_the_field(sqlite_url: str) -> None:
    async with Engine(sqlite_url, {"bad": BadField(timeout=None)}) as engine:
        handle = await engine.start("bad")
        with pytest.raises(WorkflowRuntimeError, match="TaskFieldError: task field 'priority'"):
            await asyncio.wait_for(handle.result(), 20)
        record = await handle.record()
        assert record.status == "failed"
        assert record.error is not None and record.error["type"] == "TaskFieldError"
        assert await engine.inbox() == []  # no half-made request is left behind


async def test_an_overdue_request_escalates_to_the_manager(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, timer_interval=TIMER) as engine:
        handle = await engine.start(
            "expense", ExpenseSubmitted(employee="ada", amount=1500, decide_within=0.2)
        )
        (first,) = await _pending(engine, handle.run_id)
        requests = await _pending(engine, handle.run_id, count=2)
        escalated = next(r for r in requests if r.request_id != first.request_id)
        assert escalated.assignee == MANAGER and escalated.priority == 3
        overdue = next(r for r in requests if r.request_id == first.request_id)
        assert overdue.overdue_at is not None and overdue.overdue_at >= (first.due or 0)
        await engine.respond(escalated.request_id, Decision(approved=True).model_dump())
        assert await asyncio.wait_for(handle.result(), 20) == "approved 1500.00 for ada"
        # The group's request was left open, and closed with the run.
        assert (await engine.request(first.request_id)).status == "cancelled"


async def test_escalation_fires_after_a_restart(sqlite_url: str) -> None:
    async with Engine(sqlite_url, WORKFLOWS, idle_release_after=None) as first:
        handle = await first.start(
            "expense", ExpenseSubmitted(employee="ada", amount=1500, decide_within=0.3)
        )
        (request,) = await _pending(first, handle.run_id)
    assert request.due is not None
    await asyncio.sleep(max(0.0, request.due - time.time()) + 0.05)  # due while no engine runs
    async with Engine(sqlite_url, WORKFLOWS, timer_interval=TIMER) as second:
        requests = await _pending(second, handle.run_id, count=2)
        assert {r.assignee for r in requests} == {None, MANAGER}


async def test_overdue_without_a_step_for_it_only_marks_the_request(store_url: str) -> None:
    async with Engine(store_url, WORKFLOWS, timer_interval=TIMER) as engine:
        handle = await engine.start("review", due=time.time() - 1)
        (request,) = await _pending(engine, handle.run_id)

        async def marked() -> InputRequest | None:
            found = await engine.request(request.request_id)
            return found if found.overdue_at is not None else None

        await until(marked, "the overdue mark")
        await engine.respond(request.request_id, {"response": "late but fine"})
        assert await asyncio.wait_for(handle.result(), 20) == "late but fine"
