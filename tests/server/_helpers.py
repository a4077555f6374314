"""Bounded polling over HTTP (no fixed sleeps as synchronisation) and error checks."""

from __future__ import annotations

from typing import Any

import httpx

from _wait import until
from workflows.error_codes import lookup


async def started_run(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    """``POST /workflows/{name}/runs`` with ``fields`` as the input: the new run (201)."""
    response = await client.post(f"/workflows/{name}/runs", json={"input": fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


async def pending_requests(
    client: httpx.AsyncClient, count: int = 1, **params: Any
) -> list[dict[str, Any]]:
    """``GET /requests`` once it lists at least ``count`` requests."""

    async def listed() -> list[dict[str, Any]] | None:
        response = await client.get("/requests", params=params)
        assert response.status_code == 200, response.text
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests if len(requests) >= count else None

    return await until(listed, f"{count} pending requests")


async def finished_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """``GET /runs/{run_id}`` once the run has finished."""

    async def finished() -> dict[str, Any] | None:
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run if run["status"] not in ("running", "waiting") else None

    return await until(finished, f"run {run_id} to finish")


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
