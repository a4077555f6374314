"""Bounded polling over HTTP (no fixed sleeps as synchronisation)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from workflows.error_codes import lookup

TIMEOUT = 30.0


async def pending_requests(
    client: httpx.AsyncClient, count: int = 1, **params: Any
) -> list[dict[str, Any]]:
    """``GET /requests`` once it lists at least ``count`` requests."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        response = await client.get("/requests", params=params)
        assert response.status_code == 200, response.text
        requests: list[dict[str, Any]] = response.json()["requests"]
        if len(requests) >= count:
            return requests
        assert loop.time() < deadline, f"only {len(requests)} of {count} requests"
        await asyncio.sleep(0.02)


async def finished_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """``GET /runs/{run_id}`` once the run has finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] not in ("running", "waiting"):
            return run
        assert loop.time() < deadline, f"run still {run['status']}"
        await asyncio.sleep(0.02)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error of the contract with this status and code, which
    the one table of codes answers with this status."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, (body["error"]["code"], body["error"]["message"])
    assert lookup(code).status == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body
