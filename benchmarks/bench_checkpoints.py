"""Checkpoint history: stored bytes per checkpoint and the commit cost of keeping them.

- ``chain``: 10-step runs whose every step writes a state key and takes 2 ms (so each
  boundary is a commit of its own: the writer folds boundaries that arrive during a
  write into one commit, hence one checkpoint), with ``history="all"``: bytes stored
  per checkpoint (body and meta, as written) next to what a whole copy of each
  checkpoint would take, and how many checkpoints a run keeps.
- ``talk``: one conversation of ``rounds`` questions answered through the inbox, whose
  state grows by two messages a round: the same byte figures.
- ``cost``: ms per step of sequential 10-step runs with ``history="none"`` and ``"all"``
  (blocks alternated, medians; ``commits_per_run``: how many commits the writer made of
  a run's ten steps), on SQLite and, when reachable, PostgreSQL
  (``$WORKFLOWS_BENCH_POSTGRES_URL``, default ``postgresql://127.0.0.1:5432/test``, in
  a fresh schema); ``all_over_none`` is their ratio (target: at most 1.5).

Usage: python benchmarks/bench_checkpoints.py [--size tiny|small|full]
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from _harness import Report, check, main

from workflows import Context, Workflow, step
from workflows.engine import Engine
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent

POSTGRES = os.environ.get("WORKFLOWS_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@dataclass(frozen=True)
class Params:
    chain_runs: int
    rounds: int
    cost_runs: int
    cost_blocks: int


SIZES = {
    "tiny": Params(chain_runs=5, rounds=20, cost_runs=10, cost_blocks=2),
    "small": Params(chain_runs=20, rounds=200, cost_runs=50, cost_blocks=5),
    "full": Params(chain_runs=50, rounds=200, cost_runs=200, cost_blocks=7),
}


class Hop(Event):
    n: int


class Chain(Workflow):
    """Ten steps; each writes one state key (and sleeps ``pause`` seconds)."""

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Hop:
        await ctx.store.set("pause", ev.get("pause", 0.0))
        await ctx.store.set("s0", {"n": 0, "note": "started"})
        return Hop(n=1)

    @step
    async def hop(self, ctx: Context, ev: Hop) -> Hop | StopEvent:
        await ctx.store.set(f"s{ev.n}", {"n": ev.n, "note": f"step {ev.n} done"})
        pause = await ctx.store.get("pause")
        if pause:
            await asyncio.sleep(pause)
        if ev.n >= 9:
            return StopEvent(result=ev.n + 1)
        return Hop(n=ev.n + 1)


class Said(Event):
    turn: int
    text: str


class Talk(Workflow):
    """Asks ``rounds`` questions; each round adds the answer and a reply to the state."""

    @step
    async def open(self, ctx: Context, ev: StartEvent) -> Said:
        await ctx.store.set("rounds", ev.rounds)
        await ctx.store.set("messages", [])
        return Said(turn=0, text="")

    @step
    async def talk(self, ctx: Context, ev: Said) -> Said | StopEvent:
        if ev.turn:
            async with ctx.store.edit_state() as state:
                state["messages"] = [
                    *state["messages"],
                    {"role": "user", "turn": ev.turn, "text": ev.text},
                    {"role": "assistant", "turn": ev.turn, "text": f"noted: {ev.text[:40]}"},
                ]
        if ev.turn == await ctx.store.get("rounds"):
            return StopEvent(result=len(await ctx.store.get("messages")))
        reply = await ctx.wait_for_event(
            HumanResponseEvent, waiter_event=InputRequiredEvent(prefix=f"turn {ev.turn + 1}?")
        )
        return Said(turn=ev.turn + 1, text=reply.response)


WORKFLOWS = {"chain": Chain(timeout=None), "talk": Talk(timeout=None)}


def _stored_sizes(path: Path, run_id: str) -> list[tuple[int, str, int]]:
    """``(seq, kind, bytes of body and meta)`` of each stored checkpoint of the run."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT seq, kind, length(CAST(body AS BLOB)) + length(CAST(meta AS BLOB)) "
            "FROM wf_checkpoints WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
    conn.close()
    return [(int(seq), str(kind), int(size)) for seq, kind, size in rows]


async def _whole_sizes(engine: Engine, run_id: str, seqs: list[int]) -> list[int]:
    """Bytes each checkpoint would take stored whole (its snapshot, compact JSON)."""
    sizes = []
    for seq in seqs:
        snapshot = (await engine.checkpoint(run_id, seq)).snapshot
        sizes.append(len(json.dumps(snapshot, separators=(",", ":")).encode()))
    return sizes


