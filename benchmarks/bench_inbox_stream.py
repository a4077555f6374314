"""The inbox stream under hundreds of viewers: ``/health`` latency and server memory.

One uvicorn process serves a store holding ``--pending`` runs that wait for an answer
(as many pending input requests). A second process opens ``--subscribers`` connections
to ``GET /requests/stream`` (raw sockets, counting the messages each receives). Then,
for ``--seconds``, this process answers pending requests at ``--rate`` answers/s — each
answer closes one request and the run asks its next question, two inbox changes — while
it probes ``GET /health`` every ``--probe-every`` seconds on its own connection.

The same answers are first made without any subscriber (what the engine itself costs),
then with all of them connected. Reported (one JSON line): ``/health`` p50/p99/max in ms
idle, while answering without subscribers, and while answering with them; the server's
RSS (``/proc/<pid>/status``) at start, after the answers without subscribers (the base),
once the subscribers are connected, and its peak while answering with them
(``rss_growth_mib`` = peak - base); the server's CPU use in both answering phases
(``/proc/<pid>/stat``, less sensitive to other load on the machine than latencies); and
the delivery check. The run
fails (exit 1) if any subscriber missed a change without being told to resync, or if a
subscriber's connection was refused or dropped.

    python benchmarks/bench_inbox_stream.py [--subscribers 500] [--pending 1000]
        [--seconds 20] [--rate 5] [--store sqlite|postgresql://...]
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
from typing import Any

import httpx

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Chat(Workflow):
    """Asks a question after every answer, ``turns`` times."""

    @step
    async def open(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("n", 0)
        return InputRequiredEvent(prefix="q0")

    @step
    async def answer(self, ctx: Context, ev: HumanResponseEvent) -> InputRequiredEvent | StopEvent:
        n = await ctx.store.get("n") + 1
        await ctx.store.set("n", n)
        if n >= 1_000_000:
            return StopEvent(result=n)
        return InputRequiredEvent(prefix=f"q{n}")


def workflows() -> dict[str, Workflow]:
    return {"chat": Chat(timeout=None)}


# -- the server process -------------------------------------------------------------------------
def serve(port: int, store: str) -> None:
    """``workflows.server.serve()``, as ``workflows serve`` runs it."""
    from workflows.server import serve as serve_workflows

    profile = os.environ.get("BENCH_PROFILE")
    if profile:  # BENCH_PROFILE=/tmp/server.prof: cProfile the server process
        import cProfile
        import signal

        # uvicorn re-raises SIGTERM once it stopped: let that return here to dump.
        signal.signal(signal.SIGTERM, lambda *_: None)
        with cProfile.Profile() as profiler:
            serve_workflows(workflows(), store, port=port, log_level="warning")
        profiler.dump_stats(profile)
        return
    serve_workflows(workflows(), store, port=port, log_level="warning")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def fill_inbox(store: str, pending: int) -> None:
    """Leave ``pending`` runs waiting for an answer in the store."""
    from workflows.engine import Engine

    async with Engine(store, workflows(), idle_release_after=0) as engine:
        for _ in range(pending):
            await engine.start("chat")
        for _ in range(2400):
            if len(await engine.inbox(limit=pending + 1)) >= pending:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"fewer than {pending} runs paused")


async def drop_schema(base: str, store: str) -> None:
    import asyncpg

    schema = store.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# -- the subscribers process --------------------------------------------------------------------
class Counts:
    """What one subscriber received."""

    def __init__(self) -> None:
        self.created = 0
        self.closed = 0
        self.resyncs = 0
        self.errors = 0
        self.ended = False


async def subscriber(port: int, counts: Counts, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        b"GET /requests/stream HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    )
    try:
        while True:
            line = await reader.readline()
            if not line:
                counts.ended = True
                return
            if line.startswith(b": connected"):
                ready.set()
            elif line.startswith(b"event: "):
                kind = line[7:].strip()
                if kind == b"request_created":
                    counts.created += 1
                elif kind == b"request_closed":
                    counts.closed += 1
                elif kind == b"resync":
                    counts.resyncs += 1
                elif kind == b"error":
                    counts.errors += 1
    finally:
        writer.close()


async def subscribers_main(port: int, count: int) -> None:
    """Connect ``count`` subscribers; print ``ready``; on ``expect N`` from stdin, wait
    until every one counted N closed requests (or 60 s) and print the counts."""
    all_counts = [Counts() for _ in range(count)]
    readies = [asyncio.Event() for _ in range(count)]
    tasks = []
    for i in range(count):
        tasks.append(asyncio.ensure_future(subscriber(port, all_counts[i], readies[i])))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # a burst of 500 connects is not what is measured
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 300)
    print("ready", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    expected = int(line.split()[1])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(c.closed >= expected or c.resyncs or c.ended for c in all_counts):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # late duplicates would show up here
    complete = [c for c in all_counts if c.created == expected and c.closed == expected]
    summary = {
        "complete": len(complete),
        "resynced": sum(1 for c in all_counts if c.resyncs),
        "missed": sum(1 for c in all_counts if c not in complete and not c.resyncs),
        "errors": sum(c.errors for c in all_counts),
        "ended": sum(1 for c in all_counts if c.ended),
        "created_min_max": [min(c.created for c in all_counts), max(c.created for c in all_counts)],
        "closed_min_max": [min(c.closed for c in all_counts), max(c.closed for c in all_counts)],
    }
    print(json.dumps(summary), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- the measurement ----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def probe(client: httpx.AsyncClient, every: float, until: float) -> list[float]:
    """``GET /health`` latencies (s), one at a time, every ``every`` seconds."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        began = time.perf_counter()
        response = await client.get("/health")
        latencies.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - began)))
    return latencies


