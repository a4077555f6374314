"""Event types used only in ``wait_for_event`` or only written to the stream need no
registration: a run paused on them snapshots, and resumes in a fresh process.

The allowlist for decoding is found from the workflow's own code (names its steps load,
events defined in its module); nothing is imported by a name taken from the data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workflows import Context
from workflows.errors import ContextSerdeError

PROGRAM = r"""
import asyncio
import json
import sys
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

MODE, SNAPSHOT = sys.argv[1], Path(sys.argv[2])


class Approval(HumanResponseEvent):
    approved: bool


class AskAmount(InputRequiredEvent):
    amount: int


class Progress(Event):
    percent: int


def ask_for(amount: int) -> AskAmount:  # a helper beside the workflow builds the prompt
    return AskAmount(prefix="approve?", amount=amount)


class Expense(Workflow):
    @step
    async def review(self, ctx: Context, ev: StartEvent) -> StopEvent:
        ctx.write_event_to_stream(Progress(percent=50))
        reply = await ctx.wait_for_event(Approval, waiter_event=ask_for(ev.amount))
        return StopEvent(result={"approved": reply.approved, "amount": ev.amount})


async def main() -> None:
    wf = Expense(timeout=30)
    if MODE == "pause":
        handler = wf.run(amount=42)
        seen = []
        async for ev in handler.stream_events():
            seen.append(type(ev).__name__)
            if isinstance(ev, AskAmount):
                break
        SNAPSHOT.write_text(json.dumps(handler.ctx.to_dict()))
        await handler.cancel_run()
        print(json.dumps(seen))
    else:
        ctx = Context.from_dict(wf, json.loads(SNAPSHOT.read_text()))
        handler = wf.run(ctx=ctx)
        handler.ctx.send_event(Approval(approved=True, response="yes"))
        print(json.dumps(await handler))


asyncio.run(main())
"""


def _run(script: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_run_paused_on_unregistered_types_resumes_in_a_fresh_process(tmp_path: Path) -> None:
    script = tmp_path / "expense.py"
    script.write_text(PROGRAM)
    snapshot = tmp_path / "snapshot.json"
    seen = json.loads(_run(script, "pause", str(snapshot)))
    assert seen[-2:] == ["Progress", "AskAmount"]
    data = json.loads(snapshot.read_text())
    assert "__main__.Approval" in json.dumps(data)  # named, not registered by hand
    assert json.loads(_run(script, "resume", str(snapshot))) == {"approved": True, "amount": 42}


def test_a_class_the_workflow_never_refers_to_is_still_refused(tmp_path: Path) -> None:
    """Discovery widens the allowlist only to the workflow's own classes: a snapshot
    naming any other class is refused, nothing is imported."""
    from workflows import Workflow, step
    from workflows.events import StartEvent, StopEvent

    class Tiny(Workflow):
        @step
        async def only(self, ev: StartEvent) -> StopEvent:
            return StopEvent(result=1)

    wf = Tiny()
    data = Context(wf).to_dict()
    for name in ("os._wrap_close", "subprocess.Popen", "__main__.Approval"):
        data["queues"] = {"only": [{"event": {"$event": name, "data": {}}, "lineage": 0}]}
        with pytest.raises(ContextSerdeError, match="not in the allowlist"):
            Context.from_dict(wf, data)
