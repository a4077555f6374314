"""An expense flow for a team: routed by amount to a group, escalated when overdue.

- Up to 1,000 the team leads decide; above, the finance group, at a higher priority.
- Whoever of the group claims the request answers it (see ``docs/human-tasks.md``).
- If nobody answers before it is due, the run asks the manager instead.

Serve it with users and groups (``docs/human-tasks.md`` shows the users file)::

    workflows serve examples/expense_tasks.py:workflows --users users.toml
"""

from __future__ import annotations

from datetime import timedelta

from workflows import Context, Workflow, step
from workflows.events import (
    HumanResponseEvent,
    InputRequiredEvent,
    RequestOverdueEvent,
    StartEvent,
    StopEvent,
)

MANAGER = "grace"
"""Who decides when the group let the request become overdue."""


class ExpenseSubmitted(StartEvent):
    """An employee's expense claim; ``decide_within`` is how long the group has."""

    employee: str
    amount: float
    decide_within: float = timedelta(days=1).total_seconds()


class Decision(HumanResponseEvent):
    """The answer: approve or not, with an optional note."""

    approved: bool
    note: str = ""


class TeamExpense(Workflow):
    """Asks the right group, and the manager when the group is late."""

    @step
    async def route(self, ctx: Context, ev: ExpenseSubmitted) -> InputRequiredEvent:
        await ctx.store.set("claim", {"employee": ev.employee, "amount": ev.amount})
        large = ev.amount > 1000
        return InputRequiredEvent(
            prefix=f"Approve {ev.amount:.2f} for {ev.employee}?",
            candidate_groups=["finance" if large else "team-leads"],
            priority=2 if large else 1,
            due=timedelta(seconds=ev.decide_within),
        )

    @step
    async def escalate(self, ctx: Context, ev: RequestOverdueEvent) -> InputRequiredEvent:
        claim = await ctx.store.get("claim")
        return InputRequiredEvent(
            prefix=f"Overdue: approve {claim['amount']:.2f} for {claim['employee']}?",
            assignee=MANAGER,
            priority=3,
        )

    @step
    async def decide(self, ctx: Context, ev: Decision) -> StopEvent:
        claim = await ctx.store.get("claim")
        verdict = "approved" if ev.approved else "rejected"
        return StopEvent(result=f"{verdict} {claim['amount']:.2f} for {claim['employee']}")


workflows = {"expense": TeamExpense()}
"""What ``workflows serve`` serves."""
