"""Stopping a worker: SIGTERM gives every run back and exits in bounded time; a failing
engine takes its worker down loudly instead of leaving it half alive.

CI runs this module on several Python versions (``.ci/run``): the stop path once hung on
3.10/3.11, where ``asyncio.wait_for`` can swallow a cancellation.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _fleet import POLL, fleet, workflows

from _wait import until
from workflows.engine import Engine

HERE = Path(__file__).resolve().parent
#: Engine.close() waits 10 s at most per phase; beside start-up on a slow machine.
STOP_BOUND = 25.0


async def test_sigterm_gives_every_run_back_and_exits_in_bounded_time(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    async with Engine(postgres_schema_url, workflows(), execute=False, poll_interval=POLL) as api:
        with fleet(postgres_schema_url, tmp_path, "W") as workers:
            waiting = [await api.start("fleet", n=i) for i in range(5)]
            busy = [await api.start("slow", seconds=60.0) for _ in range(3)]

            async def all_taken() -> bool:
                records = [await api.store.get_run(h.run_id) for h in waiting + busy]
                asked = len(await api.inbox(limit=100)) == len(waiting)
                return asked and all(r.owner == "W" for r in records)

            await until(all_taken, "the worker to hold every run", 60)
            worker = workers["W"].process
            worker.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # Runs created while it stops are left to others.
            late = [await api.start("slow", seconds=0.0) for _ in range(5)]
            code = await asyncio.to_thread(worker.wait, STOP_BOUND + 30)
            took = time.monotonic() - signalled
            assert code == 0, workers["W"].output()
            assert took < STOP_BOUND, f"stopping took {took:.1f} s"
            for handle in waiting + busy + late:
                record = await api.store.get_run(handle.run_id)
                assert record.owner is None, (record.run_id, record.owner)
                assert record.status in ("running", "waiting")
            for handle in late:
                assert (await api.store.get_run(handle.run_id)).version == 0  # never claimed
            assert "its runs are free for other workers" in workers["W"].output()
    print(f"python {sys.version_info[:2]}: stopped in {took:.2f} s")


async def test_a_worker_whose_engine_fails_exits_nonzero_and_gives_runs_back(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """The crash is injected through a workflow module that breaks the commit writer
    of the worker process it runs in (``_broken_writer.py``)."""
    module = HERE / "_broken_writer.py"
    async with Engine(postgres_schema_url, workflows(), execute=False, poll_interval=POLL) as api:
        with fleet(
            postgres_schema_url, tmp_path, "B", target=f"{module}:WORKFLOWS", health_port=0
        ) as workers:
            port = await workers["B"].health_port()
            async with httpx.AsyncClient() as client:
                body = (await client.get(f"http://127.0.0.1:{port}/health")).json()
            assert body["status"] == "ok", body
            assert body["components"]["listener"]["state"] in ("connecting", "listening")
            handle = await api.start("fleet", n=1)
            code = await asyncio.to_thread(workers["B"].process.wait, STOP_BOUND + 30)
            output = workers["B"].output()
            assert code == 1, output
            assert "writer task crashed" in output
            record = await api.store.get_run(handle.run_id)
            assert record.owner is None  # given back: another worker may take it at once


async def test_a_server_whose_engine_fails_exits_nonzero(tmp_path: Path) -> None:
    """``workflows serve`` stops (gracefully) and exits non-zero once its engine fails,
    so its supervisor restarts it; it does not keep answering with a dead engine."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    server = _serve_broken(tmp_path, port, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            try:
                await until(healthy, "the server to answer /health")
            except AssertionError:
                log.flush()
                raise AssertionError((tmp_path / "serve.log").read_text()) from None
            started = await client.post("/workflows/fleet/runs", json={"input": {"n": 1}})
            assert started.status_code >= 500  # the run could not be stored
        code = await asyncio.to_thread(server.wait, 30)
    finally:
        if server.poll() is None:
            server.kill()
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code != 0, output
    assert "writer task crashed" in output


def _serve_broken(tmp_path: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    module = HERE / "_broken_writer.py"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflows.cli",
            "serve",
            f"{module}:WORKFLOWS",
            "--store",
            f"sqlite:///{tmp_path / 'runs.db'}",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
