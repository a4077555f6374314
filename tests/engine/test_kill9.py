"""kill -9 at random moments: a real worker process is killed while runs are in flight,
paused, or being answered; a fresh engine finishes every run, each step effect once.

Each scenario kills several workers in a row on the same store (a later worker also
recovers what the earlier one left, and may itself die while doing so), then the test's
own engine recovers everything and answers what is still pending.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kill_workflow import WORKFLOWS, expected_log  # noqa: E402

from workflows.engine import Engine  # noqa: E402
from workflows.events import InputRequiredEvent, StopEvent  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_kill_worker.py"
KILLS = 4
RUNS_PER_WORKER = 5
STARTUP_TIMEOUT = 60
FINISH_TIMEOUT = 60


async def _kill_at_random(url: str, rng: random.Random) -> None:
    """Start a worker, wait until its engine is open, SIGKILL it at a random moment."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        url,
        str(RUNS_PER_WORKER),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), STARTUP_TIMEOUT)
        if line.strip() != b"open":
            err = await proc.stderr.read() if proc.stderr else b""
            pytest.fail(f"worker did not open its engine: {line!r} {err.decode()[-2000:]}")
        # The kill point: anywhere from "right after open" (during recovery and the
        # first starts) to well after every run has paused and been answered.
        await asyncio.sleep(rng.uniform(0, 0.4))
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _finish_everything(url: str, kills: int) -> None:
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINISH_TIMEOUT
        while True:
            runs = await engine.runs(limit=10_000)
            unfinished = [r for r in runs if not r.is_finished]
            for request in await engine.inbox(limit=10_000):
                await engine.respond(request.request_id, "yes", idempotency_key="parent")
            if not unfinished:
                break
            assert loop.time() < deadline, (
                f"{len(unfinished)} runs never finished: "
                f"{sorted((r.run_id, r.status) for r in unfinished)}"
            )
            await asyncio.sleep(0.02)
        assert runs, "no run was ever stored"
        assert len(runs) <= kills * RUNS_PER_WORKER
        for record in runs:
            assert record.status == "completed", (record.run_id, record.status, record.error)
            handle = engine.get(record.run_id)
            value = await asyncio.wait_for(handle.result(), FINISH_TIMEOUT)
            assert value["answer"] == "yes"
            assert value["log"] == expected_log("yes"), value
            events = [e async for e in handle.stream_events(after=0)]
            assert sum(isinstance(e, InputRequiredEvent) for e in events) == 1
            assert sum(isinstance(e, StopEvent) for e in events) == 1
            entries = await engine.store.read_stream(record.run_id, after=0)
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        assert await engine.inbox() == []


async def _scenario(url: str, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(KILLS):
        await _kill_at_random(url, rng)
    await _finish_everything(url, KILLS)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill9_sqlite(tmp_path: Path, seed: int) -> None:
    await _scenario(f"sqlite:///{tmp_path / 'runs.db'}", seed)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("seed", [1, 2])
async def test_kill9_postgres(postgres_schema_url: str, seed: int) -> None:
    await _scenario(postgres_schema_url, seed)
