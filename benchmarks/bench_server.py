"""HTTP server throughput and latency, over loopback against one uvicorn process.

- ``runs_per_s``: runs started and finished per second (``POST /workflows/double/runs
  ?wait=true``, ``--concurrency`` clients at once).
- ``answer_to_event_p50_ms`` / ``p99``: an inbox answer POSTed
  (``/requests/{id}/response``) until the run's next stream event (its next prompt)
  arrives on the open SSE stream ``/runs/{id}/events``.

The server runs in a subprocess (``--serve``) on a fresh SQLite file; the client is httpx.
With ``--pending N`` the file first gets N runs waiting for an answer (N pending input
requests), as a busy inbox would have.

    python benchmarks/bench_server.py [--runs 300] [--concurrency 8] [--turns 200] [--pending 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Double(Workflow):
    """Finishes at once."""

    @step
    async def double(self, ev: StartEvent) -> StopEvent:
        return StopEvent(result=ev.get("x", 0) * 2)


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


def serve(port: int, db: str) -> None:
    import uvicorn

    from workflows.server import create_app

    app = create_app(f"sqlite:///{db}", workflows())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def fill_inbox(db: str, pending: int) -> None:
    """Leave ``pending`` runs waiting for an answer in the store."""
    from workflows.engine import Engine

    async with Engine(f"sqlite:///{db}", workflows(), idle_release_after=0) as engine:
        for _ in range(pending):
            await engine.start("chat", turns=2)
        for _ in range(1200):  # the last prompts are committed within a minute
            if len(await engine.inbox(limit=pending + 1)) >= pending:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"fewer than {pending} runs paused")


def workflows() -> dict[str, Workflow]:
    return {"double": Double(timeout=None), "chat": Chat(timeout=None)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def throughput(client: httpx.AsyncClient, runs: int, concurrency: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(runs):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            r = await client.post("/workflows/double/runs?wait=true", json={"input": {"x": i}})
            assert r.status_code == 200 and r.json()["result"] == 2 * i, r.text

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


async def bench(args: argparse.Namespace, url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(300):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        await throughput(client, 20, 2)  # warm-up
        rate = await throughput(client, args.runs, args.concurrency)
        latencies = await round_trips(client, args.turns)
    return {
        "runs_per_s": round(rate, 1),
        "answer_to_event_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "answer_to_event_p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--pending", type=int, default=0, help="pending requests to add first")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        if args.pending:
            asyncio.run(fill_inbox(db, args.pending))
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), db])
        try:
            result = asyncio.run(bench(args, f"http://127.0.0.1:{port}"))
        finally:
            server.terminate()
            server.wait(30)
    sizes = {
        "runs": args.runs,
        "concurrency": args.concurrency,
        "turns": args.turns,
        "pending": args.pending,
    }
    print(json.dumps({"workload": "server", **sizes, **result}))


if __name__ == "__main__":
    main()
