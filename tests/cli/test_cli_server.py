"""``workflows serve`` in a subprocess, and ``runs``/``inbox``/``respond`` against it."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import aclosing

import pytest

from workflows.client import WorkflowClient
from workflows.events import InputRequiredEvent

from .conftest import Cli


@pytest.fixture
def served(cli: Cli) -> Iterator[str]:
    """``workflows serve flows:ALL`` on a free port; yields its URL once it listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**cli.env, "WORKFLOWS_TOKEN": "s3cret"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflows.cli",
            "serve",
            "flows:ALL",
            "--store",
            cli.store,
            "--port",
            str(port),
            "--max-body",
            "4096",
        ],
        cwd=cli.cwd,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # uvicorn says so once it accepts connections
        seen.append(line)
        if "Uvicorn running on" in line:
            break
    else:
        pytest.fail(f"server did not start: {''.join(seen)}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


async def start_and_wait_for_prompt(url: str) -> str:
    async with WorkflowClient(url, "s3cret") as client:
        handle = await client.start("approval", amount=3)
        async with aclosing(handle.stream_events()) as stream:
            async for event in stream:
                if isinstance(event, InputRequiredEvent):
                    break
        return handle.run_id


async def result_of(url: str, run_id: str) -> object:
    async with WorkflowClient(url, "s3cret") as client:
        return await client.get(run_id)


def test_commands_against_a_server(cli: Cli, served: str) -> None:
    run_id = asyncio.run(start_and_wait_for_prompt(served))
    cli.env["WORKFLOWS_TOKEN"] = "s3cret"

    inbox = cli("inbox", "--url", served, "--json")
    assert inbox.code == 0, inbox.err
    (request,) = json.loads(inbox.out)
    assert request["run_id"] == run_id and request["prompt_text"] == "Approve 3?"

    runs = cli("runs", "--url", served, "--status", "waiting", "--json")
    assert [r["run_id"] for r in json.loads(runs.out)] == [run_id]

    answered = cli("respond", request["request_id"], '{"approved": true}', "--url", served)
    assert answered.code == 0, answered.err
    assert asyncio.run(result_of(served, run_id)) == {"amount": 3, "approved": True, "note": ""}
    again = cli("respond", request["request_id"], '{"approved": true}', "--url", served)
    assert "already answered" in again.err

    denied = cli("runs", "--url", served, "--token", "wrong")
    assert denied.code == 1 and len(denied.err_lines) == 1
    assert "unauthorized" in denied.err


def test_serve_applies_its_body_limit(served: str) -> None:
    import httpx

    body = {"input": {"note": "x" * 5000}}
    response = httpx.post(
        f"{served}/workflows/approval/runs",
        json=body,
        headers={"Authorization": "Bearer s3cret"},
    )
    assert response.status_code == 413, response.text
    assert "4096" in response.text
