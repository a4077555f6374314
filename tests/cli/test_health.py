"""``workflows health`` against a worker's health endpoint: exit 0 while it serves,
1 once its engine failed or when nothing answers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from workflows.cli._app import run_cli
from workflows.cli._health import start_health_endpoint
from workflows.engine import Engine


async def test_health_reports_a_serving_then_a_failed_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = Engine(f"sqlite:///{tmp_path / 'runs.db'}", owner="probe-test")
    async with engine:
        server = await start_health_endpoint(engine, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        try:
            assert await asyncio.to_thread(run_cli, ["health", url]) == 0
            report = json.loads(capsys.readouterr().out)
            assert report["status"] == "ok"
            assert report["components"]["leases"]["held"] == 0
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{url}/nope")).status_code == 404
                assert (await client.post(f"{url}/health")).status_code == 405

            engine.component_failed("writer", RuntimeError("boom"))
            assert await asyncio.to_thread(run_cli, ["health", f"{url}/health"]) == 1
            captured = capsys.readouterr()
            assert json.loads(captured.out)["status"] == "failed"
            assert "503" in captured.err
            assert engine.failure is not None and "writer task crashed" in str(engine.failure)
        finally:
            server.close()
            await server.wait_closed()
    assert await asyncio.to_thread(run_cli, ["health", url, "--timeout", "1"]) == 1
    assert "no answer from" in capsys.readouterr().err
