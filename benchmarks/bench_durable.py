"""Durable engine workloads (this project only: the reference has no durable engine).

Measured on SQLite (a file in a temp dir) and, when reachable, PostgreSQL
(``$WORKFLOWS_BENCH_POSTGRES_URL``, default ``postgresql://127.0.0.1:5432/test``, in a
fresh schema):

- ``chain``: sequential 10-step runs; ms per committed step and runs/s. A run counts
  when ``await handle`` returns, which is after its final commit.
- ``pause`` (SQLite): start N runs that pause for input, close the engine; a NEW process
  opens the store, answers every request from the inbox and awaits every result.
- ``bytes``: stored bytes per paused run (SQLite file growth / N).
- ``memory``: traced memory per paused run held in memory, and after idle release.
- ``inbox``: time to list N pending input requests.
- ``recovery``: N runs interrupted mid-step (the engine closed while their step ran);
  time for a new engine to resume and finish all of them.
- ``kill9``: a process pauses 100 runs and is killed with SIGKILL; time for a new
  process's engine to open the store, answer all 100 and see every result.

Usage: python benchmarks/bench_durable.py [--size tiny|small|full]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _harness import Report, check, main, traced_memory

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

POSTGRES = os.environ.get("WORKFLOWS_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@dataclass
class Sizes:
    chain_runs: int
    paused: int
    inbox: int
    recovery: int


SIZES = {
    "tiny": Sizes(chain_runs=10, paused=20, inbox=50, recovery=10),
    "small": Sizes(chain_runs=100, paused=300, inbox=1_000, recovery=100),
    "full": Sizes(chain_runs=300, paused=2_000, inbox=10_000, recovery=1_000),
}


class Hop(Event):
    n: int


class Chain(Workflow):
    @step
    async def begin(self, ev: StartEvent) -> Hop:
        return Hop(n=1)

    @step
    async def hop(self, ev: Hop) -> Hop | StopEvent:
        if ev.n >= 9:
            return StopEvent(result=ev.n + 1)
        return Hop(n=ev.n + 1)


class Approval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("who", ev.get("who", "?"))
        return InputRequiredEvent(prefix="approve?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"{await ctx.store.get('who')}:{ev.response}")


_release = asyncio.Event()


class Slow(Workflow):
    """Its step blocks until ``_release`` is set: closing the engine interrupts it."""

    @step
    async def work(self, ev: StartEvent) -> StopEvent:
        await _release.wait()
        return StopEvent(result=ev.get("i"))


WORKFLOWS = {
    "chain": Chain(timeout=None),
    "approval": Approval(timeout=None),
    "slow": Slow(timeout=None),
}


async def _chain(url: str, runs: int, report: Report, label: str) -> None:
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        handle = await engine.start("chain")
        check(await handle == 10, "chain warm-up result")
        started = time.perf_counter()
        for _ in range(runs):
            handle = await engine.start("chain")
            check(await handle == 10, "chain result")
        elapsed = time.perf_counter() - started
    report.metrics[f"ms_per_committed_step@{label}"] = elapsed / (runs * 10) * 1000
    report.metrics[f"chain_runs_per_s@{label}"] = runs / elapsed


async def _postgres_url() -> str | None:
    try:
        import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415

        conn = await asyncpg.connect(POSTGRES, timeout=3)
    except Exception:
        return None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.close()
    sep = "&" if "?" in POSTGRES else "?"
    return f"{POSTGRES}{sep}schema={schema}"


async def _drop_schema(url: str) -> None:
    import asyncpg  # noqa: PLC0415

    schema = url.rsplit("schema=", 1)[1]
    conn = await asyncpg.connect(POSTGRES)
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()


ANSWER_ALL = """
import asyncio, sys, time
sys.path.insert(0, {bench!r})
from bench_durable import WORKFLOWS
from workflows.engine import Engine

async def main():
    started = time.perf_counter()
    async with Engine({url!r}, WORKFLOWS, idle_release_after=0) as engine:
        requests = await engine.inbox(limit=1_000_000)
        handles = []
        for request in requests:
            await engine.respond(request.request_id, "yes")
            handles.append(engine.get(request.run_id))
        results = [await h for h in handles]
    assert len(results) == {n} and all(r.endswith(":yes") for r in results), results[:3]
    print(time.perf_counter() - started)