async def answer_loop(client: httpx.AsyncClient, rate: float, until: float) -> int:
    """Answer the oldest pending requests at ``rate`` per second; how many were answered."""
    loop = asyncio.get_running_loop()
    pending = (await client.get("/requests", params={"limit": 1000})).json()["requests"]
    queue = [r["request_id"] for r in reversed(pending)]  # oldest first
    answered = 0
    next_at = loop.time()
    while loop.time() < until and queue:
        request_id = queue.pop(0)
        response = await client.post(f"/requests/{request_id}/response", json={"response": "a"})
        assert response.status_code == 200, response.text
        answered += 1
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    return answered


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.50) * 1000, 2),
        "p99": round(percentile(values, 0.99) * 1000, 2),
        "max": round(max(values) * 1000, 2),
        "n": len(values),
    }


async def phase(
    client: httpx.AsyncClient, url: str, args: argparse.Namespace, pid: int
) -> dict[str, Any]:
    """Answer at ``args.rate`` for ``args.seconds`` while probing ``/health``."""
    loop = asyncio.get_running_loop()
    until = loop.time() + args.seconds
    peak = rss_mib(pid)

    async def sample() -> None:
        nonlocal peak
        while loop.time() < until + 2:
            peak = max(peak, rss_mib(pid))
            await asyncio.sleep(0.1)

    cpu_began = cpu_seconds(pid)
    async with httpx.AsyncClient(base_url=url, timeout=60) as driver:
        sampling = asyncio.ensure_future(sample())
        latencies, answered = await asyncio.gather(
            probe(client, args.probe_every, until), answer_loop(driver, args.rate, until)
        )
        await sampling
    cpu = cpu_seconds(pid) - cpu_began
    return {
        "health": latencies,
        "answered": answered,
        "cpu_percent": round(100 * cpu / (args.seconds + 2), 1),
        "rss_peak": peak,
    }


async def bench(
    args: argparse.Namespace, url: str, server: subprocess.Popen[bytes]
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(600):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        quiet = await probe(client, args.probe_every, loop.time() + 5)  # also the warm-up
        rss_start = rss_mib(server.pid)
        # The same answers without any subscriber: what the engine itself costs.
        alone = await phase(client, url, args, server.pid)
        rss_base = rss_mib(server.pid)

        port = url.rsplit(":", 1)[1]
        subs = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--subscribe",
            port,
            str(args.subscribers),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert subs.stdout is not None and subs.stdin is not None
        connect_began = time.perf_counter()
        line = await asyncio.wait_for(subs.stdout.readline(), 600)
        assert line.strip() == b"ready", line
        connect_s = time.perf_counter() - connect_began
        rss_connected = rss_mib(server.pid)

        watched = await phase(client, url, args, server.pid)
        answered = watched["answered"]
        subs.stdin.write(f"expect {answered}\n".encode())
        await subs.stdin.drain()
        summary = json.loads(await asyncio.wait_for(subs.stdout.readline(), 120))
        await subs.wait()
        rss_after = rss_mib(server.pid)

    peak = max(watched["rss_peak"], rss_connected)
    return {
        "health_ms_idle": ms(quiet),
        "health_ms_answers_no_subscribers": ms(alone["health"]),
        "health_ms": ms(watched["health"]),
        "rss_mib_start": round(rss_start, 1),
        "rss_mib_base": round(rss_base, 1),
        "rss_mib_connected": round(rss_connected, 1),
        "rss_mib_peak": round(peak, 1),
        "rss_mib_end": round(rss_after, 1),
        "rss_growth_mib": round(peak - rss_base, 1),
        "connect_all_s": round(connect_s, 2),
        "answered": answered,
        "inbox_changes_per_s": round(2 * answered / args.seconds, 1),
        "server_cpu_percent_no_subscribers": alone["cpu_percent"],
        "server_cpu_percent": watched["cpu_percent"],
        "delivery": summary,
        "ok": not (summary["missed"] or summary["ended"] or summary["errors"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--pending", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=5.0, help="answers per second")
    parser.add_argument("--probe-every", type=float, default=0.05)
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite (a fresh temp file) or a postgresql:// URL (a fresh schema in it)",
    )
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "STORE"), help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", nargs=2, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    if args.subscribe:
        asyncio.run(subscribers_main(int(args.subscribe[0]), int(args.subscribe[1])))
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        if args.store == "sqlite":
            store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        else:
            sep = "&" if "?" in args.store else "?"
            store = f"{args.store}{sep}schema=wf_bench_inbox_{uuid.uuid4().hex[:8]}"
        began = time.perf_counter()
        asyncio.run(fill_inbox(store, args.pending))
        fill_s = time.perf_counter() - began
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), store])
        try:
            result = asyncio.run(bench(args, f"http://127.0.0.1:{port}", server))
        finally:
            server.terminate()
            server.wait(60)
            if args.store != "sqlite":
                asyncio.run(drop_schema(args.store, store))
    sizes = {
        "subscribers": args.subscribers,
        "pending": args.pending,
        "seconds": args.seconds,
        "rate": args.rate,
        "store": store.split(":", 1)[0],
        "fill_s": round(fill_s, 1),
    }
    print(json.dumps({"workload": "inbox_stream", **sizes, **result}))
    if not result["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
