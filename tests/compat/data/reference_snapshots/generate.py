"""Write the LlamaIndex Workflows snapshots that ``tests/compat`` resumes with this library.

Runs only with the reference library installed (``llama-index-workflows==2.26.1``), never
with this project's venv. From the repository root::

    /tmp/ref/refvenv/bin/python tests/compat/data/reference_snapshots/generate.py

It executes ``tests/compat/_reference_workflows.py`` in this script's ``__main__`` (so the
snapshots name its classes ``__main__.X``, as a user's script would). For each scenario
there it starts the run, lets it pause, takes ``ctx.to_dict()`` (the default
``JsonSerializer``) and cancels the run; then it restores the snapshot under the
reference itself and finishes the run with the scenario's answers, recording what the
reference ends with. Each ``<scenario>.json`` holds:

- ``snapshot``: the reference's ``ctx.to_dict()``, untouched;
- ``at_pause``: the scenario's ``observe()`` of the restored context, before resuming;
- ``result``: what ``await handler`` returned after resuming;
- ``final``: ``observe()`` after the resumed run ended;
- ``prompts_after_resume``: the InputRequiredEvents the resumed run wrote to the stream;
- ``uninterrupted_result``: the result of the same run answered live, never paused.

pytest does not collect this file (its name does not match ``test_*.py``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REFERENCE = "2.26.1"
HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "_reference_workflows.py"

try:
    _installed = version("llama-index-workflows")
except PackageNotFoundError:
    _installed = None
if _installed != REFERENCE:
    sys.exit(f"run this with llama-index-workflows=={REFERENCE} installed (found {_installed})")

# The shared workflows become this module's own classes: __main__.Interview, ...
exec(compile(SHARED.read_text(encoding="utf-8"), str(SHARED), "exec"), globals())

from workflows import Context  # noqa: E402  (the reference library)
from workflows.context import JsonSerializer  # noqa: E402
from workflows.events import InputRequiredEvent  # noqa: E402

SCENARIOS: dict[str, Any] = globals()["SCENARIOS"]


def _quiet(snapshot: dict[str, Any]) -> bool:
    return all(not w["queue"] and not w["in_progress"] for w in snapshot["workers"].values())


def _job_held(snapshot: dict[str, Any]) -> bool:
    workers = snapshot["workers"]
    return (
        bool(workers["gather"]["collected_events"])
        and len(workers["work"]["in_progress"]) == 1
        and len(workers["work"]["queue"]) == 2
    )


async def _pause(name: str, scenario: Any) -> dict[str, Any]:
    """Run the scenario under the reference until it pauses; return its snapshot."""
    wf = scenario.workflow()
    held = name.startswith("queued_and_collect")
    if held:
        wf.gate = asyncio.Event()
    handler = wf.run(**scenario.start)
    answered = scenario.answered()
    seen = 0
    if scenario.prompts:
        async for ev in handler.stream_events():
            if isinstance(ev, InputRequiredEvent):
                seen += 1
                if seen == scenario.prompts:
                    break
                if seen <= len(answered):
                    handler.ctx.send_event(answered[seen - 1])
    settled = _job_held if held else _quiet
    for _ in range(500):
        await asyncio.sleep(0.01)
        snapshot = handler.ctx.to_dict()
        if settled(snapshot):
            break
    else:
        raise RuntimeError(f"{name}: the run did not pause")
    await handler.cancel_run()
    try:
        await handler
    except Exception:  # the cancelled run ends with an error; only the snapshot matters
        pass
    return json.loads(json.dumps(snapshot))


async def _finish(scenario: Any, snapshot: dict[str, Any]) -> dict[str, Any]:
    """Resume the snapshot under the reference and record how the run ends."""
    wf = scenario.workflow()
    serializer = None
    if scenario.reference_allowed_types:
        serializer = JsonSerializer(allowed_types=scenario.reference_allowed_types)
    ctx = Context.from_dict(wf, snapshot, serializer=serializer)
    at_pause = await scenario.observe(ctx)
    handler = wf.run(ctx=ctx)
    for answer in scenario.answers():
        handler.ctx.send_event(answer)
    prompts = [
        {"type": type(ev).__name__, "data": ev.model_dump(mode="json")}
        async for ev in handler.stream_events()
        if isinstance(ev, InputRequiredEvent)
    ]
    result = await handler
    return {
        "at_pause": at_pause,
        "result": result,
        "final": await scenario.observe(handler.ctx),
        "prompts_after_resume": prompts,
    }


async def _uninterrupted(scenario: Any) -> Any:
    """The result of the same run under the reference, answered live (no snapshot)."""
    handler = scenario.workflow().run(**scenario.start)
    answered = scenario.answered()
    seen = 0
    async for ev in handler.stream_events():
        if isinstance(ev, InputRequiredEvent):
            seen += 1
            if seen <= len(answered):
                handler.ctx.send_event(answered[seen - 1])
            if seen == scenario.prompts:
                for answer in scenario.answers():
                    handler.ctx.send_event(answer)
    return await handler


async def main() -> None:
    for name, scenario in SCENARIOS.items():
        snapshot = await _pause(name, scenario)
        outcome = await _finish(scenario, snapshot)
        document = {
            "about": f"written by generate.py under llama-index-workflows {REFERENCE}",
            "scenario": name,
            "snapshot": snapshot,
            **outcome,
            "uninterrupted_result": await _uninterrupted(scenario),
        }
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{path.name}: result {outcome['result']!r}")


if __name__ == "__main__":
    asyncio.run(main())
