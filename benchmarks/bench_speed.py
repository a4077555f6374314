"""Durable speed workloads ("Durable speed" issue), in process, on one store kind.

    python benchmarks/bench_speed.py --store sqlite|sqlite-full|postgres [--only a,b]

Runs against whatever ``workflows`` is importable, so the same script measures an
older checkout too (``PYTHONPATH=/path/to/checkout/src``): where ``Engine.respond_many``
is missing, answers go one ``respond()`` at a time. Workloads (metric names):

- ``kill9``: a process pauses 100 runs and is killed with SIGKILL; a new engine opens
  the store, answers all 100 and awaits every result (``kill9_100_s``).
- ``answer2000``: 2,000 runs paused and released; a NEW process opens the store,
  answers every request and awaits every result (``answer_2000_new_process_s``).
- ``hitl``: one run asking 300 questions; ``respond()`` until the next prompt is seen
  on ``handle.stream_events()`` (``hitl_p50_ms`` / ``hitl_p99_ms``).
- ``state``: a 20-step chain whose steps each change ONE key of a state of K keys
  (K = 10, 1,000, 5,000): wall ms per step (``step_ms@K``) and the cost of one
  boundary's snapshot + store commit alone (``commit_ms@K``: as the engine builds it,
  the changed keys only where the checkout keeps state rows); ``to_dict`` of a state
  of 1,000 dict values (``to_dict_1000_dicts_ms``).
- ``handoff``: 4,000 store calls that do almost nothing, one at a time and 16 at once:
  wall and CPU µs per call (``call_us@1``, ``call_cpu_us@16``...); on SQLite the
  hand-off to the store's thread and back.

Prints one JSON line. Each figure is the median of ``--repeat`` measurements (default
3) in this process; CPU seconds of this process are reported next to wall time where
the workload runs in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

POSTGRES = os.environ.get("WORKFLOWS_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
HERE = Path(__file__).resolve().parent


class Approval(Workflow):
    @step
    async def ask(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent:
        await ctx.store.set("who", ev.get("who", "?"))
        return InputRequiredEvent(prefix="approve?")

    @step
    async def decide(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result=f"{await ctx.store.get('who')}:{ev.response}")


class Chat(Workflow):
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


class Tick(Event):
    i: int


class Keys(Workflow):
    """Fills K keys, then 20 steps each change one key."""

    @step
    async def fill(self, ctx: Context, ev: StartEvent) -> Tick:
        async with ctx.store.edit_state() as state:
            for k in range(ev.n_keys):
                state[f"k{k}"] = k
        return Tick(i=0)

    @step
    async def tick(self, ctx: Context, ev: Tick) -> Tick | StopEvent:
        await ctx.store.set(f"k{ev.i}", -ev.i)
        if ev.i >= 19:
            return StopEvent(result=ev.i)
        return Tick(i=ev.i + 1)


WORKFLOWS = {
    "approval": Approval(timeout=None),
    "chat": Chat(timeout=None),
    "keys": Keys(timeout=None),
}


async def answer_all(engine: Engine, requests: list[Any]) -> None:
    if hasattr(engine, "respond_many"):
        outcomes = await engine.respond_many([(r.request_id, "yes") for r in requests])
        assert all(o is True for o in outcomes), outcomes[:3]
    else:
        for request in requests:
            await engine.respond(request.request_id, "yes")


async def store_url(kind: str, workdir: Path, name: str) -> str:
    if kind == "postgres":
        import asyncpg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(POSTGRES)
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.close()
        return f"{POSTGRES}?schema={schema}"
    url = f"sqlite:///{workdir / (name + '.db')}"
    return url + ("?synchronous=FULL" if kind == "sqlite-full" else "")


async def drop(url: str) -> None:
    if url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(POSTGRES)
        await conn.execute(f"DROP SCHEMA {url.rsplit('schema=', 1)[1]} CASCADE")
        await conn.close()


CHILD = """
import asyncio, sys, time
sys.path.insert(0, {here!r})
from bench_speed import WORKFLOWS, answer_all
from workflows.engine import Engine

