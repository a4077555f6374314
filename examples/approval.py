"""An expense approval flow that pauses for a person, survives a restart, and finishes.

The run asks a manager to approve an expense. While it waits, its context is
snapshotted into a SQLite file and the run is stopped, as a web request would after
showing the prompt. Later (here: a moment later, in the same script; in an app: in
another request or process) the snapshot is loaded, the answer is sent, the run ends.

    python examples/approval.py                 # answer at the terminal
    python examples/approval.py --auto-approve  # answer "yes" automatically
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class ExpenseSubmitted(StartEvent):
    """An employee's expense claim."""

    employee: str
    amount: float
    reason: str


class ExpenseApproval(Workflow):
    """Auto-approves small expenses; asks a manager about the others."""

    @step
    async def triage(self, ctx: Context, ev: ExpenseSubmitted) -> InputRequiredEvent | StopEvent:
        await ctx.store.set("claim", {"employee": ev.employee, "amount": ev.amount})
        if ev.amount < 100:
            return StopEvent(result=f"auto-approved {ev.amount:.2f} for {ev.employee}")
        return InputRequiredEvent(
            prefix=f"Approve {ev.amount:.2f} for {ev.employee} ({ev.reason})? [yes/no] "
        )

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        claim = await ctx.store.get("claim")
        verdict = "approved" if ev.response.strip().lower() in {"y", "yes"} else "rejected"
        return StopEvent(result=f"{verdict} {claim['amount']:.2f} for {claim['employee']}")


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS paused (run_id TEXT PRIMARY KEY, ctx TEXT NOT NULL)")
    return conn


async def pause_for_approval(db: Path) -> tuple[str, str]:
    """Start a run; when it asks for input, store its snapshot and stop it."""
    workflow = ExpenseApproval(timeout=60)
    handler = workflow.run(
        start_event=ExpenseSubmitted(employee="ada", amount=420.0, reason="conference")
    )
    async for event in handler.stream_events():
        if isinstance(event, InputRequiredEvent):
            with _db(db) as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO paused VALUES (?, ?)",
                    (handler.run_id, json.dumps(handler.ctx.to_dict())),
                )
            await handler.cancel_run()
            return handler.run_id, event.prefix
    raise RuntimeError("the run finished without asking for approval")


async def resume_with_answer(db: Path, run_id: str, answer: str) -> str:
    """Load the snapshot, send the answer, and return the run's result."""
    with _db(db) as conn:
        (payload,) = conn.execute("SELECT ctx FROM paused WHERE run_id = ?", (run_id,)).fetchone()
    workflow = ExpenseApproval(timeout=60)
    handler = workflow.run(ctx=Context.from_dict(workflow, json.loads(payload)))
    await handler.send_event(HumanResponseEvent(response=answer))
    return str(await handler)


async def main(auto_approve: bool) -> None:
    """Run the whole flow once."""
    db = Path(tempfile.mkdtemp(prefix="approval-")) / "approvals.db"
    run_id, prompt = await pause_for_approval(db)
    print(f"run {run_id} is waiting; its snapshot is in {db}")
    answer = "yes" if auto_approve else await asyncio.to_thread(input, prompt)
    if auto_approve:
        print(f"{prompt}{answer}")
    print(await resume_with_answer(db, run_id, answer))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auto-approve", action="store_true", help="answer yes without asking")
    asyncio.run(main(parser.parse_args().auto_approve))
