"""``workflows runs``, ``inbox`` and ``respond``: on a local store or a server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..client import InputRequestInfo, RunInfo, WorkflowClient
from ..engine import Engine
from ..stores import InputRequest, RunRecord, open_store
from ._follow import finish, follow, request_info, show_waiting
from ._loading import check_store_url, load_many, parse_value
from ._output import show_requests, show_runs

__all__ = ["inbox_command", "respond_command", "runs_command"]

DEFAULT_STORE = "sqlite:///workflows.db"
F = TypeVar("F", bound=Callable[..., Any])


def where_options(func: F) -> F:
    """``--store`` / ``--url`` / ``--token``: where the runs are."""
    func = click.option(
        "--token",
        envvar="WORKFLOWS_TOKEN",
        help="The server's bearer token (with --url). [env: WORKFLOWS_TOKEN]",
    )(func)
    func = click.option(
        "--url",
        envvar="WORKFLOWS_URL",
        metavar="http://HOST:PORT",
        help="Talk to a workflows server instead of a store. [env: WORKFLOWS_URL]",
    )(func)
    return click.option(
        "--store",
        envvar="WORKFLOWS_STORE",
        callback=check_store_url,
        help=f"Store URL to read directly (default {DEFAULT_STORE}). [env: WORKFLOWS_STORE]",
    )(func)


def _pick(store: str | None, url: str | None) -> tuple[str | None, str | None]:
    if store and url:
        raise click.UsageError("give either --store or --url, not both")
    if url:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(
                f"expected an http(s):// URL, got {url!r}", param_hint="'--url'"
            )
        return None, url
    return store or DEFAULT_STORE, None


def _run_info(record: RunRecord) -> RunInfo:
    return RunInfo(
        record.run_id,
        record.workflow,
        record.status,
        record.created_at,
        record.updated_at,
        record.result,
        record.error,
    )


async def _list_runs(
    store: str | None, url: str | None, token: str | None, **filters: Any
) -> list[RunInfo]:
    if url is not None:
        async with WorkflowClient(url, token) as client:
            return await client.runs(**filters)
    db = await open_store(store or DEFAULT_STORE)
    try:
        return [_run_info(r) for r in await db.list_runs(**filters)]
    finally:
        await db.close()


async def _list_requests(
    store: str | None, url: str | None, token: str | None, status: str, **filters: Any
) -> list[InputRequestInfo]:
    if url is not None:
        async with WorkflowClient(url, token) as client:
            return await client.inbox(status=status, **filters)
    db = await open_store(store or DEFAULT_STORE)
    try:
        chosen = None if status == "all" else status
        found = await db.list_requests(status=chosen, **filters)  # type: ignore[arg-type]
        return [request_info(r) for r in found]
    finally:
        await db.close()


_RUN_STATUSES = [
    "running",
    "waiting",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "quarantined",
]


@click.command("runs")
@where_options
@click.option("--status", type=click.Choice(_RUN_STATUSES), help="Only runs with this status.")
@click.option("--workflow", help="Only runs of this workflow.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def runs_command(
    store: str | None,
    url: str | None,
    token: str | None,
    status: str | None,
    workflow: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first, from a store or a server."""
    store, url = _pick(store, url)
    found = asyncio.run(
        _list_runs(store, url, token, status=status, workflow=workflow, limit=limit)
    )
    show_runs(found, as_json)


