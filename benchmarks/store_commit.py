"""Commits per second of the run stores, and stored bytes per paused run.

A commit here is what one step boundary of a small run writes: a ~600-byte snapshot and
one stream entry. Run from the repository root:

    python benchmarks/store_commit.py                 # SQLite (NORMAL, FULL) and Postgres
    python benchmarks/store_commit.py --n 5000 --no-postgres
    WORKFLOWS_TEST_POSTGRES_URL=postgresql://user@host/db python benchmarks/store_commit.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from workflows.stores import Commit, InputRequest, RunRecord, RunStore, SqliteStore

POSTGRES_URL = os.environ.get("WORKFLOWS_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")

# Shaped like a context snapshot of a small run (see workflows/_snapshot.py).
SNAPSHOT: dict[str, Any] = {
    "format_version": 1,
    "serializer": "json",
    "workflow": "approval",
    "run_id": "0" * 32,
    "started": True,
    "stop_event": None,
    "state": {"user": "ann", "amount": 120, "notes": ["first"]},
    "queues": {"review": [{"event": {"__type": "Draft", "text": "x" * 80}, "lineage": 0}]},
    "in_flight": [],
    "waiters": [],
    "collect": {},
    "stream_seq": 3,
    "next_invocation_id": 4,
    "pending_prompts": 0,
}
PAUSED_SNAPSHOT = {
    **SNAPSHOT,
    "queues": {},
    "waiters": [
        {
            "key": "3:0",
            "invocation_id": 3,
            "event_type": "ApprovalResponse",
            "requirements": {},
            "waiter_id": "approve",
            "waiter_event": {"__type": "ApprovalRequired", "prefix": "Approve 120?"},
            "emitted": True,
            "resolved": None,
            "deadline": None,
        }
    ],
    "pending_prompts": 1,
}
RESPONSE_SCHEMA = {
    "properties": {
        "approved": {"title": "Approved", "type": "boolean"},
        "comment": {"default": "", "title": "Comment", "type": "string"},
    },
    "required": ["approved"],
    "title": "ApprovalResponse",
    "type": "object",
}


async def sequential_commits(store: RunStore, n: int) -> float:
    """Seconds per commit, one run committing ``n`` steps back to back."""
    run_id = uuid.uuid4().hex
    await store.create_run(RunRecord.new(run_id, "approval", SNAPSHOT))
    started = time.perf_counter()
    for i in range(n):
        await store.commit(
            Commit(run_id, i, SNAPSHOT, "running", stream=[(i + 1, "Progress", {"step": i})])
        )
    return (time.perf_counter() - started) / n


async def concurrent_commits(store: RunStore, n: int, runs: int) -> float:
    """Commits per second with ``runs`` runs committing concurrently."""
    ids = [uuid.uuid4().hex for _ in range(runs)]
    for run_id in ids:
        await store.create_run(RunRecord.new(run_id, "approval", SNAPSHOT))

    async def drive(run_id: str) -> None:
        for i in range(n // runs):
            await store.commit(
                Commit(run_id, i, SNAPSHOT, "running", stream=[(i + 1, "Progress", {"i": i})])
            )

    started = time.perf_counter()
    await asyncio.gather(*(drive(run_id) for run_id in ids))
    return (n // runs) * runs / (time.perf_counter() - started)


async def pause_runs(store: RunStore, count: int) -> None:
    """Create ``count`` runs, each paused on one input request, as the engine would."""
    for _ in range(count):
        run_id = uuid.uuid4().hex
        snapshot = {**PAUSED_SNAPSHOT, "run_id": run_id}
        await store.create_run(RunRecord.new(run_id, "approval", snapshot))
        request = InputRequest.new(
            uuid.uuid4().hex,
            run_id,
            "approval",
            "ApprovalRequired",
            {"prefix": "Approve 120?"},
            RESPONSE_SCHEMA,
        )
        await store.commit(
            Commit(
                run_id,
                0,
                snapshot,
                "waiting",
                stream=[
                    (1, "Draft", {"text": "x" * 80}),
                    (2, "ApprovalRequired", {"prefix": "Approve 120?"}),
                ],
                new_requests=[request],
            )
        )


def sqlite_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def bench_sqlite(n: int, synchronous: str, folder: Path) -> None:
    path = folder / f"bench-{synchronous}.db"
    async with SqliteStore(path, synchronous=synchronous) as store:  # type: ignore[arg-type]
        await sequential_commits(store, min(n, 200))  # warm up
        per = statistics.median([await sequential_commits(store, n) for _ in range(3)])
        rate = await concurrent_commits(store, n, 16)
    print(
        f"sqlite synchronous={synchronous:<6}  sequential: {1 / per:8.0f} commits/s "
        f"({per * 1e6:6.0f} us/commit)   16 concurrent runs: {rate:8.0f} commits/s"
    )


async def bench_sqlite_bytes(count: int, folder: Path) -> None:
    path = folder / "paused.db"
    async with SqliteStore(path):
        pass
    empty = sqlite_size(path)
    async with SqliteStore(path) as store:
        await pause_runs(store, count)
    total = sqlite_size(path) - empty
    print(f"sqlite  stored bytes per paused run ({count} runs): {total / count:6.0f}")


async def bench_postgres(n: int, count: int) -> None:
    try:
        import asyncpg
    except ImportError:
        print("postgres: skipped (asyncpg missing)")
        return
    from workflows.stores import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with PostgresStore(POSTGRES_URL, schema=schema, max_size=16) as store:
            await sequential_commits(store, min(n, 200))
            per = statistics.median([await sequential_commits(store, n) for _ in range(3)])
            rate = await concurrent_commits(store, n, 16)
            print(
                f"postgres                  sequential: {1 / per:8.0f} commits/s "
                f"({per * 1e6:6.0f} us/commit)   16 concurrent runs: {rate:8.0f} commits/s"
            )
        bytes_schema = f"{schema}_b"
        async with PostgresStore(POSTGRES_URL, schema=bytes_schema) as store:
            conn = await asyncpg.connect(POSTGRES_URL)
            size_sql = (
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r'"
            )
            empty = await conn.fetchval(size_sql, bytes_schema)
            await pause_runs(store, count)
            await conn.execute(f'VACUUM "{bytes_schema}".wf_runs')
            total = await conn.fetchval(size_sql, bytes_schema) - empty
            await conn.close()
        print(f"postgres stored bytes per paused run ({count} runs): {total / count:6.0f}")
    except OSError as exc:
        print(f"postgres: skipped ({exc})")
    finally:
        conn = await asyncpg.connect(POSTGRES_URL)
        for name in (schema, f"{schema}_b"):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="commits per measurement")
    parser.add_argument("--paused", type=int, default=2000, help="paused runs for the size")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for level in ("NORMAL", "FULL"):
            await bench_sqlite(args.n if level == "NORMAL" else args.n // 4, level, folder)
        await bench_sqlite_bytes(args.paused, folder)
    if not args.no_postgres:
        await bench_postgres(args.n, args.paused)


if __name__ == "__main__":
    asyncio.run(main())