def _report_bytes(
    report: Report, label: str, stored: list[tuple[int, str, int]], whole: list[int]
) -> None:
    deltas = [size for _, kind, size in stored if kind == "delta"]
    report.metrics[f"bytes_per_checkpoint@{label}"] = statistics.fmean(s for *_, s in stored)
    report.metrics[f"whole_bytes_per_checkpoint@{label}"] = statistics.fmean(whole)
    report.metrics[f"delta_bytes@{label}"] = statistics.fmean(deltas) if deltas else 0.0
    report.metrics[f"delta_share@{label}"] = len(deltas) / len(stored)
    report.metrics[f"whole_over_stored@{label}"] = statistics.fmean(whole) / statistics.fmean(
        s for *_, s in stored
    )


async def _bytes(params: Params, report: Report, folder: Path) -> None:
    path = folder / "bytes.db"
    async with Engine(f"sqlite:///{path}", WORKFLOWS, history="all") as engine:
        stored: list[tuple[int, str, int]] = []
        whole: list[int] = []
        for _ in range(params.chain_runs):
            handle = await engine.start("chain", pause=0.002)
            check(await handle == 10, "chain result")
            sizes = _stored_sizes(path, handle.run_id)
            stored += sizes
            whole += await _whole_sizes(engine, handle.run_id, [seq for seq, *_ in sizes])
        report.metrics["checkpoints_per_run@chain"] = len(stored) / params.chain_runs
        _report_bytes(report, "chain", stored, whole)

        handle = await engine.start("talk", rounds=params.rounds)
        for turn in range(params.rounds):
            requests = []
            while not requests:
                requests = await engine.inbox(run_id=handle.run_id)
            text = f"answer number {turn} with a sentence of ordinary length for a chat"
            await engine.respond(requests[0].request_id, text)
        check(await handle == 2 * params.rounds, "talk result")
        sizes = _stored_sizes(path, handle.run_id)
        report.metrics["checkpoints@talk"] = len(sizes)
        whole = await _whole_sizes(engine, handle.run_id, [seq for seq, *_ in sizes])
        _report_bytes(report, "talk", sizes, whole)
        report.metrics["last_whole_bytes@talk"] = whole[-1]


async def _block(engine: Engine, runs: int) -> tuple[float, str]:
    """Ms per step of ``runs`` sequential chain runs, and the last run's id."""
    started = time.perf_counter()
    for _ in range(runs):
        handle = await engine.start("chain")
        check(await handle == 10, "chain result")
    return (time.perf_counter() - started) / (runs * 10) * 1000, handle.run_id


async def _cost(params: Params, report: Report, urls: dict[str, str], label: str) -> None:
    engines = {mode: Engine(url, WORKFLOWS, history=mode) for mode, url in urls.items()}
    for engine in engines.values():
        await engine.open()
    try:
        times: dict[str, list[float]] = {mode: [] for mode in engines}
        for engine in engines.values():  # warm up
            await _block(engine, max(2, params.cost_runs // 10))
        for _ in range(params.cost_blocks):
            for mode, engine in engines.items():
                elapsed, last = await _block(engine, params.cost_runs)
                times[mode].append(elapsed)
        # Every commit of a run with history "all" is a checkpoint: commits per run.
        commits = len(await engines["all"].checkpoints(last))
        report.metrics[f"commits_per_run@{label}"] = commits
    finally:
        for engine in engines.values():
            await engine.close()
    none, kept = statistics.median(times["none"]), statistics.median(times["all"])
    report.metrics[f"ms_per_step@none/{label}"] = none
    report.metrics[f"ms_per_step@all/{label}"] = kept
    report.metrics[f"all_over_none@{label}"] = kept / none


async def _postgres_urls() -> dict[str, str] | None:
    try:
        import asyncpg  # type: ignore[import-untyped]  # noqa: PLC0415

        conn = await asyncpg.connect(POSTGRES, timeout=3)
    except Exception:
        return None
    urls = {}
    sep = "&" if "?" in POSTGRES else "?"
    for mode in ("none", "all"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        await conn.execute(f"CREATE SCHEMA {schema}")
        urls[mode] = f"{POSTGRES}{sep}schema={schema}"
    await conn.close()
    return urls


async def _drop_schemas(urls: dict[str, str]) -> None:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(POSTGRES)
    for url in urls.values():
        await conn.execute(f"DROP SCHEMA {url.rsplit('schema=', 1)[1]} CASCADE")
    await conn.close()


async def bench(params: Params, report: Report) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        await _bytes(params, report, folder)
        sqlite_urls = {mode: f"sqlite:///{folder / mode}.db" for mode in ("none", "all")}
        await _cost(params, report, sqlite_urls, "sqlite")
    urls = await _postgres_urls()
    if urls is None:
        report.dnf["all_over_none@postgres"] = "PostgreSQL not reachable"
        return
    try:
        await _cost(params, report, urls, "postgres")
    finally:
        await _drop_schemas(urls)


if __name__ == "__main__":
    main("checkpoints", SIZES, bench)
