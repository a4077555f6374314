"""The inbox stream while its PostgreSQL server is down: a live server on a private
cluster tells its viewers once that live updates stopped, tells them to re-list when the
database is back, and goes on streaming the changes made from then on."""

from __future__ import annotations

import asyncio

import httpx
from tests.server._sse import messages, take

from _live_server import LiveServer
from _pgcluster import PgCluster
from _served_flows import server_workflows
from _wait import TIMEOUT
from workflows.server import create_app
from workflows.stores import Commit, InputRequest, RunRecord, open_store


async def test_the_inbox_stream_reports_an_outage_once_and_resyncs_after_it(
    pg_cluster: PgCluster, fault_schema: str
) -> None:
    url = pg_cluster.url(fault_schema)
    # No heartbeat in the test's time: what arrives is the reader's own doing.
    server = LiveServer(create_app(url, server_workflows(), heartbeat=60)).start()
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=60) as client,
            client.stream("GET", "/requests/stream") as response,
        ):
            stream = messages(response)
            connected = await asyncio.wait_for(stream.__anext__(), TIMEOUT)
            assert (connected.event, connected.data) == (":", "connected")
            await pg_cluster.stop()
            [error] = await take(stream, 1)
            assert error.event == "error"
            assert error.json()["error"]["code"] == "store_unavailable", error.data
            await pg_cluster.start()
            # The next message: the outage is over (no second error meanwhile).
            [resync] = await take(stream, 1)
            assert (resync.event, resync.data) == ("resync", "{}")

            outside = await open_store(url)  # another process writes a new request
            try:
                await outside.create_run(RunRecord.new("run-1", "expense", {}, status="waiting"))
                request = InputRequest.new("req-1", "run-1", "expense", "", {})
                await outside.commit(Commit("run-1", 0, {}, "waiting", new_requests=[request]))
            finally:
                await outside.close()
            [created] = await take(stream, 1)
            assert (created.event, created.json()["request_id"]) == ("request_created", "req-1")
    finally:
        server.stop()
