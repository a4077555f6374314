"""An approval run started in one process and answered from another, via the inbox.

The run lives in a SQLite file owned by the durable engine: ``start`` stores it and
exits while it waits for a manager; ``inbox`` (any process, any time later) lists the
pending input requests; ``respond`` answers one, which loads the run, finishes it and
prints its result.

    python examples/approval_app.py start [--db runs.db] [--amount 420]
    python examples/approval_app.py inbox [--db runs.db]
    python examples/approval_app.py respond REQUEST_ID yes [--db runs.db]
    python examples/approval_app.py demo        # all three, each in its own process
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

DEFAULT_DB = "approvals.db"


class ExpenseApproval(Workflow):
    """Asks a manager to approve an expense, then reports the verdict."""

    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("claim", {"employee": ev.employee, "amount": ev.amount})
        return InputRequiredEvent(prefix=f"Approve {ev.amount:.2f} for {ev.employee}? [yes/no]")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        claim = await ctx.store.get("claim")
        verdict = "approved" if str(ev.response).strip().lower() in {"y", "yes"} else "rejected"
        return StopEvent(result=f"{verdict} {claim['amount']:.2f} for {claim['employee']}")


WORKFLOWS = {"expense": ExpenseApproval(timeout=None)}
"""What this app serves: `workflows serve examples/approval_app.py:WORKFLOWS`."""


def engine(db: str) -> Engine:
    """The engine on the SQLite file ``db``; every process registers the same workflows."""
    url = f"sqlite:///{Path(db).resolve()}"
    return Engine(url, WORKFLOWS, idle_release_after=0)


async def start(db: str, employee: str, amount: float) -> None:
    async with engine(db) as eng:
        handle = await eng.start("expense", employee=employee, amount=amount)
        print(f"started {handle.run_id}")  # durable from here on; the process may exit


async def inbox(db: str) -> None:
    async with engine(db) as eng:
        for request in await eng.inbox():
            # The payload is the stored event: {"$event": type name, "data": its fields}.
            prompt = request.payload.get("data", {}).get("prefix", "")
            print(f"{request.request_id}\t{prompt}")


async def respond(db: str, request_id: str, value: str) -> None:
    async with engine(db) as eng:
        request = await eng.store.get_request(request_id)
        await eng.respond(request_id, value)
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
        print(run("respond", request_id, "yes").strip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p_start = commands.add_parser("start", help="start an approval run")
    p_start.add_argument("--employee", default="ada")
    p_start.add_argument("--amount", type=float, default=420.0)
    p_inbox = commands.add_parser("inbox", help="list pending input requests")
    p_respond = commands.add_parser("respond", help="answer an input request")
    p_respond.add_argument("request_id")
    p_respond.add_argument("value")
    commands.add_parser("demo", help="start, list and answer in separate processes")
    for sub in (p_start, p_inbox, p_respond):
        sub.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB})")
    args = parser.parse_args(argv)
    if args.command == "start":
        asyncio.run(start(args.db, args.employee, args.amount))
    elif args.command == "inbox":
        asyncio.run(inbox(args.db))
    elif args.command == "respond":
        asyncio.run(respond(args.db, args.request_id, args.value))
    else:
        demo()


if __name__ == "__main__":
    main()
