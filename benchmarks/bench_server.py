"""HTTP server throughput and latency, over loopback against one uvicorn process.

- ``runs_per_s``: runs started and finished per second (``POST /workflows/double/runs
  ?wait=true``, ``--concurrency`` clients at once).
- ``server_cpu_ms_per_run``: the server process's CPU time (user + system) during the
  runs/s phase, divided by the runs: the figure that survives a loaded machine, and
  the ceiling ``1000 / server_cpu_ms_per_run`` runs/s one server core could sustain.
  The clients use a minimal keep-alive HTTP/1.1 client (``_raw_http.py``) for that
  phase, so they do not take the CPU the server needs.
- ``answer_to_event_p50_ms`` / ``p99``: an inbox answer POSTed
  (``/requests/{id}/response``) until the run's next stream event (its next prompt)
  arrives on the open SSE stream ``/runs/{id}/events``.

The server runs in a subprocess (``--serve``) on a fresh SQLite file; the client is httpx.
With ``--pending N`` the file first gets N runs waiting for an answer (N pending input
requests), as a busy inbox would have.

    python benchmarks/bench_server.py [--runs 300] [--concurrency 8] [--turns 200] [--pending 0]
        [--workflow double|triple] [--store sqlite|sqlite-full|postgres]
        [--loop auto|asyncio|uvloop] [--http auto|h11|httptools]

``--pending N`` also measures ``answer_released_s``: N runs paused by another process
(so not in the server's memory) all answered over HTTP by 16 clients, until every one
is done. ``--loop``/``--http`` pick uvicorn's event loop and HTTP parser (``auto`` uses
uvloop and httptools when installed: the ``fast`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from _raw_http import RawConnection

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

POSTGRES = os.environ.get("WORKFLOWS_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


class Double(Workflow):
    """Finishes at once."""

    @step
    async def double(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.get("x", 0) * 2)


class Taken(Event):
    x: int


class Doubled(Event):
    x: int


class Triple(Workflow):
    """Three steps (take, double, stop), each a boundary of its own."""

    @step
    async def take(self, ev: StartEvent) -> Taken:
        return Taken(x=ev.get("x", 0))

    @step
    async def double(self, ev: Taken) -> Doubled:
        return Doubled(x=ev.x * 2)

    @step
    async def finish(self, ev: Doubled) -> StopEvent:
        return StopEvent(result=ev.x)


class Chat(Workflow):
    """Asks ``turns`` questions, one after each answer."""

    @step
    async def open(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("turns", ev.turns)
        await ctx.store.set("n", 0)
        return InputRequiredEvent(prefix="q0")

    @step
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        n = await ctx.store.get("n") + 1
        await ctx.store.set("n", n)
        if n >= await ctx.store.get("turns"):
            return StopEvent(result=n)
        return InputRequiredEvent(prefix=f"q{n}")


def serve(port: int, url: str, loop: str, http: str) -> None:
    import uvicorn

    from workflows.server import create_app

    app = create_app(url, workflows())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop=loop, http=http)


async def fill_inbox(url: str, pending: int) -> None:
    """Leave ``pending`` runs waiting for an answer in the store."""
    from workflows.engine import Engine

    async with Engine(url, workflows(), idle_release_after=0) as engine:
        for _ in range(pending):
            await engine.start("chat", turns=1)
        for _ in range(1200):  # the last prompts are committed within a minute
            if len(await engine.inbox(limit=pending + 1)) >= pending:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"fewer than {pending} runs paused")


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES)
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    await conn.close()


def workflows() -> dict[str, Workflow]:
    return {
        "double": Double(timeout=None),
        "triple": Triple(timeout=None),
        "chat": Chat(timeout=None),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def throughput(
    client: httpx.AsyncClient, runs: int, concurrency: int, workflow: str = "double"
) -> float:
    """Runs started and finished per second, ``concurrency`` keep-alive connections."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(runs):
        queue.put_nowait(i)

    async def worker() -> None:
        connection = RawConnection(client.base_url.host, client.base_url.port or 80)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                status, body = await connection.request(
                    "POST", f"/workflows/{workflow}/runs?wait=true", {"input": {"x": i}}
                )
                assert status == 200 and body["result"] == 2 * i, (status, body)
        finally:
            await connection.close()

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return runs / (time.perf_counter() - began)