asyncio.run(main())
"""


async def _pause_then_answer_elsewhere(workdir: Path, n: int, report: Report) -> None:
    db = workdir / "pause.db"
    url = f"sqlite:///{db}"
    started = time.perf_counter()
    async with Engine(url, WORKFLOWS, idle_release_after=0) as engine:
        for i in range(n):
            await engine.start("approval", who=f"u{i}")
        for _ in range(1000):
            if len(await engine.inbox(limit=n + 1)) == n:
                break
            await asyncio.sleep(0.01)
    report.metrics["pause_all_s@sqlite"] = time.perf_counter() - started
    report.metrics["stored_bytes_per_paused_run@sqlite"] = db.stat().st_size / n
    script = ANSWER_ALL.format(bench=str(Path(__file__).parent), url=url, n=n)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    check(done.returncode == 0, f"answering process failed: {done.stderr[-2000:]}")
    report.metrics["answer_all_in_new_process_s@sqlite"] = float(done.stdout.strip())


async def _memory(workdir: Path, n: int, report: Report) -> None:
    # SQLite, not memory://: a memory store would count the stored runs as memory.
    for label, release in (("held", None), ("released", 0.0)):
        url = f"sqlite:///{workdir / f'memory-{label}.db'}"
        async with Engine(url, WORKFLOWS, idle_release_after=release) as engine:
            with traced_memory() as probe:
                for i in range(n):
                    await engine.start("approval", who=f"u{i}")
                await engine._writer.flush()
                await asyncio.sleep(0.05)  # let the idle timers (0 s) fire
                per_run = probe.current() / n
            check(len(await engine.inbox(limit=n + 1)) == n, "every run paused")
        report.metrics[f"memory_per_paused_run_kib@{label}"] = per_run / 1024


async def _inbox(n: int, report: Report) -> None:
    async with Engine("memory://", WORKFLOWS, idle_release_after=0) as engine:
        for i in range(n):
            await engine.start("approval", who=f"u{i}")
        await engine._writer.flush()
        started = time.perf_counter()
        listed = await engine.inbox(limit=n + 1)
        report.metrics["list_pending_requests_ms"] = (time.perf_counter() - started) * 1000
        check(len(listed) == n, f"listed {len(listed)} of {n}")


async def _recovery(workdir: Path, n: int, report: Report) -> None:
    url = f"sqlite:///{workdir / 'recovery.db'}"
    _release.clear()
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        for i in range(n):
            await engine.start("slow", i=i)
        await engine._writer.flush()
    _release.set()
    started = time.perf_counter()
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        results = [await engine.get(record.run_id) for record in await engine.runs(limit=n + 1)]
        elapsed = time.perf_counter() - started
    check(sorted(results) == list(range(n)), "every interrupted run finished")
    report.metrics["recover_interrupted_runs_s@sqlite"] = elapsed


PAUSE_AND_WAIT = """
import asyncio, sys
sys.path.insert(0, {bench!r})
from bench_durable import WORKFLOWS
from workflows.engine import Engine

async def main():
    async with Engine({url!r}, WORKFLOWS, idle_release_after=None) as engine:
        for i in range({n}):
            await engine.start("approval", who=f"k{{i}}")
        while len(await engine.inbox(limit={n} + 1)) < {n}:
            await asyncio.sleep(0.01)
        print("paused", flush=True)
        await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


async def _kill9_then_answer(workdir: Path, n: int, report: Report) -> None:
    url = f"sqlite:///{workdir / 'kill9.db'}"
    script = PAUSE_AND_WAIT.format(bench=str(Path(__file__).parent), url=url, n=n)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 120)
    check(line.strip() == b"paused", f"pausing process said {line!r}")
    child.kill()  # SIGKILL: no shutdown, nothing flushed by us
    await child.wait()
    started = time.perf_counter()
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        requests = await engine.inbox(limit=n + 1)
        check(len(requests) == n, f"{len(requests)} of {n} requests survived the kill")
        for request in requests:
            await engine.respond(request.request_id, "yes")
        results = [await engine.get(request.run_id) for request in requests]
    elapsed = time.perf_counter() - started
    check(all(r.endswith(":yes") for r in results), "every run finished with its answer")
    report.metrics["kill9_100_paused_answer_all_s@sqlite"] = elapsed


async def body(sizes: Sizes, report: Report) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await _chain(f"sqlite:///{workdir / 'chain.db'}", sizes.chain_runs, report, "sqlite")
        pg = await _postgres_url()
        if pg is None:
            report.dnf["ms_per_committed_step@postgres"] = "PostgreSQL not reachable"
        else:
            try:
                await _chain(pg, sizes.chain_runs, report, "postgres")
            finally:
                await _drop_schema(pg)
        await _pause_then_answer_elsewhere(workdir, sizes.paused, report)
        await _memory(workdir, sizes.paused, report)
        await _inbox(sizes.inbox, report)
        await _recovery(workdir, sizes.recovery, report)
        await _kill9_then_answer(workdir, 100, report)


if __name__ == "__main__":
    main("durable", SIZES, body)