async def pause():
    async with Engine({url!r}, WORKFLOWS, idle_release_after={release}) as engine:
        for i in range({n}):
            await engine.start("approval", who=f"u{{i}}")
        while len(await engine.inbox(limit={n} + 1)) < {n}:
            await asyncio.sleep(0.01)
        print("paused", flush=True)
        if {wait}:
            await asyncio.Event().wait()  # until killed

async def answer():
    started = time.perf_counter(); cpu = time.process_time()
    async with Engine({url!r}, WORKFLOWS, idle_release_after=0) as engine:
        requests = await engine.inbox(limit=1_000_000)
        assert len(requests) == {n}, len(requests)
        await answer_all(engine, requests)
        results = [await engine.get(r.run_id) for r in requests]
    assert all(r.endswith(":yes") for r in results)
    print(time.perf_counter() - started, time.process_time() - cpu)

asyncio.run({main}())
"""


def child(url: str, n: int, main: str, *, release: str = "None", wait: bool = False) -> str:
    return CHILD.format(here=str(HERE), url=url, n=n, main=main, release=release, wait=wait)


async def kill9(kind: str, workdir: Path, out: dict[str, Any], repeat: int) -> None:
    times = []
    for r in range(repeat):
        url = await store_url(kind, workdir, f"kill9-{r}")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", child(url, 100, "pause", wait=True), stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"paused", line
        proc.kill()
        await proc.wait()
        started = time.perf_counter()
        async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
            requests = await engine.inbox(limit=1000)
            assert len(requests) == 100
            await answer_all(engine, requests)
            results = [await engine.get(request.run_id) for request in requests]
        times.append(time.perf_counter() - started)
        assert all(x.endswith(":yes") for x in results)
        await drop(url)
    out["kill9_100_s"] = statistics.median(times)


async def answer2000(kind: str, workdir: Path, out: dict[str, Any], repeat: int) -> None:
    walls, cpus = [], []
    for r in range(repeat):
        url = await store_url(kind, workdir, f"answer-{r}")
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", child(url, 2000, "pause", release="0")],
            capture_output=True,
            text=True,
            check=True,
        )
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", child(url, 2000, "answer")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        wall, cpu = map(float, done.stdout.split())
        walls.append(wall)
        cpus.append(cpu)
        await drop(url)
    out["answer_2000_new_process_s"] = statistics.median(walls)
    out["answer_2000_new_process_cpu_s"] = statistics.median(cpus)


async def hitl(kind: str, workdir: Path, out: dict[str, Any], repeat: int) -> None:
    url = await store_url(kind, workdir, "hitl")
    turns = 300
    p50s, p99s = [], []
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        for _ in range(repeat):
            handle = await engine.start("chat", turns=turns)
            latencies: list[float] = []
            sent: float | None = None
            async for event in handle.stream_events():
                if sent is not None:
                    latencies.append(time.perf_counter() - sent)
                    sent = None
                if isinstance(event, StopEvent):
                    break
                if isinstance(event, InputRequiredEvent):
                    request_id = f"{handle.run_id}:{handle.last_seq}"
                    sent = time.perf_counter()
                    await engine.respond(request_id, "a")
            assert len(latencies) == turns, len(latencies)
            latencies.sort()
            p50s.append(latencies[len(latencies) // 2])
            p99s.append(latencies[int(len(latencies) * 0.99)])
    await drop(url)
    out["hitl_p50_ms"] = statistics.median(p50s) * 1000
    out["hitl_p99_ms"] = statistics.median(p99s) * 1000


async def state(kind: str, workdir: Path, out: dict[str, Any], repeat: int) -> None:
    from workflows._snapshot import snapshot_to_dict
    from workflows.stores import Commit, RunRecord

    try:
        from workflows.engine._state_commit import snapshot_for_commit
    except ImportError:  # before state rows: every commit writes the whole state
        snapshot_for_commit = None

    url = await store_url(kind, workdir, "state")
    async with Engine(url, WORKFLOWS, idle_release_after=None) as engine:
        for keys in (10, 1000, 5000):
            await engine.start("keys", n_keys=keys)  # warm-up
            per_step = []
            for _ in range(repeat):
                started = time.perf_counter()
                for _ in range(5):
                    assert await (await engine.start("keys", n_keys=keys)) == 19
                per_step.append((time.perf_counter() - started) / (5 * 21))
            out[f"step_ms@{keys}"] = statistics.median(per_step) * 1000
            # One boundary alone: snapshot of a K-key context, then one store commit.
            ctx: Context[Any] = Context(WORKFLOWS["keys"])
            async with ctx.store.edit_state() as st:
                for k in range(keys):
                    st[f"k{k}"] = k
            run_id = uuid.uuid4().hex
            serializer = engine.serializer
            snapshot = snapshot_to_dict(ctx, serializer, "keys")
            await engine.store.create_run(RunRecord.new(run_id, "keys", snapshot))
            samples = []
            for version in range(30):
                began = time.perf_counter()
                await ctx.store.set(f"k{version % keys}", -version)
                if snapshot_for_commit is None:  # an older checkout: the whole state
                    snapshot = snapshot_to_dict(ctx, serializer, "keys")
                    commit = Commit(run_id, version, snapshot, "running")
                else:  # the changed keys (the first commit writes them all)
                    snapshot, changes = snapshot_for_commit(
                        ctx, serializer, "keys", rows_stored=version > 0
                    )
                    ctx._store._changes.taken()
                    commit = Commit(run_id, version, snapshot, "running", state=changes)
                await engine.store.commit(commit)
                samples.append(time.perf_counter() - began)
            out[f"commit_ms@{keys}"] = statistics.median(samples) * 1000
    ctx = Context(WORKFLOWS["keys"])
    async with ctx.store.edit_state() as st:
        for k in range(1000):
            st[f"k{k}"] = {"id": k, "name": f"n{k}", "tags": ["a", "b"]}
    samples = []
    for _ in range(20):
        began = time.perf_counter()
        ctx.to_dict()
        samples.append(time.perf_counter() - began)
    out["to_dict_1000_dicts_ms"] = statistics.median(samples) * 1000
    await drop(url)


async def handoff(kind: str, workdir: Path, out: dict[str, Any], repeat: int) -> None:
    """The cost of one store call that does almost nothing (``list_runs(limit=1)`` on an
    empty store): on SQLite, the hand-off to the store's thread and back."""
    from workflows.stores import open_store

    url = await store_url(kind, workdir, "handoff")
    calls = 4000
    store = await open_store(url)
    try:
        for concurrency in (1, 16):
            walls, cpus = [], []
            for _ in range(repeat):

                async def caller() -> None:
                    for _ in range(calls // concurrency):
                        await store.list_runs(limit=1)

                began, cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(*(caller() for _ in range(concurrency)))
                walls.append((time.perf_counter() - began) / calls)
                cpus.append((time.process_time() - cpu) / calls)
            out[f"call_us@{concurrency}"] = statistics.median(walls) * 1e6
            out[f"call_cpu_us@{concurrency}"] = statistics.median(cpus) * 1e6
    finally:
        await store.close()
    await drop(url)


WORKLOADS = {
    "kill9": kill9,
    "answer2000": answer2000,
    "hitl": hitl,
    "state": state,
    "handoff": handoff,
}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "sqlite-full", "postgres"], default="sqlite")
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, Any] = {"store": args.store, "has_respond_many": hasattr(Engine, "respond_many")}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            await WORKLOADS[name](args.store, Path(tmp), out, args.repeat)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    asyncio.run(main())
