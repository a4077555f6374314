"""A run's creation is consistent on its own, even if the process dies before its next commit."""

from __future__ import annotations

from typing import Any

from _flows import HumanLoop
from _runs import requests_of
from workflows.engine import Engine
from workflows.stores import Commit, SqliteStore


class DiesBeforeFirstCommit(SqliteStore):
    """A real SQLite store whose process 'dies' (stops writing) after create_run."""

    async def commit(self, commit: Commit) -> int:
        raise ConnectionError("process killed")


async def test_a_run_created_but_never_committed_starts_over_cleanly(tmp_path: Any) -> None:
    path = tmp_path / "runs.db"
    dying = DiesBeforeFirstCommit(str(path))
    async with Engine(dying, {"ask": HumanLoop()}) as engine:
        # The first step runs and asks while the creation is written; only the creation
        # lands. start() fails because the run's first commit could not be written.
        try:
            await engine.start("ask")
        except Exception:
            pass
    async with Engine(f"sqlite:///{path}", {"ask": HumanLoop()}) as engine:
        # Opening the store resumed the run from its creation: it asks (once) again.
        (record,) = await engine.runs()
        (request,) = await requests_of(engine)
        await engine.respond(request.request_id, "yes")
        assert await engine.get(record.run_id) == "yes"
        stream = await engine.store.read_stream(record.run_id)
        assert [(e.seq, e.event_type.rsplit(".", 1)[1]) for e in stream] == [
            (1, "InputRequiredEvent"),
            (2, "StopEvent"),
        ]
