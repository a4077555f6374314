"""Inbox listing at scale: one user's page of 100,000 open requests, p50/p99.

The store is filled through its own API (``commit_many``: each run commits its
requests): ``--requests`` pending requests spread over ``--runs`` runs, with the mix a
team inbox has: most for a candidate group (one of ``--groups``), some assigned to one
user, some open to all, priorities 0..3, two in three with a due date. The timed user
belongs to two groups; each query asks for one page (50) of what that user may see
(``RequestQuery.viewer``), in each sort order, first pages and pages deep into the list
(by keyset cursor), plus the "My tasks" filter (``assignee``), and a user of no group,
who sees only the requests open to all (``outsider``; one in ten here).

    python benchmarks/bench_inbox.py                          # SQLite and PostgreSQL
    python benchmarks/bench_inbox.py --requests 10000 --no-postgres
    WORKFLOWS_TEST_POSTGRES_URL=postgresql://user@host/db python benchmarks/bench_inbox.py

Prints one JSON line per store: fill time, and p50/p99 in ms per query kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from workflows.stores import (
    Commit,
    InputRequest,
    RequestQuery,
    RunRecord,
    RunStore,
    Viewer,
    open_store,
)

POSTGRES_URL = os.environ.get("WORKFLOWS_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
USERS = [f"user{i}" for i in range(200)]
PAGE = 50


def _request(
    run_id: str, n: int, groups: list[str], rng: random.Random, now: float
) -> InputRequest:
    kind = rng.random()
    fields: dict[str, Any] = {"priority": rng.randrange(4)}
    if kind < 0.75:
        fields["candidate_groups"] = [rng.choice(groups)]
    elif kind < 0.9:
        fields["assignee"] = rng.choice(USERS)
    if rng.random() < 2 / 3:
        fields["due"] = now + rng.uniform(-86400, 7 * 86400)
    return InputRequest.new(
        f"{run_id}:{n}",
        run_id,
        "expense",
        "workflows.events.InputRequiredEvent",
        {"prefix": f"Approve expense #{n}?"},
        now=now - rng.uniform(0, 30 * 86400),
        **fields,
    )


async def fill(store: RunStore, requests: int, runs: int, groups: int) -> float:
    """Create ``runs`` waiting runs holding ``requests`` pending requests; return seconds."""
    rng = random.Random(7)
    group_names = [f"group{i}" for i in range(groups)]
    now = time.time()
    per_run = max(1, requests // runs)
    started = time.perf_counter()
    batch: list[Commit] = []
    made = 0
    while made < requests:
        run_id = uuid.uuid4().hex
        await store.create_run(RunRecord.new(run_id, "expense", {}, status="running"))
        count = min(per_run, requests - made)
        new = [_request(run_id, n, group_names, rng, now) for n in range(count)]
        batch.append(Commit(run_id, 0, {}, "waiting", new_requests=new))
        made += count
        if len(batch) >= 20:
            await store.commit_many(batch)
            batch = []
    if batch:
        await store.commit_many(batch)
    return time.perf_counter() - started


async def timed(store: RunStore, query: RequestQuery, repeat: int) -> tuple[list[float], int]:
    """Milliseconds of ``repeat`` runs of ``query``, and the size of its page."""
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        page = await store.query_requests(query)
        times.append((time.perf_counter() - started) * 1000)
        size = len(page.requests)
    return times, size


async def deep_cursor(store: RunStore, query: RequestQuery, pages: int) -> str | None:
    """The cursor ``pages`` pages into ``query``'s list."""
    cursor = None
    for _ in range(pages):
        page = await store.query_requests(RequestQuery(**{**_fields(query), "after": cursor}))
        cursor = page.next_cursor
        if cursor is None:
            break
    return cursor


def _fields(query: RequestQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in query.__dataclass_fields__}


async def measure(url: str, args: argparse.Namespace, schema: str | None = None) -> dict[str, Any]:
    """Fill a fresh store at ``url`` and time the listing queries."""
    store = await open_store(url)
    try:
        fill_s = await fill(store, args.requests, args.runs, args.groups)
        if schema is not None:
            # Autovacuum analyzes a table within a minute of such a load; until then the
            # planner takes the 100,000 new rows for a few hundred and picks a plan
            # for a few hundred (about 100 ms here instead of 1).
            await _analyze(schema)
        viewer = Viewer("user7", frozenset({"group1", "group2"}))
        result: dict[str, Any] = {"requests": args.requests, "fill_s": round(fill_s, 1)}
        kinds: dict[str, RequestQuery] = {
            "visible_created": RequestQuery(viewer=viewer, limit=PAGE),
            "visible_due": RequestQuery(viewer=viewer, sort="due", limit=PAGE),
            "visible_priority": RequestQuery(viewer=viewer, sort="priority", limit=PAGE),
            "mine": RequestQuery(viewer=viewer, assignee="user7", limit=PAGE),
            "my_groups_due": RequestQuery(
                viewer=viewer, groups=frozenset({"group1", "group2"}), sort="due", limit=PAGE
            ),
            # A user of no group sees only the requests open to all.
            "outsider": RequestQuery(viewer=Viewer("outsider", frozenset({"none"})), limit=PAGE),
        }
        for name, query in kinds.items():
            times, size = await timed(store, query, args.repeat)
            result[f"{name}_p50_ms"] = round(statistics.median(times), 2)
            result[f"{name}_p99_ms"] = round(statistics.quantiles(times, n=100)[98], 2)
            result[f"{name}_page"] = size
            cursor = await deep_cursor(store, query, 20)
            if cursor is not None:
                deep = RequestQuery(**{**_fields(query), "after": cursor})
                times, _ = await timed(store, deep, args.repeat)
                result[f"{name}_page20_p50_ms"] = round(statistics.median(times), 2)
                result[f"{name}_page20_p99_ms"] = round(statistics.quantiles(times, n=100)[98], 2)
    finally:
        await store.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'inbox.db'}"
            print(json.dumps({"store": "sqlite", **await measure(url, args)}), flush=True)
    if not args.no_postgres:
        schema = f"bench_inbox_{uuid.uuid4().hex[:8]}"
        sep = "&" if "?" in POSTGRES_URL else "?"
        try:
            result = await measure(f"{POSTGRES_URL}{sep}schema={schema}", args, schema)
            print(json.dumps({"store": "postgres", **result}), flush=True)
        finally:
            await _drop_schema(schema)


async def _analyze(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'ANALYZE "{schema}".wf_requests')
    finally:
        await conn.close()


async def _drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
