"""The main flows again on ``memory://``: the server does not depend on SQLite."""

from __future__ import annotations

from typing import Any

import httpx

from ._helpers import assert_error, finished_run, pending_requests


async def test_memory_store_flow(start_server: Any) -> None:
    server = start_server("memory://")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        health = (await client.get("/health")).json()
        assert (health["status"], health["store"]) == ("ok", "memory")
        started = await client.post("/workflows/approval/runs", json={"input": {"amount": 3}})
        run_id = started.json()["run_id"]
        [request] = await pending_requests(client, run_id=run_id)
        url = f"/requests/{request['request_id']}/response"
        assert (await client.post(url, json={"response": "no"})).json()["duplicate"] is False
        assert_error(
            await client.post(url, json={"response": "yes"}), 409, "request_already_answered"
        )
        assert (await finished_run(client, run_id))["result"]["verdict"] == "no"
        waited = await client.post("/workflows/double/runs?wait=true", json={"input": {"x": 4}})
        assert waited.json()["result"] == 8
        async with client.stream("GET", f"/runs/{run_id}/events") as response:
            lines = [line async for line in response.aiter_lines() if line.startswith("event:")]
        assert lines[-1] == "event: StopEvent"
        assert_error(await client.get("/runs/none"), 404, "run_not_found")
