"""Snapshot cost after a long human-in-the-loop history.

A ``Conversation`` run (see ``_conversation.py``) is answered ``rounds`` times and left
waiting at its last question; its state is three small numbers whatever the history.
The caller times one ``handler.ctx.to_dict()`` call, then checks the snapshot is
complete: it cancels the run, restores the snapshot (through ``json``) in a new run,
answers the last question and checks the total over all rounds.

Metrics: ``to_dict_ms@rounds=<n>`` and ``snapshot_kib@rounds=<n>`` per history length.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from _conversation import Conversation, answer_for, converse, expected_total
from _harness import Report, check, main

from workflows import Context
from workflows.errors import WorkflowCancelledByUser
from workflows.events import HumanResponseEvent


@dataclass(frozen=True)
class Params:
    histories: tuple[int, ...]


SIZES = {
    "tiny": Params(histories=(20, 100)),
    "small": Params(histories=(100, 500)),
    "full": Params(histories=(500, 2_000)),
}


async def snapshot_after(wf: Conversation, rounds: int) -> tuple[float, int]:
    """Seconds for ``to_dict`` after ``rounds`` answers, and the snapshot's JSON bytes."""
    handler = wf.run(turns=rounds + 1)
    await converse(handler, answers=rounds)
    start = time.perf_counter()
    snapshot = handler.ctx.to_dict()
    elapsed = time.perf_counter() - start
    encoded = json.dumps(snapshot)

    await handler.cancel_run()
    try:
        await handler
    except WorkflowCancelledByUser:
        pass
    handler = wf.run(ctx=Context.from_dict(wf, json.loads(encoded)))
    await handler.send_event(HumanResponseEvent(turn=rounds, response=answer_for(rounds)))
    result = await handler
    check(
        result == expected_total(rounds + 1),
        f"restored run returned {result!r}, expected {expected_total(rounds + 1)}",
    )
    return elapsed, len(encoded)


async def bench(params: Params, report: Report) -> None:
    wf = Conversation(timeout=None)
    await snapshot_after(wf, 5)
    for rounds in params.histories:
        elapsed, size = await snapshot_after(wf, rounds)
        report.metrics[f"to_dict_ms@rounds={rounds}"] = elapsed * 1e3
        report.metrics[f"snapshot_kib@rounds={rounds}"] = size / 1024


if __name__ == "__main__":
    main("history", SIZES, bench)
