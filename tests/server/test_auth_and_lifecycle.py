"""Bearer-token auth, CORS, serve() safety, and a graceful restart on the same file."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from _served_flows import server_workflows
from workflows.errors import WorkflowConfigurationError
from workflows.server import serve

from ._helpers import assert_error, finished_run, pending_requests


async def test_token_required_except_health(start_server: Any, sqlite_url: str) -> None:
    server = start_server(sqlite_url, token="s3cret")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.get("/health")).status_code == 200
        for method, path in (
            ("GET", "/workflows"),
            ("GET", "/runs"),
            ("GET", "/openapi.json"),
            ("POST", "/workflows/double/runs"),
            ("GET", "/requests"),
            ("GET", "/requests/stream"),
            ("GET", "/runs/x/events"),
        ):
            response = await client.request(method, path)
            assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get("/runs", headers={"Authorization": "Bearer nope"})
        assert_error(wrong, 401, "unauthorized")
        good = {"Authorization": "Bearer s3cret"}
        assert (await client.get("/runs", headers=good)).status_code == 200
        document = (await client.get("/openapi.json", headers=good)).json()
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_token_from_environment(
    start_server: Any, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKFLOWS_TOKEN", "from-env")
    server = start_server(sqlite_url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert_error(await client.get("/runs"), 401, "unauthorized")
        ok = await client.get("/runs", headers={"Authorization": "Bearer from-env"})
        assert ok.status_code == 200


async def test_cors_off_by_default_and_on_when_asked(start_server: Any, tmp_path: Any) -> None:
    plain = start_server(f"sqlite:///{tmp_path / 'a.db'}")
    allowed = start_server(
        f"sqlite:///{tmp_path / 'b.db'}", cors_origins=["http://app.test"], token="t"
    )
    preflight = {
        "Origin": "http://app.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{plain.url}/runs", headers={"Origin": "http://app.test"})
        assert "access-control-allow-origin" not in response.headers
        response = await client.options(f"{allowed.url}/runs", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://app.test"


def test_serve_refuses_remote_host_without_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKFLOWS_TOKEN", raising=False)
    with pytest.raises(WorkflowConfigurationError, match="without a token"):
        serve(server_workflows(), store="memory://", host="0.0.0.0", port=0)


async def test_graceful_restart_resumes_runs(start_server: Any, sqlite_url: str) -> None:
    first = start_server(sqlite_url)
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        started = await client.post("/workflows/approval/runs", json={"input": {"amount": 7}})
        run_id = started.json()["run_id"]
        [request] = await pending_requests(client, run_id=run_id)
    first.stop()

    second = start_server(sqlite_url)
    async with httpx.AsyncClient(base_url=second.url, timeout=30) as client:
        run = (await client.get(f"/runs/{run_id}")).json()
        assert run["status"] in ("running", "waiting")
        [again] = await pending_requests(client, run_id=run_id)
        assert again["request_id"] == request["request_id"]
        answer = await client.post(
            f"/requests/{request['request_id']}/response", json={"response": "yes"}
        )
        assert answer.json() == {"accepted": True, "duplicate": False}
        done = await finished_run(client, run_id)
        assert done["status"] == "completed"
        assert done["result"] == {"amount": 7, "verdict": "yes"}
