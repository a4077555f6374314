"""A run paused in ``wait_for_event`` resumes in another process.

Two fresh interpreters run the same program: the first starts a run with two
concurrent waiters, answers one, snapshots once that answer is collected, writes the
snapshot to a file and cancels; the second restores the snapshot, answers the other
waiter and prints the result. State values (a registered pydantic model, a workflow
event) and the collect buffer must survive the trip; no prompt is written again; the
code before each wait ran once for the answered waiter and twice in total for the
one that was still waiting (its step is re-run on restore).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

PROGRAM = r"""
import asyncio
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from workflows import Context, Workflow, step
from workflows.context import JsonSerializer
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

MODE, SNAPSHOT, COUNTER = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])


class Note(BaseModel):
    text: str
    tags: list[str]


class Ask(Event):
    rid: str


class Got(Event):
    rid: str
    answer: str


class Collected(Event):
    rid: str


SERIALIZER = JsonSerializer(extra_types=[Note, Collected])


class Review(Workflow):
    @step
    async def start(self, ctx: Context, ev: StartEvent) -> Ask | None:
        await ctx.store.set("note", Note(text=ev.topic, tags=["x", "y"]))
        for rid in ("alpha", "beta"):
            ctx.send_event(Ask(rid=rid))
        return None

    @step(num_workers=2)
    async def ask(self, ctx: Context, ev: Ask) -> Got:
        with COUNTER.open("a") as out:
            out.write(f"{MODE} {ev.rid}\n")
        reply = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"{ev.rid}? ", rid=ev.rid),
            waiter_id=ev.rid,
            requirements={"rid": ev.rid},
        )
        return Got(rid=ev.rid, answer=reply.response)

    @step
    async def gather(self, ctx: Context, ev: Got) -> StopEvent | None:
        got = ctx.collect_events(ev, [Got, Got])
        if got is None:
            await ctx.store.set("first", ev)
            ctx.write_event_to_stream(Collected(rid=ev.rid))
            return None
        note = await ctx.store.get("note")
        first = await ctx.store.get("first")
        return StopEvent(
            result={
                "note": [type(note).__name__, note.text, note.tags],
                "first": [type(first).__name__, first.rid, first.answer],
                "answers": {g.rid: g.answer for g in got},
            }
        )


async def pause(answer_alpha: bool) -> None:
    handler = Review(timeout=30).run(topic="budget")
    prompts = []
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            prompts.append(ev.rid)
            if len(prompts) == 2:
                if not answer_alpha:
                    SNAPSHOT.write_text(json.dumps(handler.ctx.to_dict(serializer=SERIALIZER)))
                    break
                await handler.send_event(HumanResponseEvent(response="A-alpha", rid="alpha"))
        elif isinstance(ev, Collected):
            SNAPSHOT.write_text(json.dumps(handler.ctx.to_dict(serializer=SERIALIZER)))
            break
    await handler.cancel_run()
    print("PROMPTS " + json.dumps(sorted(prompts)))


async def relay() -> None:
    # Restore, answer alpha, snapshot again once it is collected, cancel.
    workflow = Review(timeout=30)
    data = json.loads(SNAPSHOT.read_text())
    handler = workflow.run(ctx=Context.from_dict(workflow, data, serializer=SERIALIZER))
    await handler.send_event(HumanResponseEvent(response="A-alpha", rid="alpha"))
    names = []
    async for ev in handler.stream_events():
        names.append(type(ev).__name__)
        if isinstance(ev, Collected):
            SNAPSHOT.write_text(json.dumps(handler.ctx.to_dict(serializer=SERIALIZER)))
            break
    await handler.cancel_run()
    print("EVENTS " + json.dumps(names))


async def resume() -> None:
    workflow = Review(timeout=30)
    data = json.loads(SNAPSHOT.read_text())
    handler = workflow.run(ctx=Context.from_dict(workflow, data, serializer=SERIALIZER))
    await handler.send_event(HumanResponseEvent(response="A-beta", rid="beta"))
    names = [type(ev).__name__ async for ev in handler.stream_events()]
    result = await handler
    print("EVENTS " + json.dumps(names))
    print("RESULT " + json.dumps(result))


MODES = {
    "pause": lambda: pause(answer_alpha=True),
    "pause-early": lambda: pause(answer_alpha=False),
    "relay": relay,
    "resume": resume,
}
asyncio.run(asyncio.wait_for(MODES[MODE](), timeout=60))
"""


def run_program(script: Path, mode: str, snapshot: Path, counter: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(script), mode, str(snapshot), str(counter)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=str(script.parent),
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    report = f"{mode} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    out: dict[str, object] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in {"PROMPTS", "EVENTS", "RESULT"}:
            out[key] = json.loads(value)
    return out


@pytest.mark.parametrize(
    ("modes", "reruns"),
    [
        pytest.param(
            ("pause",),
            # alpha finished before the snapshot; beta was waiting and is re-run once.
            {("pause", "alpha"): 1, ("pause", "beta"): 1, ("resume", "beta"): 1},
            id="a wait paused in one process resumes in another",
            marks=pytest.mark.timeout(240),
        ),
        pytest.param(
            ("pause-early", "relay"),
            # Each process that restored a waiting step re-ran the code before its wait once.
            {
                ("pause-early", "alpha"): 1,
                ("pause-early", "beta"): 1,
                ("relay", "alpha"): 1,
                ("relay", "beta"): 1,
                ("resume", "beta"): 1,
            },
            id="a run hops through three processes",
            marks=pytest.mark.timeout(300),
        ),
    ],
)
def test_a_paused_run_resumes_in_other_processes(
    tmp_path: Path, modes: tuple[str, ...], reruns: dict[tuple[str, str], int]
) -> None:
    script = tmp_path / "review_program.py"
    script.write_text(PROGRAM)
    snapshot = tmp_path / "snapshot.json"
    counter = tmp_path / "before_wait.txt"

    first, *relays = modes
    paused = run_program(script, first, snapshot, counter)
    assert paused["PROMPTS"] == ["alpha", "beta"]
    data = json.loads(snapshot.read_text())
    assert isinstance(data, dict) and "format_version" in data

    for relay in relays:
        relay_events = run_program(script, relay, snapshot, counter)["EVENTS"]
        assert isinstance(relay_events, list)
        assert "InputRequiredEvent" not in relay_events
        assert relay_events[-1] == "Collected"

    resumed = run_program(script, "resume", snapshot, counter)
    assert resumed["RESULT"] == {
        "note": ["Note", "budget", ["x", "y"]],
        "first": ["Got", "alpha", "A-alpha"],
        "answers": {"alpha": "A-alpha", "beta": "A-beta"},
    }
    events = resumed["EVENTS"]
    assert isinstance(events, list)
    assert "InputRequiredEvent" not in events, "a prompt was written again after the restore"
    assert "StartEvent" not in events
    assert events[-1] == "StopEvent"

    runs = Counter(tuple(line.split()) for line in counter.read_text().splitlines())
    assert runs == reruns
