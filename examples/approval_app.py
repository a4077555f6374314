"""An expense approval started in one process and answered from another, via the inbox.

The run lives in a SQLite file owned by the durable engine: ``start`` stores it and
exits while it waits for a manager; ``inbox`` (any process, any time later) lists the
pending input requests; ``respond`` answers one, which loads the run, finishes it and
prints its result.

The workflow is typed: it starts from an :class:`ExpenseClaim` (a non-empty employee
and a positive amount, checked before the run is stored) and waits for a
:class:`Decision` (``approved``: yes or no, and a ``reason``), so a typo cannot turn
into an answer.

    python examples/approval_app.py start [--db runs.db] [--employee ada] [--amount 420]
    python examples/approval_app.py inbox [--db runs.db]
    python examples/approval_app.py respond REQUEST_ID approve|reject [--reason TEXT] [--db runs.db]
    python examples/approval_app.py demo        # all three, each in its own process

The same workflow through the ``workflows`` command or the server::

    workflows run examples/approval_app.py:WORKFLOWS.expense --arg employee=ada --arg amount=420
    workflows serve examples/approval_app.py:WORKFLOWS
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.errors import WorkflowError
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

DEFAULT_DB = "approvals.db"


class ExpenseClaim(StartEvent):
    """What an employee claims; a run cannot start with an empty name or amount <= 0."""

    employee: str = Field(description="Who claims the expense.")
    amount: float = Field(gt=0, description="The amount claimed, more than 0.")

    @field_validator("employee")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class Decision(HumanResponseEvent):
    """The manager's answer: approve or reject, and why."""

    approved: bool = Field(description="Approve the expense?")
    reason: str = Field(default="", description="Shown to the employee.")


class ExpenseApproval(Workflow):
    """Asks a manager to approve an expense, then reports the verdict."""

    @step
    async def ask(self, ctx: Context, ev: ExpenseClaim) -> InputRequiredEvent:
        await ctx.store.set("claim", {"employee": ev.employee, "amount": ev.amount})
        return InputRequiredEvent(
            prefix=f"Approve {ev.amount:.2f} for {ev.employee}?",
            employee=ev.employee,
            amount=ev.amount,
        )

    @step
    async def decide(self, ctx: Context, ev: Decision) -> StopEvent:
        claim = await ctx.store.get("claim")
        verdict = "approved" if ev.approved else "rejected"
        because = f": {ev.reason}" if ev.reason else ""
        return StopEvent(result=f"{verdict} {claim['amount']:.2f} for {claim['employee']}{because}")


WORKFLOWS = {"expense": ExpenseApproval(timeout=None)}
"""What this app serves: ``workflows serve examples/approval_app.py:WORKFLOWS``."""


def engine(db: str) -> Engine:
    """The engine on the SQLite file ``db``; every process registers the same workflows."""
    url = f"sqlite:///{Path(db).resolve()}"
    return Engine(url, WORKFLOWS, idle_release_after=0)


async def start(db: str, employee: str, amount: float) -> None:
    """Store a new run for the claim and print its id (the run then waits)."""
    claim = ExpenseClaim(employee=employee, amount=amount)  # invalid input fails here
    async with engine(db) as eng:
        handle = await eng.start("expense", start_event=claim)
        print(f"started {handle.run_id}")  # durable from here on; the process may exit


async def inbox(db: str) -> None:
    """Print the pending requests, one ``REQUEST_ID<tab>prompt`` line each."""
    async with engine(db) as eng:
        for request in await eng.inbox():
            # The payload is the stored event: {"$event": type name, "data": its fields}.
            prompt = request.payload.get("data", {}).get("prefix", "")
            print(f"{request.request_id}\t{prompt}")


async def respond(db: str, request_id: str, approved: bool, reason: str) -> None:
    """Answer a request, finish its run here and print the result."""
    async with engine(db) as eng:
        request = await eng.store.get_request(request_id)
        await eng.respond(request_id, {"approved": approved, "reason": reason})
        print(await eng.get(request.run_id))


def demo() -> None:
    """Start, list and answer, each step in a separate process, on a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "approvals.db")

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, __file__, *args, "--db", db],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                sys.exit(f"{' '.join(args)} failed:\n{done.stderr}")
            return done.stdout

        print(run("start", "--employee", "ada", "--amount", "420").strip())
        listing = run("inbox").strip()
        print(listing)
        request_id = listing.splitlines()[0].split("\t")[0]
        print(run("respond", request_id, "approve", "--reason", "within budget").strip())


def _one_line(exc: Exception) -> str:
    """An error as one line; a validation error as ``field: why; field: why``."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one subcommand (errors: one line, status 1)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_start = commands.add_parser("start", help="start an approval run")
    p_start.add_argument("--employee", default="ada")
    p_start.add_argument("--amount", type=float, default=420.0)
    p_inbox = commands.add_parser("inbox", help="list pending input requests")
    p_respond = commands.add_parser("respond", help="answer an input request")
    p_respond.add_argument("request_id")
    p_respond.add_argument("verdict", choices=["approve", "reject"])
    p_respond.add_argument("--reason", default="", help="why (shown to the employee)")
    commands.add_parser("demo", help="start, list and answer in separate processes")
    for sub in (p_start, p_inbox, p_respond):
        sub.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            asyncio.run(start(args.db, args.employee, args.amount))
        elif args.command == "inbox":
            asyncio.run(inbox(args.db))
        elif args.command == "respond":
            approved = args.verdict == "approve"
            asyncio.run(respond(args.db, args.request_id, approved, args.reason))
        else:
            demo()
    except (WorkflowError, ValueError) as exc:
        sys.exit(f"error: {_one_line(exc)}")


if __name__ == "__main__":
    main()
