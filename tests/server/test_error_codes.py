"""Error kinds the other server tests do not reach, answered with their codes over HTTP.

The codes of refused input (``bad_parameter``, ``json_too_deep``, ``run_not_found``,
``idempotency_conflict``, ...) are checked where that input is tested
(``test_api.py``, ``test_hostile_input.py``); these need a store in a given state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from _damage import TRUNCATED, damage
from _live_server import LiveServer
from _served_flows import Double, server_workflows
from _wait import TIMEOUT
from workflows.client import WorkflowClient
from workflows.errors import WorkflowConfigurationError
from workflows.server import create_app
from workflows.stores import open_store

from ._helpers import assert_error, pending_requests


async def _waiting_run(url: str) -> tuple[str, str]:
    """A run of ``approval`` stored in ``url``, waiting on its request (the server that
    started it is stopped again)."""
    server = LiveServer(create_app(url, server_workflows(), heartbeat=0.5)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            started = await client.post("/workflows/approval/runs", json={"input": {"amount": 3}})
            run_id = started.json()["run_id"]
            [request] = await pending_requests(client, run_id=run_id)
    finally:
        server.stop()
    return run_id, request["request_id"]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'codes.db'}"


async def test_a_run_of_a_workflow_this_server_does_not_serve(url: str) -> None:
    run_id, request_id = await _waiting_run(url)
    server = LiveServer(create_app(url, {"double": Double(timeout=None)}, heartbeat=0.5)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            sent = await client.post(
                f"/runs/{run_id}/events", json={"type": "HumanResponseEvent", "data": {}}
            )
            assert (
                "'approval'"
                in assert_error(sent, 409, "workflow_not_registered")["error"]["message"]
            )
            streamed = await client.get(f"/runs/{run_id}/events")
            assert_error(streamed, 409, "workflow_not_registered")
            answered = await client.post(
                f"/requests/{request_id}/response", json={"response": "yes"}
            )
            assert_error(answered, 409, "workflow_not_registered")
        async with WorkflowClient(server.url) as remote:
            with pytest.raises(WorkflowConfigurationError, match="not registered"):
                await remote.respond(request_id, "yes")
    finally:
        server.stop()


async def test_a_damaged_run_answers_corrupt_record(url: str) -> None:
    run_id, _ = await _waiting_run(url)
    store = await open_store(url)
    try:
        await damage(store, "wf_runs", "snapshot", TRUNCATED, run_id)
    finally:
        await store.close()
    server = LiveServer(create_app(url, server_workflows(), heartbeat=0.5)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as client:
            sent = await client.post(
                f"/runs/{run_id}/events", json={"type": "HumanResponseEvent", "data": {}}
            )
            assert (
                "cannot be decoded" in assert_error(sent, 409, "corrupt_record")["error"]["message"]
            )
            async with client.stream("GET", f"/runs/{run_id}/events") as stream:
                assert stream.status_code == 200
                text = (await stream.aread()).decode()
            # The stream says why it ends, in the same vocabulary.
            assert "event: error" in text and '"code": "corrupt_record"' in text, text
    finally:
        server.stop()


def test_an_error_of_the_app_itself_has_a_code(tmp_path: Path, start_server: Any) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'routes.db'}")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert_error(client.get("/no/such/route"), 404, "not_found")
        assert_error(client.delete("/runs"), 405, "method_not_allowed")
        assert_error(client.post("/workflows/double/runs", content=b"{"), 400, "malformed_json")
