"""``workflows show``, ``events`` and ``cancel``: one run, on a store or a server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

import click

from ..client import GenericEvent, RemoteHandle, RunInfo, WorkflowClient
from ..engine import Engine
from ..errors import CorruptRecordError, RunNotFoundError
from ..events import Event, StopEvent
from ..stores import RunRecord, RunStore, StreamEntry
from ._follow import request_info
from ._inbox import run_info
from ._loading import RuntimeFailure, load_many
from ._output import EventLine, RunDetails, show_details, show_event_line
from ._tasks import audit_info
from ._where import Where, opened_store, pick, where_options

__all__ = ["cancel_command", "events_command", "remote_info", "show_command", "store_record"]

_PREFIX_SCAN = 1000  # runs looked at to complete an abbreviated run id
_POLL = 0.5  # seconds between looks at a store for new events
_QUIET = 1.0  # seconds without an event after which `events --url` (no --follow) stops


def _complete(run_id: str, candidates: list[str]) -> str:
    """The one run id among ``candidates`` that starts with ``run_id``."""
    matches = [c for c in candidates if c.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise click.BadParameter(
            f"{run_id!r} is the start of {len(matches)} run ids; give more of it",
            param_hint="RUN_ID",
        )
    raise RunNotFoundError(run_id)


async def store_record(db: RunStore, run_id: str) -> RunRecord:
    """The stored run ``run_id`` (or whose id starts with it), as far as it can be read.

    Raises:
        RunNotFoundError: no such run (nor one whose id starts with it).
        click.BadParameter: several recent runs' ids start with it.
    """
    try:
        return await db.get_run(run_id)
    except RunNotFoundError:
        recent = await db.list_runs(limit=_PREFIX_SCAN)
        return await store_record(db, _complete(run_id, [r.run_id for r in recent]))
    except CorruptRecordError as exc:
        if exc.record is None:
            raise
        return exc.record


async def remote_info(client: WorkflowClient, run_id: str) -> RunInfo:
    """The server's run ``run_id`` (or whose id starts with it); raises as
    :func:`store_record`."""
    try:
        return await client.get(run_id).info()
    except RunNotFoundError:
        recent = await client.runs(limit=_PREFIX_SCAN)
        full = _complete(run_id, [r.run_id for r in recent])
        return await client.get(full).info()


# -- show ---------------------------------------------------------------------------------------
async def _details(where: Where, run_id: str) -> RunDetails:
    if where.url is not None:
        async with where.client() as client:
            run = await remote_info(client, run_id)
            requests = await client.inbox(run_id=run.run_id, status="all", limit=1000)
            audits = {r.request_id: await client.audit(r.request_id) for r in requests}
            return RunDetails(run, list(reversed(requests)), None, audits)
    assert where.store is not None
    async with opened_store(where.store) as db:
        record = await store_record(db, run_id)
        stored = await db.list_requests(run_id=record.run_id, status=None, limit=1000)
        entries = await db.read_stream(record.run_id)
        audits = {
            r.request_id: [audit_info(e) for e in await db.request_audit(r.request_id)]
            for r in stored
        }
    requests = [request_info(r) for r in reversed(stored)]
    return RunDetails(run_info(record), requests, len(entries), audits)


@click.command("show")
@click.argument("run_id")
@where_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def show_command(
    run_id: str, store: str | None, url: str | None, token: str | None, as_json: bool
) -> None:
    """Show one run: status, workflow, times, start input, result or error, and its
    input requests with each answer, who gave it and when, who holds or may claim
    each, its priority and due time, and its history (claimed, assigned, answered...).

    RUN_ID may be abbreviated to its first characters when no other recent run shares
    them.

    \b
    Examples:
        workflows show 3f2c9a
        workflows show 3f2c9a --url http://127.0.0.1:8000 --json
    """
    where = pick(store, url, token)
    show_details(asyncio.run(_details(where, run_id)), as_json)


# -- events -------------------------------------------------------------------------------------
def _stored_line(entry: StreamEntry) -> EventLine:
    if entry.corrupt is not None:
        return EventLine(entry.seq, "(damaged)", dict(entry.corrupt), entry.created_at)
    payload = entry.payload
    key = str(payload.get("$event", entry.event_type))
    data = payload.get("data")
    fields = data if isinstance(data, dict) else {"value": data}
    return EventLine(entry.seq, key.rpartition(".")[2], fields, entry.created_at, key)


def _remote_line(seq: int, event: Event) -> EventLine:
    if isinstance(event, GenericEvent):
        name, key = event.event_type, event.event_type_key
    else:
        cls = type(event)
        name, key = cls.__name__, f"{cls.__module__}.{cls.__qualname__}"
    data: dict[str, Any] = event.model_dump(mode="json")
    if isinstance(event, StopEvent) and "result" not in data:
        data = {"result": event.result, **data}
    return EventLine(seq, name, data, None, key)


async def _store_events(store: str, run_id: str, after: int, follow: bool, as_json: bool) -> str:
    async with opened_store(store) as db:
        record = await store_record(db, run_id)
        seq = after
        while True:
            entries = await db.read_stream(record.run_id, after=seq)
            for entry in entries:
                seq = entry.seq
                show_event_line(_stored_line(entry), as_json)
            if not follow:
                return record.status
            if entries:
                continue
            record = await store_record(db, record.run_id)
            if record.is_finished:  # its last commit may have landed after the read
                for entry in await db.read_stream(record.run_id, after=seq):
                    show_event_line(_stored_line(entry), as_json)
                return record.status
            await asyncio.sleep(_POLL)


async def _remote_events(where: Where, run_id: str, after: int, follow: bool, as_json: bool) -> str:
    async with where.client() as client:
        info = await remote_info(client, run_id)
        handle = RemoteHandle(client, info.run_id)
        quiet = None if follow or info.is_finished else _QUIET
        events = cast(AsyncGenerator[Event, None], handle.stream_events(after=after))
        async with aclosing(events) as stream:
            while True:
                try:
                    event = await asyncio.wait_for(stream.__anext__(), quiet)
                except (StopAsyncIteration, asyncio.TimeoutError):
                    break
                show_event_line(_remote_line(handle.last_seq, event), as_json)
        return (await handle.info()).status


@click.command("events")
@click.argument("run_id")
@where_options
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the run ends.")
@click.option(
    "--after", type=click.IntRange(min=0), default=0, help="Only events after this sequence."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def events_command(
    run_id: str,
    store: str | None,
    url: str | None,
    token: str | None,
    follow: bool,
    after: int,
    as_json: bool,
) -> None:
    """Print a run's events, oldest first; with --follow, until the run ends.

    \b
    Examples:
        workflows events 3f2c9a
        workflows events 3f2c9a --follow --url http://127.0.0.1:8000
        workflows events 3f2c9a --json | jq .type
    """
    where = pick(store, url, token)
    if where.url is not None:
        status = asyncio.run(_remote_events(where, run_id, after, follow, as_json))
    else:
        assert where.store is not None
        status = asyncio.run(_store_events(where.store, run_id, after, follow, as_json))
    if follow:
        click.echo(f"run {status}", err=True)


# -- cancel -------------------------------------------------------------------------------------
async def _cancel_remote(where: Where, run_id: str, wait: float) -> tuple[str, str, bool]:
    async with where.client() as client:
        info = await remote_info(client, run_id)
        if info.is_finished:
            return info.run_id, info.status, False
        handle = client.get(info.run_id)
        await handle.cancel_run()
        deadline = time.monotonic() + wait
        while not info.is_finished and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            info = await handle.info()
        return info.run_id, info.status, True


async def _cancel_store(
    store: str, apps: tuple[str, ...], run_id: str, wait: float
) -> tuple[str, str, bool]:
    workflows = load_many(apps) if apps else {}
    async with opened_store(store) as db:
        record = await store_record(db, run_id)
    if record.is_finished:
        return record.run_id, record.status, False
    if apps and record.workflow not in workflows:
        names = ", ".join(sorted(workflows))
        raise click.UsageError(
            f"run {record.run_id} is a run of {record.workflow!r}; --app loaded {names}"
        )
    # Without the workflow this engine only stores the cancel: whoever executes the run
    # (a server or worker on this store, or the next one to open it) takes it in.
    engine = Engine(store, workflows, execute=bool(apps), idle_release_after=None)
    async with engine:
        handle = engine.get(record.run_id)
        if apps:
            await handle.cancel_run(timeout=wait)
        else:
            await engine.cancel(record.run_id)
        record = await handle.record()
    return record.run_id, record.status, True


@click.command("cancel")
@click.argument("run_id")
@where_options
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="MODULE:ATTR",
    help="With --store: load these workflows and end the run here at once (otherwise the "
    "cancel is stored and the run ends in the server or worker that executes it).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the run to end.",
)
def cancel_command(
    run_id: str,
    store: str | None,
    url: str | None,
    token: str | None,
    apps: tuple[str, ...],
    wait: float,
) -> None:
    """Cancel a run; its pending input requests close. A finished run is left as it is.

    \b
    Examples:
        workflows cancel 3f2c9a --url http://127.0.0.1:8000
        workflows cancel 3f2c9a --store sqlite:///workflows.db --app app.py:WORKFLOWS
    """
    where = pick(store, url, token)
    if where.url is not None:
        if apps:
            raise click.UsageError("--app only applies with --store")
        full, status, asked = asyncio.run(_cancel_remote(where, run_id, wait))
    else:
        assert where.store is not None
        full, status, asked = asyncio.run(_cancel_store(where.store, apps, run_id, wait))
    if not asked:
        click.echo(f"run {full} had already finished ({status}); nothing to cancel", err=True)
    elif status == "cancelled":
        click.echo(f"cancelled run {full}", err=True)
    elif status in ("running", "waiting"):
        click.echo(
            f"cancel stored for run {full} (still {status}): it ends when the server or "
            "worker executing it takes the cancel in; with --app MODULE:ATTR it ends here",
            err=True,
        )
    else:
        raise RuntimeFailure(f"run {full} ended {status} before the cancel took effect")
