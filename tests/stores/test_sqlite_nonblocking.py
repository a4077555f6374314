"""SqliteStore does its I/O on a worker thread: the event loop keeps running meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from workflows.stores import Commit, InputRequest, RunRecord, SqliteStore


def _disk_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


async def test_the_event_loop_keeps_ticking_during_a_large_commit(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "runs.db", synchronous="FULL") as store:
        await store.create_run(RunRecord.new("r1", "flow", {}))
        stream = [(seq, "Tick", {"seq": seq, "pad": "x" * 200}) for seq in range(1, 20_001)]
        ticks = 0
        committed = False

        async def commit() -> None:
            nonlocal committed
            try:
                await store.commit(Commit("r1", 0, {"big": True}, "running", stream=stream))
            finally:
                committed = True

        async def ticker() -> None:
            nonlocal ticks
            while not committed:
                ticks += 1
                await asyncio.sleep(0)

        # commit() starts first: were it to block the loop, the ticker would only run
        # after it finished and count at most once.
        await asyncio.gather(commit(), ticker())
        assert ticks >= 10
        assert len(await store.read_stream("r1")) == 20_000


async def test_paused_runs_stay_small_on_disk(tmp_path: Path) -> None:
    """A small paused run (snapshot, two stream entries, one request) costs < 2,000 bytes."""
    path = tmp_path / "runs.db"
    async with SqliteStore(path):
        pass
    empty = _disk_size(tmp_path)
    snapshot = {
        "state": {"user": "ann", "amount": 120},
        "waiters": [{"key": "3:0"}],
        "x": "y" * 300,
    }
    schema = {
        "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
        "required": ["approved"],
        "type": "object",
    }
    count = 500
    async with SqliteStore(path) as store:
        for i in range(count):
            run_id = f"{i:032x}"
            await store.create_run(RunRecord.new(run_id, "approval", snapshot))
            request = InputRequest.new(
                f"{i:032x}", run_id, "approval", "ApprovalRequired", {"prefix": "OK?"}, schema
            )
            await store.commit(
                Commit(
                    run_id,
                    0,
                    snapshot,
                    "waiting",
                    stream=[(1, "Draft", {"text": "x" * 80}), (2, "ApprovalRequired", {})],
                    new_requests=[request],
                )
            )
    # closing the last connection checkpoints the WAL into the database file
    total = _disk_size(tmp_path) - empty
    assert total / count < 2_000