@click.command("inbox")
@where_options
@click.option("--workflow", help="Only requests of this workflow.")
@click.option("--run-id", help="Only requests of this run.")
@click.option(
    "--status",
    type=click.Choice(["pending", "answered", "expired", "cancelled", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inbox_command(
    store: str | None,
    url: str | None,
    token: str | None,
    workflow: str | None,
    run_id: str | None,
    status: str,
    limit: int,
    as_json: bool,
) -> None:
    """List input requests (pending by default), newest first."""
    store, url = _pick(store, url)
    found = asyncio.run(
        _list_requests(store, url, token, status, workflow=workflow, run_id=run_id, limit=limit)
    )
    show_requests(found, as_json)


async def _respond_remote(
    url: str, token: str | None, request_id: str, fields: dict[str, Any], key: str | None
) -> bool:
    async with WorkflowClient(url, token) as client:
        return await client.respond(request_id, fields, idempotency_key=key)


async def _respond_store(
    store: str, request_id: str, fields: dict[str, Any], key: str | None
) -> bool:
    db = await open_store(store)
    try:
        delivered = await db.answer_request(request_id, fields, idempotency_key=key) is not None
        if not delivered:
            _check_same_answer(await db.get_request(request_id), key, fields)
        return delivered
    finally:
        await db.close()


def _check_same_answer(request: InputRequest, key: str | None, fields: dict[str, Any]) -> None:
    """Refuse a retry that reuses the accepted answer's idempotency key with other fields
    (the store takes the key alone as a repeat), as the server does with a 409."""
    if key is not None and request.idempotency_key == key and request.response != fields:
        raise click.ClickException(
            f"{request.request_id} was already answered with a different response under "
            f"idempotency key {key!r}; repeat the same answer, or use a new key"
        )


async def _respond_and_continue(
    store: str,
    apps: tuple[str, ...],
    request_id: str,
    fields: dict[str, Any],
    key: str | None,
    wait: float,
) -> bool:
    workflows = load_many(apps)
    async with Engine(store, workflows, idle_release_after=None) as engine:
        request = await engine.store.get_request(request_id)
        entries = await engine.store.read_stream(request.run_id)
        after = entries[-1].seq if entries else 0
        delivered = await engine.respond(request_id, fields, idempotency_key=key)
        if not delivered:
            _check_same_answer(await engine.store.get_request(request_id), key, fields)
        _report(request_id, delivered)
        handle = engine.get(request.run_id)
        if (await handle.record()).is_finished and not delivered:
            return delivered
        try:
            pending = await asyncio.wait_for(follow(engine, handle, after=after, answer=None), wait)
        except asyncio.TimeoutError:
            click.echo(
                f"run {handle.run_id} is still going after {wait:g}s; it stays in the store",
                err=True,
            )
            return delivered
        if pending:
            show_waiting(handle.run_id, pending)
        else:
            await finish(handle)
    return delivered


def _report(request_id: str, delivered: bool) -> None:
    if delivered:
        click.echo(f"answered {request_id}", err=True)
    else:
        click.echo(f"{request_id} was already answered with this response", err=True)


@click.command("respond")
@click.argument("request_id")
@click.argument("value")
@where_options
@click.option("--idempotency-key", help="Makes retrying this answer safe.")
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="MODULE:ATTR",
    help="With --store: load these workflows and continue the run here until it ends or "
    "waits again (otherwise the answer is stored and the run continues in the next "
    "engine or server that opens the store).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="With --app: seconds to follow the run before leaving it to the store.",
)
def respond_command(
    request_id: str,
    value: str,
    store: str | None,
    url: str | None,
    token: str | None,
    idempotency_key: str | None,
    apps: tuple[str, ...],
    wait: float,
) -> None:
    """Answer input request REQUEST_ID with VALUE.

    VALUE is JSON if it parses: an object gives the response fields
    (e.g. '{"approved": true}'); anything else is sent as {"response": VALUE}.

    \b
    Examples:
        workflows respond 3f2c...:1 yes
        workflows respond 3f2c...:1 '{"approved": true, "note": "ok"}' --url http://127.0.0.1:8000
    """
    store, url = _pick(store, url)
    parsed = parse_value(value)
    fields = parsed if isinstance(parsed, dict) else {"response": parsed}
    if url is not None:
        if apps:
            raise click.UsageError("--app only applies with --store")
        delivered = asyncio.run(_respond_remote(url, token, request_id, fields, idempotency_key))
        _report(request_id, delivered)
    elif apps:
        asyncio.run(
            _respond_and_continue(
                store or DEFAULT_STORE, apps, request_id, fields, idempotency_key, wait
            )
        )
    else:
        delivered = asyncio.run(
            _respond_store(store or DEFAULT_STORE, request_id, fields, idempotency_key)
        )
        _report(request_id, delivered)