async def round_trips(client: httpx.AsyncClient, turns: int) -> list[float]:
    run = (await client.post("/workflows/chat/runs", json={"input": {"turns": turns}})).json()
    run_id = run["run_id"]
    latencies: list[float] = []
    sent_at: float | None = None
    async with client.stream("GET", f"/runs/{run_id}/events") as response:
        async for line in response.aiter_lines():
            if not line.startswith("event: "):
                continue
            if sent_at is not None:
                latencies.append(time.perf_counter() - sent_at)
                sent_at = None
            if line == "event: StopEvent":
                break
            if line == "event: InputRequiredEvent":
                requests = (await client.get("/requests", params={"run_id": run_id})).json()
                [request] = requests["requests"]
                sent_at = time.perf_counter()
                answer = await client.post(
                    f"/requests/{request['request_id']}/response", json={"response": "a"}
                )
                assert answer.status_code == 200, answer.text
    assert len(latencies) == turns, (len(latencies), turns)
    return latencies


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(args: argparse.Namespace, url: str, server_pid: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(300):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        result: dict[str, float] = {}
        if args.pending:
            result["answer_released_s"] = round(await answer_released(client, args.pending), 3)
        await throughput(client, 20, 2, args.workflow)  # warm-up
        cpu_before = process_cpu_seconds(server_pid)
        rate = await throughput(client, args.runs, args.concurrency, args.workflow)
        cpu_after = process_cpu_seconds(server_pid)
        if cpu_before is not None and cpu_after is not None:
            result["server_cpu_ms_per_run"] = round((cpu_after - cpu_before) / args.runs * 1000, 3)
        latencies = await round_trips(client, args.turns)
    return {
        **result,
        "runs_per_s": round(rate, 1),
        "answer_to_event_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "answer_to_event_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


async def answer_released(client: httpx.AsyncClient, pending: int) -> float:
    """Answer every pending request (16 clients), until every run is done: seconds."""
    requests: list[str] = []
    while len(requests) < pending:
        page = (
            await client.get("/requests", params={"limit": 1000, "offset": len(requests)})
        ).json()["requests"]
        if not page:
            break
        requests.extend(r["request_id"] for r in page)
    assert len(requests) == pending, (len(requests), pending)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for request_id in requests:
        queue.put_nowait(request_id)

    async def worker() -> None:
        connection = RawConnection(client.base_url.host, client.base_url.port or 80)
        try:
            while not queue.empty():
                request_id = queue.get_nowait()
                status, body = await connection.request(
                    "POST", f"/requests/{request_id}/response", {"response": "a"}
                )
                assert status == 200, (status, body)
        finally:
            await connection.close()

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(16):
            group.create_task(worker())
    while True:  # every run taken its answer and finished (chat, turns=1)
        left = 0
        for status in ("waiting", "running"):
            page = (await client.get("/runs", params={"status": status, "limit": 1})).json()
            left += len(page["runs"])
        if not left:
            return time.perf_counter() - began
        await asyncio.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument(
        "--pending",
        type=int,
        default=0,
        help="runs left waiting (released, by another process) first; then all answered",
    )
    parser.add_argument("--workflow", choices=["double", "triple"], default="double")
    parser.add_argument("--store", choices=["sqlite", "sqlite-full", "postgres"], default="sqlite")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop (auto, asyncio, uvloop)")
    parser.add_argument("--http", default="auto", help="uvicorn --http (auto, h11, httptools)")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2], args.serve[3])
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        url, schema = f"sqlite:///{Path(tmp) / 'bench.db'}", None
        if args.store == "sqlite-full":
            url += "?synchronous=FULL"
        elif args.store == "postgres":
            schema = f"bench_http_{uuid.uuid4().hex[:10]}"
            url = f"{POSTGRES}?schema={schema}"
        try:
            if args.pending:
                asyncio.run(fill_inbox(url, args.pending))
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(port), url, args.loop, args.http]
            )
            try:
                result = asyncio.run(bench(args, f"http://127.0.0.1:{port}", server.pid))
            finally:
                server.terminate()
                server.wait(30)
        finally:
            if schema is not None:
                asyncio.run(_drop_schema(schema))
    sizes = {
        "store": args.store,
        "workflow": args.workflow,
        "loop": args.loop,
        "http": args.http,
        "runs": args.runs,
        "concurrency": args.concurrency,
        "turns": args.turns,
        "pending": args.pending,
    }
    print(json.dumps({"workload": "server", **sizes, **result}))


if __name__ == "__main__":
    main()
