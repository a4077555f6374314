"""Damaging a store's rows behind its back, as a torn write, a hand edit or a buggy
program could: used by the store contract tests and the engine's poison tests.

Every helper takes an open store (``MemoryStore``, ``SqliteStore`` or ``PostgresStore``)
and changes its data without going through it: plain SQL on another connection for the
SQL stores, the stored JSON text for the memory store (which keeps rows as text too).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from workflows.stores import MemoryStore, SqliteStore

TRUNCATED = '{"format_version": 1, "state": {"n": 1'
"""A JSON value cut short."""

_MEMORY_RUN_TEXTS = {"snapshot": 0, "result": 1, "error": 2}
_WHERE = {
    "wf_runs": "run_id = ?",
    "wf_requests": "request_id = ?",
    "wf_inbound": "id = ?",
    "wf_stream": "run_id = ? AND seq = ?",
    "wf_state": "run_id = ? AND key = ?",
    "wf_checkpoints": "run_id = ? AND seq = ?",
}


async def damage(store: Any, table: str, column: str, text: str, key: Any) -> None:
    """Overwrite one stored JSON value with ``text``.

    ``key`` is the run id (``wf_runs``), request id (``wf_requests``), inbound id
    (``wf_inbound``), ``(run_id, seq)`` (``wf_stream``; ``wf_checkpoints``, whose
    ``column`` is ``meta`` or ``body``) or ``(run_id, key)`` (``wf_state``, a state row:
    ``column`` is ``value``). A request's response schema
    is interned in ``wf_schemas``: the request is pointed at a damaged schema row.
    """
    if isinstance(store, MemoryStore):
        if table == "wf_runs":
            run = store._runs[key]
            texts = list(run.texts)
            texts[_MEMORY_RUN_TEXTS[column]] = text
            run.texts = (texts[0], texts[1], texts[2])
        elif table == "wf_requests":
            stored = store._requests[key]
            setattr(stored, {"response_schema": "schema"}.get(column, column), text)
        elif table == "wf_state":
            store._runs[key[0]].state[key[1]] = text
        elif table == "wf_checkpoints":
            rows = store._checkpoints._rows[key[0]]
            rows[:] = [row._replace(**{column: text}) if row.seq == key[1] else row for row in rows]
        elif table == "wf_inbound":
            run = next(r for r in store._runs.values() if key in r.inbound)
            _, request_id, created_at = run.inbound[key]
            run.inbound[key] = (text, request_id, created_at)
        else:
            run = store._runs[key[0]]
            run.stream = [
                (seq, kind, text if seq == key[1] else payload, at)
                for seq, kind, payload, at in run.stream
            ]
        return
    if table == "wf_requests" and column == "response_schema":
        await execute(store, "INSERT INTO wf_schemas (digest, body) VALUES (?, ?)", "bad", text)
        await execute(
            store, "UPDATE wf_requests SET schema_digest = 'bad' WHERE request_id = ?", key
        )
        return
    args = key if isinstance(key, tuple) else (key,)
    await execute(store, f"UPDATE {table} SET {column} = ? WHERE {_WHERE[table]}", text, *args)


async def set_status(store: Any, run_id: str, status: str) -> None:
    """Overwrite a run's stored status (say, ``running`` for a run a crash left so)."""
    if isinstance(store, MemoryStore):
        run = store._runs[run_id]
        run.record = replace(run.record, status=status)  # type: ignore[arg-type]
        return
    await execute(store, "UPDATE wf_runs SET status = ? WHERE run_id = ?", status, run_id)


async def execute(store: Any, sql: str, *args: Any) -> None:
    """Run one statement (``?`` placeholders) that must change exactly one row."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            changed = conn.execute(sql, args).rowcount
        conn.close()
    else:
        import asyncpg

        for n in range(1, len(args) + 1):
            sql = sql.replace("?", f"${n}", 1)
        conn = await asyncpg.connect(store.dsn, server_settings={"search_path": store.schema})
        try:
            status = await conn.execute(sql, *args)
        finally:
            await conn.close()
        changed = int(status.rsplit(" ", 1)[-1])
    assert changed == 1, f"{sql!r} changed {changed} rows"
